"""Predicted aligned error (PAE) heatmap: L x L, green (0 A) to white (30 A), with hover read-out."""
from __future__ import annotations

import numpy as np
from PySide6.QtCore import QPointF, QRectF, QSize, Qt, Signal, Slot
from PySide6.QtGui import QColor, QFontMetrics, QImage, QMouseEvent, QPainter, QPen
from PySide6.QtWidgets import QWidget

from app.ui.colorbar import ColorScale, gradient_image
from app.ui.confidence_colors import PAE_MAX, pae_rgb
from app.ui.image_export import Figure
from app.ui.matrix_figure import SquareGeometry, matrix_figure, paint_matrix, square_geometry

PaeGeometry = SquareGeometry  # (i, j) = (row: aligned residue, column: scored residue)
PAE_TITLE = "PAE (\u00c5)"
PAE_LABEL = "Predicted aligned error"


def pae_scale(vmax: float = PAE_MAX) -> ColorScale:
    """Dark green 0 A at the top to white at vmax; the top end reads '>=' (values are clipped)."""
    image = gradient_image(pae_rgb(np.linspace(0.0, vmax, 256), vmax))
    values = list(range(0, int(np.floor(vmax)) + 1, 10))
    labels = [(float(v), f"{v:g}") for v in values]
    if values[-1] == vmax:
        labels[-1] = (float(vmax), f"\u2265{vmax:g}")
    return ColorScale(image, 0.0, float(vmax), tuple(labels), PAE_TITLE)


class PaeView(QWidget):
    """PAE[i, j]: expected position error (A) at residue j when the prediction is aligned on residue i."""

    hoverTextChanged = Signal(str)  # "residue i vs j: x.x A" (1-based), "" on leave
    cellHovered = Signal(int, int)  # (i, j) 0-based, (-1, -1) on leave

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._pae = np.zeros((0, 0))
        self._vmax = PAE_MAX
        self._scale = pae_scale()
        self._image = QImage()
        self._hover: tuple[int, int] | None = None
        self._selected: int | None = None
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
        self._pae, self._vmax, self._scale = pae, vmax, pae_scale(vmax)
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

    def figure(self, title: str) -> Figure | None:
        """The PAE map with its colour bar ("PAE (A)") under title, for PNG / SVG; None when empty."""
        n = self._pae.shape[0]
        return matrix_figure(n, self._image, self._scale, PAE_LABEL, title) if n else None

    # ---- geometry and read-out -----------------------------------------------------------
    def geometry_model(self) -> PaeGeometry:
        return square_geometry(self._pae.shape[0], self.width(), self.height(),
                               QFontMetrics(self.font()), self._scale)

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
        paint_matrix(p, g, self._image, self._scale, PAE_LABEL, self.palette().text().color())
        self._paint_marks(p, g)
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
