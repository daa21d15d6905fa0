"""Remembered main-window state (geometry, docks, splitters, scoring method) in QSettings."""
from __future__ import annotations

from PySide6.QtCore import QSettings
from PySide6.QtWidgets import QComboBox, QMainWindow, QSplitter


def restore(window: QMainWindow, s: QSettings, splitters: dict[str, QSplitter],
            method: QComboBox, default_method: str) -> None:
    """Geometry, dock layout, each splitter (key -> splitter) and the scoring method."""
    if not window.restoreGeometry(s.value("window/geometry", b"")):
        window.resize(1200, 800)
    window.restoreState(s.value("window/state", b""))
    main = splitters.get("window/splitter")
    for key, splitter in splitters.items():
        if not splitter.restoreState(s.value(key, b"")) and splitter is main:
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
