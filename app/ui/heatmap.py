"""L x 20 mutation-score heatmap: a scrollable, zoomable QPainter widget with hover read-out."""
from __future__ import annotations

import math

import numpy as np
from PySide6.QtCore import QPoint, QRectF, QSize, Qt, Signal, Slot
from PySide6.QtGui import QColor, QFontMetrics, QImage, QMouseEvent, QPainter, QPen, QWheelEvent
from PySide6.QtWidgets import QAbstractScrollArea, QWidget

from app.ui.colorbar import colorbar_width, paint_colorbar, score_scale
from app.ui.colormap import diverging_rgb, scored_limit
from app.ui.heatmap_geometry import N_AA, HeatmapGeometry, label_step
from app.ui.image_export import FG, MARGIN, Figure, draw_cells, figure_font, paint_title
from app.ui.mutations import AMINO_ACIDS, mutant_name

MIN_CELL, MAX_CELL, DEFAULT_CELL = 0.2, 48.0, 14.0
FIT_MAX_CELL = 28.0  # widest automatic column when a short sequence is shown
MIN_ROW, MAX_ROW = 8.0, 28.0  # below 8 px the 20 rows scroll vertically
MIN_HEIGHT = 160  # fits a 1366 x 768 laptop screen; shorter than 20 rows at MIN_ROW, it scrolls
FIG_MAP_WIDTH = 1100.0  # an exported heatmap shows the whole sequence in about this many pixels
FIG_MAX_CELL, FIG_MIN_CELL, FIG_ROW = 16.0, 1.0, 14.0


