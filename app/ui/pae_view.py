"""Predicted aligned error (PAE) heatmap: L x L, green (0 A) to white (30 A), with hover read-out."""
from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from PySide6.QtCore import QPointF, QRectF, QSize, Qt, Signal, Slot
from PySide6.QtGui import QColor, QFontMetrics, QImage, QMouseEvent, QPainter, QPen
from PySide6.QtWidgets import QWidget

from app.ui.colormap import nice_step
from app.ui.confidence_colors import PAE_MAX, pae_rgb

BAR_W = 12


@dataclass(frozen=True)
class PaeGeometry:
    """Where the L x L matrix is drawn: a square of `side` pixels with its top-left at (x0, y0)."""

    n: int
    x0: float
    y0: float
    side: float

    def cell_at(self, x: float, y: float) -> tuple[int, int] | None:
        """(i, j) = (row: aligned residue, column: scored residue), 0-based; None outside the matrix."""
        if self.n == 0 or self.side <= 0:
            return None
        u, v = (x - self.x0) / self.side, (y - self.y0) / self.side  # in [0, 1) inside the square
        if not (0.0 <= u < 1.0 and 0.0 <= v < 1.0):
            return None
        return min(self.n - 1, int(v * self.n)), min(self.n - 1, int(u * self.n))

    def center(self, k: float) -> float:
        """Pixel offset (from x0 or y0) of the centre of residue k."""
        return (k + 0.5) * self.side / self.n


