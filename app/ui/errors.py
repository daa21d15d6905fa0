"""Turn uncaught exceptions (GUI or worker threads) into an error dialog instead of a crash."""
from __future__ import annotations

import logging
import sys
import threading
import traceback
from types import TracebackType

from PySide6.QtCore import QObject, Signal, Slot
from PySide6.QtWidgets import QApplication, QMessageBox

from app.core.fasta import FastaError
from app.core.pack import PackError

log = logging.getLogger(__name__)


def user_message(exc: BaseException) -> tuple[str, str]:
    """(title, text) for an exception a user caused or can fix."""
    if isinstance(exc, FastaError):
        return "Invalid sequence", str(exc)
    if isinstance(exc, PackError):
        return "Model pack cannot be used", str(exc)
    if isinstance(exc, MemoryError):
        return "Out of memory", "The model ran out of memory. Try a shorter sequence or a " \
                                "smaller (int8) model pack."
    return "Scoring failed", f"{type(exc).__name__}: {exc}"


def is_user_error(exc: BaseException) -> bool:
    """True for errors whose message is the whole story (no traceback worth showing)."""
    return isinstance(exc, (FastaError, PackError, MemoryError))


def show_error(parent, title: str, text: str, details: str = "") -> None:
    """A modal critical message box; `details` goes into the expandable section."""
    if not details:
        QMessageBox.critical(parent, title, text)
        return
    box = QMessageBox(QMessageBox.Critical, title, text, QMessageBox.Ok, parent)
    box.setDetailedText(details)
    box.exec()


class ExceptionReporter(QObject):
    """Installed as sys.excepthook / threading.excepthook; shows dialogs in the GUI thread."""

    raised = Signal(str, str)  # summary, traceback text (queued from any thread)

    def __init__(self, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self._showing = False
        self.raised.connect(self._show)

    def excepthook(self, etype: type[BaseException], value: BaseException,
                   tb: TracebackType | None) -> None:
        if issubclass(etype, KeyboardInterrupt):
            sys.__excepthook__(etype, value, tb)
            return
        text = "".join(traceback.format_exception(etype, value, tb))
        log.error("uncaught exception:\n%s", text)
        self.raised.emit(f"{etype.__name__}: {value}", text)

    def thread_excepthook(self, args: threading.ExceptHookArgs) -> None:
        if args.exc_type is SystemExit:
            return
        self.excepthook(args.exc_type, args.exc_value, args.exc_traceback)

    @Slot(str, str)
    def _show(self, summary: str, details: str) -> None:
        if self._showing:  # an error while a dialog is open: logged, not stacked
            return
        self._showing = True
        try:
            show_error(QApplication.activeWindow(), "Unexpected error",
                       f"EdgeFold hit an unexpected error and may need restarting.\n\n{summary}",
                       details)
        finally:
            self._showing = False


def install_excepthooks(app: QApplication) -> ExceptionReporter:
    """Route uncaught exceptions of every thread to a dialog; returns the reporter."""
    reporter = ExceptionReporter(app)
    sys.excepthook = reporter.excepthook
    threading.excepthook = reporter.thread_excepthook
    return reporter
