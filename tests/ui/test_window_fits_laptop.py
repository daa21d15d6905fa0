"""The main window fits a 1366 x 768 laptop screen, and with the Structure panel open the ranked
table still shows at least 8 rows (it showed 2 in a 1200 x 813 window)."""
from __future__ import annotations

import numpy as np
from PySide6.QtCore import QSize
from PySide6.QtWidgets import QApplication

from app.ui.main_window import MainWindow
from app.ui.window_state import FRAME_ALLOWANCE, default_size

LAPTOP = QSize(1366, 768 - 40)  # available area: the screen less a 40-pixel taskbar


def _settle():
    for _ in range(5):
        QApplication.processEvents()


def test_window_fits_1366x768_and_shows_8_table_rows_with_the_structure_panel(qtbot, settings, packs_dir):
    size = default_size(LAPTOP)
    assert size.width() + FRAME_ALLOWANCE.width() <= 1366 and size.height() + FRAME_ALLOWANCE.height() <= 728
    assert default_size(QSize(2560, 1400)) == QSize(1200, 800)  # big screens keep the old first size
    w = MainWindow(settings)
    qtbot.addWidget(w)
    w.show()
    w.fold_dock.show()
    qtbot.waitExposed(w)
    hint = w.minimumSizeHint()
    assert hint.width() <= size.width() and hint.height() <= size.height(), hint  # was 843 x 833
    w.resize(size)
    seq = "MKTAYIAKQRQISFVKSHFSRQLEERLGLIEVQ"
    w.results.set_scores(seq, np.random.default_rng(0).normal(size=(len(seq), 20)), "Scores of p1")
    w.results.set_link_text("Not linked: the structure is of another record.", False)
    _settle()
    assert w.height() <= size.height() and w.fold_dock.isVisible()
    table = w.results.table
    rows = table.viewport().height() // table.verticalHeader().defaultSectionSize()
    assert rows >= 8, (rows, table.viewport().height(), w.fold_dock.height())
    assert w.results.heatmap.height() >= w.results.heatmap.minimumHeight()