class PaeView(QWidget):
    """PAE[i, j]: expected position error (A) at residue j when the prediction is aligned on residue i."""

    hoverTextChanged = Signal(str)  # "residue i vs j: x.x A" (1-based), "" on leave
    cellHovered = Signal(int, int)  # (i, j) 0-based, (-1, -1) on leave

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._pae = np.zeros((0, 0))
        self._vmax = PAE_MAX
        self._image = QImage()
        self._hover: tuple[int, int] | None = None
        self._selected: int | None = None
        bar = np.ascontiguousarray(pae_rgb(np.linspace(0.0, PAE_MAX, 256)[:, None]))  # (256, 1, 3)
        self._bar = QImage(bar.data, 1, 256, 3, QImage.Format_RGB888).copy()
        self.setMouseTracking(True)
        self.setMinimumSize(200, 100)  # the Structure dock must fit a 768-pixel screen
        self.setToolTip("Predicted aligned error: expected position error (\u00c5) at the column "
                        "residue when the structure is aligned on the row residue.\n"
                        "Dark green: confident relative position; white: \u2265 30 \u00c5.")

    def set_pae(self, pae: np.ndarray, vmax: float = PAE_MAX) -> None:
        """Show an (L, L) PAE matrix in Angstrom, colour scale clipped at vmax."""
        pae = np.asarray(pae, dtype=np.float64)
        if pae.ndim != 2 or pae.shape[0] != pae.shape[1]:
            raise ValueError(f"PAE must be a square (L, L) matrix, got shape {pae.shape}")
        self._pae, self._vmax = pae, vmax
        rgb = np.ascontiguousarray(pae_rgb(pae, vmax))  # (L, L, 3), row i = aligned residue
        n = pae.shape[0]
        self._image = QImage(rgb.data, n, n, 3 * n, QImage.Format_RGB888).copy() if n else QImage()
        self._hover, self._selected = None, None
        self.update()

    def clear(self) -> None:
        self.set_pae(np.zeros((0, 0)))

    def pae(self) -> np.ndarray:
        return self._pae

    @Slot(int)
    def select_residue(self, i: int) -> None:
        """Mark row and column i (0-based) with guide lines; -1 or out of range clears."""
        self._selected = i if 0 <= i < self._pae.shape[0] else None
        self.update()

    # ---- geometry and read-out -----------------------------------------------------------
    def geometry_model(self) -> PaeGeometry:
        fm = QFontMetrics(self.font())
        left, top = fm.horizontalAdvance("0000") + 8, fm.height() + 6
        right = BAR_W + fm.horizontalAdvance("30 \u00c5") + 16
        bottom = fm.height() + 6
        side = max(0.0, min(self.width() - left - right, self.height() - top - bottom))
        return PaeGeometry(self._pae.shape[0], float(left), float(top), float(side))

    def describe(self, i: int, j: int) -> str:
        return f"residue {i + 1} vs {j + 1}: {self._pae[i, j]:.1f} \u00c5"

    def mouseMoveEvent(self, event: QMouseEvent) -> None:  # noqa: N802
        p = event.position()
        cell = self.geometry_model().cell_at(p.x(), p.y())
        if cell != self._hover:
            self._hover = cell
            self.cellHovered.emit(*(cell or (-1, -1)))
            self.hoverTextChanged.emit(self.describe(*cell) if cell else "")
            self.update()

    def leaveEvent(self, event) -> None:  # noqa: N802
        if self._hover is not None:
            self._hover = None
            self.cellHovered.emit(-1, -1)
            self.hoverTextChanged.emit("")
            self.update()
        super().leaveEvent(event)

    def sizeHint(self) -> QSize:  # noqa: N802
        return QSize(360, 320)

    # ---- painting -----------------------------------------------------------------------
    def paintEvent(self, event) -> None:  # noqa: N802
        p = QPainter(self)
        p.fillRect(self.rect(), self.palette().window())
        g = self.geometry_model()
        if g.n == 0:
            p.setPen(self.palette().placeholderText().color())
            p.drawText(self.rect(), Qt.AlignCenter | Qt.TextWordWrap,
                       "The predicted aligned error appears here after folding")
            p.end()
            return
        square = QRectF(g.x0, g.y0, g.side, g.side)
        p.drawImage(square, self._image)  # nearest-neighbour scaling keeps residues crisp
        p.setPen(self.palette().text().color())
        p.drawRect(square)
        self._paint_marks(p, g)
        self._paint_axes(p, g)
        self._paint_bar(p, g)
        p.end()

    def _paint_marks(self, p: QPainter, g: PaeGeometry) -> None:
        if self._selected is not None:
            p.setPen(QPen(QColor(224, 17, 157), 1, Qt.DashLine))
            c = g.center(self._selected)
            p.drawLine(QPointF(g.x0 + c, g.y0), QPointF(g.x0 + c, g.y0 + g.side))
            p.drawLine(QPointF(g.x0, g.y0 + c), QPointF(g.x0 + g.side, g.y0 + c))
        if self._hover is not None:
            i, j = self._hover
            w = max(3.0, g.side / g.n)
            p.setPen(QPen(QColor(0, 0, 0), 1))
            p.drawRect(QRectF(g.x0 + g.center(j) - w / 2, g.y0 + g.center(i) - w / 2, w, w))

    def _paint_axes(self, p: QPainter, g: PaeGeometry) -> None:
        fm = QFontMetrics(self.font())
        p.setPen(self.palette().text().color())
        step = max(1, int(nice_step(max(g.n, 2), max_ticks=12 if g.side > 300 else 8)))  # ~4-6 ticks
        for k in range(step, g.n + 1, step):  # k is a 1-based residue number
            c = g.center(k - 1)
            p.drawText(QRectF(g.x0 + c - 30, g.y0 + g.side + 2, 60, fm.height()), Qt.AlignHCenter, str(k))
            p.drawText(QRectF(0, g.y0 + c - fm.height() / 2, g.x0 - 4, fm.height()),
                       Qt.AlignRight | Qt.AlignVCenter, str(k))
        p.drawText(QRectF(g.x0, 0, g.side, g.y0 - 4), Qt.AlignHCenter | Qt.AlignBottom,
                   "Predicted aligned error")

    def _paint_bar(self, p: QPainter, g: PaeGeometry) -> None:
        fm = QFontMetrics(self.font())
        bar = QRectF(g.x0 + g.side + 10, g.y0, BAR_W, g.side)
        p.drawImage(bar, self._bar)  # top = 0 A
        p.drawRect(bar)
        for value in range(0, int(math.floor(self._vmax)) + 1, 10):
            y = bar.top() + value / self._vmax * bar.height()
            text = f"{value} \u00c5" if value else "0"
            p.drawLine(QPointF(bar.right(), y), QPointF(bar.right() + 3, y))
            p.drawText(QRectF(bar.right() + 5, y - fm.height() / 2, 60, fm.height()),
                       Qt.AlignLeft | Qt.AlignVCenter, text)