class HeatmapView(QAbstractScrollArea):
    """Residues along x (wild-type letters on top), amino acids ACDEFGHIKLMNPQRSTVWY along y."""

    cellHovered = Signal(int, int)  # residue (0-based), amino-acid index; (-1, -1) on leave
    hoverTextChanged = Signal(str)  # e.g. "K40R  score -1.234"
    residueClicked = Signal(int)  # 0-based residue index into the sequence

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._sequence = ""
        self._scores = np.zeros((0, N_AA))
        self._vmax = 1.0
        self._image = QImage()
        self._cell_w = DEFAULT_CELL
        self._hover: tuple[int, int] | None = None
        self._selected: int | None = None
        self.viewport().setMouseTracking(True)
        self.setHorizontalScrollBarPolicy(Qt.ScrollBarAlwaysOn)
        self.setMinimumHeight(MIN_HEIGHT)
        self.horizontalScrollBar().valueChanged.connect(self.viewport().update)
        self.verticalScrollBar().valueChanged.connect(self.viewport().update)

    def sizeHint(self) -> QSize:  # noqa: N802
        """Tall enough for the 20 amino-acid rows at MIN_ROW with the gutters and scroll bar."""
        fm = QFontMetrics(self.font())
        frame = 2 * self.frameWidth() + self.horizontalScrollBar().sizeHint().height()
        return QSize(400, max(MIN_HEIGHT, int(2 * fm.height() + 8 + N_AA * MIN_ROW) + frame + 2))

    # ---- data ---------------------------------------------------------------------------
    def set_scores(self, sequence: str, scores: np.ndarray, vmax: float | None = None) -> None:
        """Show scores (L, 20) for sequence; vmax is the colour-scale half-width (auto if None:
        `scored_limit`, from the scored cells). NaN cells (not scored) are grey."""
        scores = np.asarray(scores, dtype=np.float64)
        if scores.shape != (len(sequence), N_AA):
            raise ValueError(f"scores shape {scores.shape} != ({len(sequence)}, {N_AA})")
        self._sequence, self._scores = sequence, scores
        self._vmax = vmax if vmax is not None else scored_limit(sequence, scores)
        rgb = np.ascontiguousarray(diverging_rgb(scores.T, self._vmax))  # (20, L, 3)
        self._image = QImage(rgb.data, len(sequence), N_AA, 3 * len(sequence),
                             QImage.Format_RGB888).copy()  # copy: detach from the numpy buffer
        self._hover, self._selected = None, None
        if sequence:  # short sequences fill the width; long ones start readable and scroll
            fit = (self.viewport().width() - self.geometry_model().left - 2) / len(sequence)
            self._cell_w = min(FIT_MAX_CELL, max(DEFAULT_CELL, fit))
        self.horizontalScrollBar().setValue(0)
        self._update_scrollbars()
        self.viewport().update()

    def clear(self) -> None:
        self.set_scores("", np.zeros((0, N_AA)))

    def vmax(self) -> float:
        return self._vmax

    def sequence(self) -> str:
        return self._sequence

    # ---- geometry -----------------------------------------------------------------------
    def geometry_model(self) -> HeatmapGeometry:
        """Current layout (gutters, zoom, scroll offsets) for hit-testing and painting."""
        fm = QFontMetrics(self.font())
        top = 2 * fm.height() + 8  # position numbers, then wild-type letters
        left = fm.horizontalAdvance("W") + 12
        avail = self.viewport().height() - top - 2
        row_h = min(MAX_ROW, max(MIN_ROW, avail / N_AA))
        return HeatmapGeometry(len(self._sequence), left, top, self._cell_w, row_h,
                               self.horizontalScrollBar().value(), self.verticalScrollBar().value())

    def cell_at(self, pos: QPoint) -> tuple[int, int] | None:
        return self.geometry_model().cell_at(pos.x(), pos.y())

    def cell_width(self) -> float:
        return self._cell_w

    def set_cell_width(self, width: float, anchor_x: float | None = None) -> None:
        """Zoom to a residue column width, keeping the residue under anchor_x in place."""
        width = min(MAX_CELL, max(MIN_CELL, width))
        g = self.geometry_model()
        ax = anchor_x if anchor_x is not None else g.left + (self.viewport().width() - g.left) / 2
        residue = (ax - g.left + g.scroll_x) / g.cell_w
        self._cell_w = width
        self._update_scrollbars()
        self.horizontalScrollBar().setValue(round(residue * width - (ax - g.left)))
        self.viewport().update()

    def selected_residue(self) -> int | None:
        return self._selected

    @Slot(int)
    def select_residue(self, i: int) -> None:
        """Outline residue column i (0-based) and scroll it into view (no signal emitted)."""
        self._selected = i if 0 <= i < len(self._sequence) else None
        if self._selected is not None:
            g = self.geometry_model()
            x = g.column_x(i) - g.left  # relative to the visible data area
            if x < 0 or x + g.cell_w > self.viewport().width() - g.left:
                bar = self.horizontalScrollBar()
                bar.setValue(round(i * g.cell_w - (self.viewport().width() - g.left) / 2))
        self.viewport().update()

    @Slot()
    def zoom_in(self) -> None:
        self.set_cell_width(self._cell_w * 1.25)

    @Slot()
    def zoom_out(self) -> None:
        self.set_cell_width(self._cell_w / 1.25)

    @Slot()
    def zoom_to_fit(self) -> None:
        g = self.geometry_model()
        if self._sequence:
            self.set_cell_width((self.viewport().width() - g.left - 2) / len(self._sequence))

    def _update_scrollbars(self) -> None:
        g = self.geometry_model()
        vw, vh = self.viewport().width() - g.left, self.viewport().height() - g.top
        self.horizontalScrollBar().setRange(0, max(0, g.content_width - vw))
        self.horizontalScrollBar().setPageStep(max(1, vw))
        self.horizontalScrollBar().setSingleStep(max(1, round(g.cell_w)))
        self.verticalScrollBar().setRange(0, max(0, g.content_height - vh))
        self.verticalScrollBar().setPageStep(max(1, vh))

    def resizeEvent(self, event) -> None:  # noqa: N802 (Qt override)
        super().resizeEvent(event)
        self._update_scrollbars()

    # ---- read-out -----------------------------------------------------------------------
    def describe(self, i: int, j: int) -> str:
        """Status text for cell (i, j): the mutation and its score, or the wild type."""
        wt, mt = self._sequence[i], AMINO_ACIDS[j]
        if wt == mt:
            return f"{wt}{i + 1} (wild type)"
        if not np.isfinite(self._scores[i, j]):
            return f"{mutant_name(wt, i, mt)}  not scored (non-standard residue {wt})"
        return f"{mutant_name(wt, i, mt)}  score {self._scores[i, j]:+.3f}"

    def mouseMoveEvent(self, event: QMouseEvent) -> None:  # noqa: N802
        cell = self.cell_at(event.position().toPoint())
        if cell != self._hover:
            self._hover = cell
            self.cellHovered.emit(*(cell or (-1, -1)))
            self.hoverTextChanged.emit(self.describe(*cell) if cell else "")
            self.viewport().update()

    def leaveEvent(self, event) -> None:  # noqa: N802
        if self._hover is not None:
            self._hover = None
            self.cellHovered.emit(-1, -1)
            self.hoverTextChanged.emit("")
            self.viewport().update()
        super().leaveEvent(event)

    def mousePressEvent(self, event: QMouseEvent) -> None:  # noqa: N802
        cell = self.cell_at(event.position().toPoint())
        if cell is not None and event.button() == Qt.LeftButton:
            self._selected = cell[0]
            self.residueClicked.emit(cell[0])
            self.viewport().update()

    def wheelEvent(self, event: QWheelEvent) -> None:  # noqa: N802
        if event.modifiers() & Qt.ControlModifier:
            factor = 1.25 ** (event.angleDelta().y() / 120.0)
            self.set_cell_width(self._cell_w * factor, event.position().x())
            event.accept()
        else:
            super().wheelEvent(event)

    # ---- painting -----------------------------------------------------------------------
    def paintEvent(self, event) -> None:  # noqa: N802
        p = QPainter(self.viewport())
        p.fillRect(self.viewport().rect(), self.palette().base())
        if not self._sequence:
            p.setPen(self.palette().placeholderText().color())
            p.drawText(self.viewport().rect(), Qt.AlignCenter,
                       "Score a sequence to see its mutation heatmap")
            return
        g = self.geometry_model()
        i0, i1 = g.visible_columns(self.viewport().width())
        vp = QRectF(self.viewport().rect())
        self._paint_cells(p, g, i0, i1, vp)
        self._paint_axes(p, g, i0, i1, vp, self.palette().text().color())
        p.end()

    def _paint_cells(self, p: QPainter, g: HeatmapGeometry, i0: int, i1: int, vp: QRectF,
                     marks: bool = True) -> None:
        p.save()
        p.setClipRect(QRectF(g.left, g.top, vp.width() - g.left, vp.height() - g.top))
        target = QRectF(g.column_x(i0), g.row_y(0), (i1 - i0) * g.cell_w, N_AA * g.row_h)
        if marks:
            p.drawImage(target, self._image, QRectF(i0, 0, i1 - i0, N_AA))
        else:  # an export: the whole map, crisp cells in SVG too
            draw_cells(p, target, self._image.copy(i0, 0, i1 - i0, N_AA))
        if g.cell_w >= 6:  # mark the wild-type residue of each column
            p.setRenderHint(QPainter.Antialiasing, True)
            p.setPen(QPen(QColor(255, 255, 255), 1))
            p.setBrush(QColor(20, 20, 20))
            r = min(g.cell_w, g.row_h) * 0.2
            for i in range(i0, i1):
                j = AMINO_ACIDS.find(self._sequence[i])
                if j >= 0:
                    x, y, w, h = g.cell_rect(i, j)
                    p.drawEllipse(QRectF(x + w / 2 - r, y + h / 2 - r, 2 * r, 2 * r))
        p.setRenderHint(QPainter.Antialiasing, False)
        p.setBrush(Qt.NoBrush)
        if not marks:
            p.restore()
            return
        if self._selected is not None:
            p.setPen(QPen(QColor(255, 170, 0), 2))
            p.drawRect(QRectF(g.column_x(self._selected), g.row_y(0), g.cell_w, N_AA * g.row_h))
        if self._hover is not None:
            p.setPen(QPen(QColor(0, 0, 0), 2))
            p.drawRect(QRectF(*g.cell_rect(*self._hover)))
        p.restore()

    def _paint_axes(self, p: QPainter, g: HeatmapGeometry, i0: int, i1: int, vp: QRectF,
                    text: QColor) -> None:
        fm = QFontMetrics(p.font())
        p.setPen(text)
        # left gutter: amino-acid letters (scroll vertically with the rows only)
        p.save()
        p.setClipRect(QRectF(0, g.top, g.left, vp.height() - g.top))
        for j, aa in enumerate(AMINO_ACIDS):
            p.drawText(QRectF(0, g.row_y(j), g.left - 4, g.row_h), Qt.AlignRight | Qt.AlignVCenter, aa)
        p.restore()
        # top gutter: residue numbers every `step`, wild-type letters when columns are wide
        p.save()
        p.setClipRect(QRectF(g.left, 0, vp.width() - g.left, g.top))
        step = label_step(g.cell_w, fm.horizontalAdvance("00000"))
        first = max(step, int(math.ceil((i0 + 1) / step)) * step)
        for n in range(first, i1 + 1, step):  # n is 1-based
            cx = g.column_x(n - 1) + g.cell_w / 2
            p.drawText(QRectF(cx - 40, 0, 80, fm.height()), Qt.AlignCenter, str(n))
            p.drawLine(round(cx), fm.height() + 1, round(cx), fm.height() + 4)
        if g.cell_w >= fm.horizontalAdvance("W") + 2:
            y = fm.height() + 5
            for i in range(i0, i1):
                p.drawText(QRectF(g.column_x(i), y, g.cell_w, fm.height()), Qt.AlignCenter,
                           self._sequence[i])
        p.restore()

    # ---- export -------------------------------------------------------------------------
    def figure(self, title: str) -> Figure | None:
        """The whole heatmap (not just the scrolled part) with its colour bar, for PNG / SVG."""
        n = len(self._sequence)
        if not n:
            return None
        fm = QFontMetrics(figure_font())
        cell_w = min(FIG_MAX_CELL, max(FIG_MIN_CELL, FIG_MAP_WIDTH / n))
        top, left = 2 * fm.height() + 8, fm.horizontalAdvance("W") + 12
        g = HeatmapGeometry(n, left, top, cell_w, FIG_ROW, 0, 0)
        scale = score_scale(self._vmax)
        bar_w = colorbar_width(fm, scale)
        map_w, map_h = left + g.content_width + 2, top + g.content_height + 2
        width = round(max(MARGIN + map_w + 14 + bar_w + MARGIN, fm.horizontalAdvance(title) + 2 * MARGIN))
        head = MARGIN + fm.height() + 6  # what paint_title takes, in the figure font

        def paint(p: QPainter) -> None:
            y0 = paint_title(p, title, width)
            p.translate(MARGIN, y0)
            vp = QRectF(0, 0, map_w, map_h)
            self._paint_cells(p, g, 0, n, vp, marks=False)
            self._paint_axes(p, g, 0, n, vp, FG)
            bar = QRectF(map_w + 14, g.top, bar_w, N_AA * g.row_h)
            paint_colorbar(p, bar, scale, QFontMetrics(p.font()), FG)

        return Figure(width, round(head + map_h + MARGIN), paint, title)
