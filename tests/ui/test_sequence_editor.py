"""Sequence editor: live validation naming record and position, record selector."""
from app.ui.sequence_editor import SequenceEditor


def make(qtbot):
    e = SequenceEditor()
    qtbot.addWidget(e)
    return e


def test_bare_sequence_is_one_record(qtbot):
    e = make(qtbot)
    with qtbot.waitSignal(e.recordChanged) as sig:
        e.set_text("mktayiak\nqrq")
    assert sig.args[0].sequence == "MKTAYIAKQRQ"
    assert e.error() == "" and e.records.isHidden()
    assert "11 residues" in e.status.text()


def test_bad_character_names_record_and_position(qtbot):
    e = make(qtbot)
    with qtbot.waitSignal(e.validityChanged) as sig:
        e.set_text(">ok\nMKT\n>bad_one some protein\nMKTA\nYJAK\n")
    assert sig.args == [False]
    assert "'bad_one'" in e.error() and "position 6" in e.error() and "'J'" in e.error()
    assert e.error() in e.status.text()
    assert e.current_record() is None


def test_typing_validates_after_a_short_delay(qtbot):
    e = make(qtbot)
    e.edit.setPlainText("MKT1")
    assert e.error() == ""  # debounced, not yet parsed
    qtbot.waitUntil(lambda: "position 4" in e.error(), timeout=2000)


def test_several_records_show_a_selector(qtbot):
    e = make(qtbot)
    e.set_text(">first\nMKT\n>second desc\nGGGGA\n")
    assert not e.records.isHidden() and e.records.count() == 2
    with qtbot.waitSignal(e.recordChanged) as sig:
        e.records.setCurrentIndex(1)
    assert sig.args[0].id == "second" and e.current_record().sequence == "GGGGA"
    e.set_text(">first\nMKT\n>second desc\nGGGGAW\n")  # edit keeps the selected record
    assert e.current_record().id == "second"
