"""Uncaught exceptions become dialogs; About lists credits and the pack's license."""
import sys
import threading

import pytest

from PySide6.QtWidgets import QApplication

from app.core.fasta import FastaError, parse_fasta
from app.core.pack import pack_info
from app.ui.about import about_html
from app.ui.errors import install_excepthooks, is_user_error, user_message


def test_thread_exception_is_shown_in_a_dialog(qtbot, monkeypatch, captured_errors):
    monkeypatch.setattr(sys, "excepthook", sys.excepthook)
    monkeypatch.setattr(threading, "excepthook", threading.excepthook)
    install_excepthooks(QApplication.instance())

    def boom():
        raise RuntimeError("worker exploded at batch 7")

    t = threading.Thread(target=boom)
    t.start()
    t.join()
    qtbot.waitUntil(lambda: len(captured_errors) == 1, timeout=3000)
    title, text = captured_errors[0]
    assert title == "Unexpected error" and "RuntimeError: worker exploded at batch 7" in text


def test_gui_thread_exception_goes_through_sys_excepthook(qtbot, monkeypatch, captured_errors):
    monkeypatch.setattr(sys, "excepthook", sys.excepthook)
    monkeypatch.setattr(threading, "excepthook", threading.excepthook)
    install_excepthooks(QApplication.instance())
    try:
        raise KeyError("missing")
    except KeyError:
        sys.excepthook(*sys.exc_info())
    qtbot.waitUntil(lambda: len(captured_errors) == 1, timeout=3000)
    assert "KeyError" in captured_errors[0][1]


def test_user_errors_have_plain_messages():
    with pytest.raises(FastaError) as info:
        parse_fasta(">r\nMKZ#", source="input")
    e = info.value
    assert user_message(e) == ("Invalid sequence", str(e)) and is_user_error(e)
    assert not is_user_error(RuntimeError("x"))
    assert user_message(RuntimeError("x"))[1] == "RuntimeError: x"


def test_about_lists_credits_and_pack_license(tmp_path, make_pack):
    info = pack_info(make_pack(tmp_path / "p", name="demo_pack"))
    text = about_html(info)
    assert "ESM-2" in text and "MIT" in text and "LGPL" in text and "UniProt" in text
    assert "demo_pack" in text and "MIT (test)" in text and "unit tests" in text
    assert "No model pack selected" in about_html(None)
