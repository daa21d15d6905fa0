"""Hardening of File > Open in the GUI: the CLI's FastaError messages, the editor kept."""
import os

import pytest

pytest.importorskip("PySide6")
os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

from PySide6.QtCore import QSettings  # noqa: E402
from PySide6.QtWidgets import QMainWindow  # noqa: E402

from app.ui.sequence_editor import SequenceEditor  # noqa: E402
from app.ui.window_files import WindowFilesMixin  # noqa: E402

KEEP = ">kept\nMKT\n"


class Host(WindowFilesMixin, QMainWindow):
    """The smallest window the mixin needs: settings, editor, show_error, statusBar()."""

    def __init__(self, settings: QSettings) -> None:
        super().__init__()
        self.settings, self.result, self.errors = settings, None, []
        self.editor = SequenceEditor()
        self.setCentralWidget(self.editor)

    def show_error(self, title: str, text: str) -> None:
        self.errors.append((title, text))


@pytest.fixture
def host(qtbot, tmp_path):
    w = Host(QSettings(str(tmp_path / "settings.ini"), QSettings.IniFormat))
    qtbot.addWidget(w)
    w.editor.set_text(KEEP)
    return w


@pytest.mark.parametrize("data,needle", [
    (b"", "empty file, no records"),
    (b"\n\n  \n", "empty file, no records"),
    (b">x\nMK\xff\xfe\n", "not a text FASTA file (byte 0xFF at byte offset 5"),
    (b"\x7fELF\x02\x01\x00\x00", "not a text FASTA file (NUL byte at byte offset 6)"),
])
def test_open_reports_the_cli_message_and_keeps_the_editor(host, tmp_path, data, needle):
    path = tmp_path / "in.fa"
    path.write_bytes(data)
    assert host.open_path(path) is False
    ((title, text),) = host.errors
    assert title == "Cannot open file" and text.startswith(f"{path}: ") and needle in text
    assert "codec" not in text and host.editor.text() == KEEP


def test_open_a_directory_says_so(host, tmp_path):
    assert host.open_path(tmp_path) is False
    assert host.errors == [("Cannot open file", f"{tmp_path}: a directory, not a FASTA file")]


def test_open_a_good_file_still_works(host, tmp_path):
    path = tmp_path / "ok.fa"
    path.write_text(">a\nMKV\n")
    assert host.open_path(path) is True and host.errors == []
    assert host.editor.current_record().sequence == "MKV"
