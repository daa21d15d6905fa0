"""Remembered main-window state (geometry, docks, splitters, scoring method) in QSettings."""
from __future__ import annotations

from PySide6.QtCore import QSettings, QSize
from PySide6.QtGui import QGuiApplication
from PySide6.QtWidgets import QComboBox, QMainWindow, QSplitter

DEFAULT_SIZE = QSize(1200, 800)
FRAME_ALLOWANCE = QSize(16, 40)  # title bar and borders the window manager adds around the window


def default_size(available: QSize | None = None) -> QSize:
    """The first-run window size: DEFAULT_SIZE, shrunk to fit the screen's available area with
    its frame (1366 x 768 with a 40-pixel taskbar: 1200 x 688)."""
    if available is None:
        screen = QGuiApplication.primaryScreen()
        available = screen.availableGeometry().size() if screen is not None else DEFAULT_SIZE
    return QSize(min(DEFAULT_SIZE.width(), available.width() - FRAME_ALLOWANCE.width()),
                 min(DEFAULT_SIZE.height(), available.height() - FRAME_ALLOWANCE.height()))


def restore(window: QMainWindow, s: QSettings, splitters: dict[str, QSplitter],
            method: QComboBox, default_method: str) -> None:
    """Geometry, dock layout, each splitter (key -> splitter) and the scoring method."""
    if not window.restoreGeometry(s.value("window/geometry", b"")):
        window.resize(default_size())
    window.restoreState(s.value("window/state", b""))
    main = splitters.get("window/splitter")
    for key, splitter in splitters.items():
        if splitter.restoreState(s.value(key, b"")):
            continue
        if splitter is main:
            splitter.setSizes([340, max(400, window.width() - 340)])
    row = method.findData(s.value("score/method", default_method))
    method.setCurrentIndex(max(0, row))


def save(window: QMainWindow, s: QSettings, splitters: dict[str, QSplitter], method: QComboBox) -> None:
    s.setValue("window/geometry", window.saveGeometry())
    s.setValue("window/state", window.saveState())
    for key, splitter in splitters.items():
        s.setValue(key, splitter.saveState())
    s.setValue("score/method", method.currentData())
    s.sync()
