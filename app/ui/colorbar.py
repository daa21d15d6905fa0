"""Colour bars with a title and units: one painter for the on-screen widget and the exported figures."""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from PySide6.QtCore import QPointF, QRectF, QSize, Qt
from PySide6.QtGui import QColor, QFontMetrics, QImage, QPainter
from PySide6.QtWidgets import QWidget

from app.ui.colormap import diverging_rgb, ticks

BAR_W = 14
N_STEPS = 256
SCORE_TITLE = "\u0394 log-likelihood (nats)"  # log P(mutant) - log P(wild type), natural log


def gradient_image(rgb: np.ndarray) -> QImage:
    """(N, 3) uint8 colours, first row on top -> an N-pixel-high, 1-pixel-wide QImage."""
    rgb = np.ascontiguousarray(np.asarray(rgb, dtype=np.uint8).reshape(-1, 1, 3))
    return QImage(rgb.data, 1, rgb.shape[0], 3, QImage.Format_RGB888).copy()


@dataclass(frozen=True)
class ColorScale:
    """What a colour bar shows: the gradient (top row = `top`), tick labels and a title with units."""

    image: QImage
    top: float
    bottom: float
    ticks: tuple[tuple[float, str], ...]  # (value, text); the first and last are always labelled
    title: str

    def y_of(self, value: float, bar: QRectF) -> float:
        return bar.top() + (self.top - value) / (self.top - self.bottom) * bar.height()


def score_scale(vmax: float) -> ColorScale:
    """The heatmap's diverging scale [-vmax, vmax]; ends read '>=' / '<=' (scores are clipped)."""
    image = gradient_image(diverging_rgb(np.linspace(1.0, -1.0, N_STEPS), 1.0))
    inner = [(t, f"{t:g}") for t in ticks(vmax) if abs(t) < 0.85 * vmax]
    labels = [(vmax, f"\u2265{vmax:.2g}"), *sorted(inner, key=lambda vt: -vt[0]),
              (-vmax, f"\u2264{-vmax:.2g}")]
    return ColorScale(image, vmax, -vmax, tuple(labels), SCORE_TITLE)


def colorbar_width(fm: QFontMetrics, scale: ColorScale, bar_w: float = BAR_W) -> float:
    """Width `paint_colorbar` needs: bar, tick marks, the widest label, the rotated title."""
    label_w = max(fm.horizontalAdvance(text) for _, text in scale.ticks) if scale.ticks else 0
    return bar_w + 6 + label_w + 6 + fm.height() + 2


def paint_colorbar(p: QPainter, rect: QRectF, scale: ColorScale, fm: QFontMetrics, color: QColor,
                   bar_w: float = BAR_W) -> None:
    """Bar at the left of rect, ticks and labels beside it, the title rotated along the right
    edge. Labels closer than a line height to the previous one are skipped (ends never are)."""
    bar = QRectF(rect.left() + 2, rect.top(), bar_w, rect.height())
    p.save()
    p.drawImage(bar, scale.image)
    p.setPen(color)
    p.setBrush(Qt.NoBrush)
    p.drawRect(bar)
    last_y = -1e9
    for k, (value, text) in enumerate(sorted(scale.ticks, key=lambda vt: scale.y_of(vt[0], bar))):
        y = scale.y_of(value, bar)
        p.drawLine(QPointF(bar.right(), y), QPointF(bar.right() + 4, y))
        end = k in (0, len(scale.ticks) - 1)
        if abs(y - last_y) >= fm.height() or end:
            p.drawText(QRectF(bar.right() + 6, y - fm.height() / 2, rect.width(), fm.height()),
                       Qt.AlignLeft | Qt.AlignVCenter, text)
            last_y = y
    p.translate(rect.right() - 1, rect.center().y())
    p.rotate(-90)  # reads bottom to top, as axis titles do
    p.drawText(QRectF(-rect.height() / 2 - 40, -fm.height(), rect.height() + 80, fm.height()),
               Qt.AlignHCenter | Qt.AlignBottom, scale.title)
    p.restore()


class ColorBar(QWidget):
    """Gradient from +vmax (top) to -vmax (bottom) with labelled ticks and its title and units."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._vmax = 1.0
        self.setToolTip("Score = log P(mutant) - log P(wild type), in nats (natural log).\n"
                        "Negative (red): likely damaging; positive (blue): likely tolerated.")

    def set_vmax(self, vmax: float) -> None:
        self._vmax = vmax
        self.update()

    def vmax(self) -> float:
        return self._vmax

    def scale(self) -> ColorScale:
        return score_scale(self._vmax)

    def tick_labels(self) -> list[tuple[float, str]]:
        """(value, text) for each tick, the two clipped ends marked with >= / <=."""
        return list(self.scale().ticks)

    def sizeHint(self) -> QSize:  # noqa: N802
        # fixed width (labels are at most like this) so a new scale never re-lays out the window
        fm = QFontMetrics(self.font())
        widest = ColorScale(QImage(), 1, -1, ((0.0, "\u2264-88.8"),), "")
        return QSize(round(colorbar_width(fm, widest)) + 4, 200)

    def minimumSizeHint(self) -> QSize:  # noqa: N802
        return QSize(self.sizeHint().width(), 120)

    def paintEvent(self, event) -> None:  # noqa: N802
        p = QPainter(self)
        fm = QFontMetrics(self.font())
        pad = fm.height()
        paint_colorbar(p, QRectF(0, pad, self.width(), self.height() - 2 * pad), self.scale(), fm,
                       self.palette().text().color())
        p.end()
