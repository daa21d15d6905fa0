"""The batch dialog fits a 1366 x 768 laptop screen with room for its queue, and says which packs it uses."""
from __future__ import annotations

from PySide6.QtCore import QSize
from PySide6.QtWidgets import QApplication

from app.core.batch_queue import Batch, Entry, PackRef
from app.core.fasta import Record
from app.ui.batch_dialog import BatchDialog
from app.ui.window_state import FRAME_ALLOWANCE

LAPTOP = QSize(1366, 768 - 40)  # the screen less a 40-pixel taskbar


class Info:
    def __init__(self, name: str, scheme: str) -> None:
        self.path, self.name, self.scheme = "/nowhere", name, scheme


def test_dialog_fits_a_laptop_screen_and_shows_ten_queue_rows(qtbot, settings, tmp_path):
    d = BatchDialog(settings, lambda: Info("esm2_t6_8M", "int8"), lambda: None, lambda: "wt-marginal")
    qtbot.addWidget(d)
    d.show()
    qtbot.waitExposed(d)
    d.fold_check.setChecked(True)
    d.score_check.setChecked(True)
    assert "esm2_t6_8M (int8), wt-marginal" in d.packs_label.text() and "no folding pack" in d.packs_label.text()
    hint = d.minimumSizeHint()
    assert hint.width() + FRAME_ALLOWANCE.width() <= LAPTOP.width() and \
        hint.height() + FRAME_ALLOWANCE.height() <= LAPTOP.height(), hint
    d.resize(d.sizeHint())
    ref = PackRef("/nowhere", "m", "int8", "0" * 64)
    entries = [Entry(f"r{i}", Record(f"r{i}", "", "MKTAYIAK")) for i in range(30)]
    d.set_batch(Batch.create(tmp_path, entries, {"score": ref}, {"method": "wt-marginal"}))
    for _ in range(5):
        QApplication.processEvents()
    assert d.width() + FRAME_ALLOWANCE.width() <= LAPTOP.width() and \
        d.height() + FRAME_ALLOWANCE.height() <= LAPTOP.height()
    rows = d.table.viewport().height() // d.table.verticalHeader().defaultSectionSize()
    assert rows >= 10, rows
    assert "0 done, 0 failed, 0 cancelled, 30 waiting of 30" in d.status_label.text()
    assert d.resume_button.isEnabled() and not d.show_button.isEnabled()
