"""Vertical colour bar showing the heatmap's diverging scale and its tick values."""
from __future__ import annotations

import numpy as np
from PySide6.QtCore import QRectF, QSize, Qt
from PySide6.QtGui import QFontMetrics, QImage, QPainter
from PySide6.QtWidgets import QWidget

from app.ui.colormap import diverging_rgb, ticks

BAR_W = 14
N_STEPS = 256


class ColorBar(QWidget):
    """Gradient from +vmax (top) to -vmax (bottom) with labelled ticks; ends read '>=' / '<='."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._vmax = 1.0
        # (N_STEPS, 1, 3): top row is +vmax
        rgb = np.ascontiguousarray(diverging_rgb(np.linspace(1.0, -1.0, N_STEPS)[:, None], 1.0))
        self._image = QImage(rgb.data, 1, N_STEPS, 3, QImage.Format_RGB888).copy()
        self.setToolTip("Score = log P(mutant) - log P(wild type).\n"
                        "Negative (red): likely damaging; positive (blue): likely tolerated.")

    def set_vmax(self, vmax: float) -> None:
        self._vmax = vmax
        self.update()

    def vmax(self) -> float:
        return self._vmax

    def tick_labels(self) -> list[tuple[float, str]]:
        """(value, text) for each tick, the two clipped ends marked with >= / <=."""
        out = [(t, f"{t:g}") for t in ticks(self._vmax) if abs(t) < 0.85 * self._vmax]
        out.append((self._vmax, f"\u2265{self._vmax:.2g}"))
        out.append((-self._vmax, f"\u2264{-self._vmax:.2g}"))
        return out

    def sizeHint(self) -> QSize:  # noqa: N802
        fm = QFontMetrics(self.font())
        # fixed width (labels are at most like this) so a new scale never re-lays out the window
        label_w = fm.horizontalAdvance("\u2264-88.8")
        return QSize(BAR_W + 10 + label_w, 200)

    def minimumSizeHint(self) -> QSize:  # noqa: N802
        return QSize(self.sizeHint().width(), 120)

    def paintEvent(self, event) -> None:  # noqa: N802
        p = QPainter(self)
        fm = QFontMetrics(self.font())
        pad = fm.height()
        bar = QRectF(2, pad, BAR_W, self.height() - 2 * pad)
        p.drawImage(bar, self._image)
        p.setPen(self.palette().text().color())
        p.drawRect(bar)
        labels = sorted(self.tick_labels(), key=lambda vt: -vt[0])
        last_y = -1e9
        for value, text in labels:
            y = bar.top() + (self._vmax - value) / (2 * self._vmax) * bar.height()
            p.drawLine(round(bar.right()), round(y), round(bar.right() + 4), round(y))
            if abs(y - last_y) >= fm.height() or text.startswith(("\u2265", "\u2264")):
                p.drawText(QRectF(bar.right() + 6, y - pad / 2, self.width(), pad),
                           Qt.AlignLeft | Qt.AlignVCenter, text)
                last_y = y
        p.end()
