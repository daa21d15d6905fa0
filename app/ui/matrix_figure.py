"""An L x L residue-pair map (PAE, contacts) with residue axes and a colour bar: layout and painting
shared by the on-screen views and their exported figures."""
from __future__ import annotations

from dataclasses import dataclass

from PySide6.QtCore import QRectF, Qt
from PySide6.QtGui import QColor, QFontMetrics, QImage, QPainter

from app.ui.colorbar import ColorScale, colorbar_width, paint_colorbar
from app.ui.colormap import nice_step
from app.ui.image_export import FG, MARGIN, Figure, draw_cells, figure_font, paint_title

BAR_GAP = 10
FIG_SIDE = 560  # an exported map's square, in device-independent pixels


@dataclass(frozen=True)
class SquareGeometry:
    """Where the L x L matrix is drawn: a square of `side` pixels with its top-left at (x0, y0)."""

    n: int
    x0: float
    y0: float
    side: float

    def cell_at(self, x: float, y: float) -> tuple[int, int] | None:
        """(i, j) = (row, column), 0-based; None outside the matrix."""
        if self.n == 0 or self.side <= 0:
            return None
        u, v = (x - self.x0) / self.side, (y - self.y0) / self.side  # in [0, 1) inside the square
        if not (0.0 <= u < 1.0 and 0.0 <= v < 1.0):
            return None
        return min(self.n - 1, int(v * self.n)), min(self.n - 1, int(u * self.n))

    def center(self, k: float) -> float:
        """Pixel offset (from x0 or y0) of the centre of residue k."""
        return (k + 0.5) * self.side / self.n


def margins(fm: QFontMetrics, scale: ColorScale) -> tuple[float, float, float, float]:
    """(left, top, right, bottom) around the square: residue numbers, the label, the colour bar."""
    return (fm.horizontalAdvance("0000") + 8, fm.height() + 6,
            BAR_GAP + colorbar_width(fm, scale) + 4, fm.height() + 6)


def square_geometry(n: int, width: float, height: float, fm: QFontMetrics,
                    scale: ColorScale) -> SquareGeometry:
    """The largest square that fits width x height with the margins."""
    left, top, right, bottom = margins(fm, scale)
    side = max(0.0, min(width - left - right, height - top - bottom))
    return SquareGeometry(n, float(left), float(top), float(side))


def paint_matrix(p: QPainter, g: SquareGeometry, image: QImage, scale: ColorScale, label: str,
                 color: QColor, crisp: bool = False) -> None:
    """The map (nearest-neighbour cells), its frame, residue numbers on both axes, the label
    above and the colour bar (with its title and units) on the right. crisp: for SVG."""
    fm = QFontMetrics(p.font())
    square = QRectF(g.x0, g.y0, g.side, g.side)
    if crisp:
        draw_cells(p, square, image)
    else:
        p.drawImage(square, image)  # nearest-neighbour scaling keeps residues crisp
    p.setPen(color)
    p.drawRect(square)
    step = max(1, int(nice_step(max(g.n, 2), max_ticks=12 if g.side > 300 else 8)))  # ~4-6 ticks
    for k in range(step, g.n + 1, step):  # k is a 1-based residue number
        c = g.center(k - 1)
        p.drawText(QRectF(g.x0 + c - 30, g.y0 + g.side + 2, 60, fm.height()), Qt.AlignHCenter, str(k))
        p.drawText(QRectF(0, g.y0 + c - fm.height() / 2, g.x0 - 4, fm.height()),
                   Qt.AlignRight | Qt.AlignVCenter, str(k))
    p.drawText(QRectF(g.x0, 0, g.side, g.y0 - 4), Qt.AlignHCenter | Qt.AlignBottom, label)
    paint_colorbar(p, QRectF(g.x0 + g.side + BAR_GAP, g.y0, colorbar_width(fm, scale), g.side),
                   scale, fm, color)


def matrix_figure(n: int, image: QImage, scale: ColorScale, label: str, title: str) -> Figure:
    """A FIG_SIDE-pixel map under a title line, for PNG / SVG export."""
    fm = QFontMetrics(figure_font())
    left, top, right, bottom = margins(fm, scale)
    width = round(max(MARGIN + left + FIG_SIDE + right + MARGIN, fm.horizontalAdvance(title) + 2 * MARGIN))
    head = MARGIN + fm.height() + 6  # what paint_title takes

    def paint(p: QPainter) -> None:
        p.translate(0, paint_title(p, title, width))
        p.translate(MARGIN, 0)
        g = SquareGeometry(n, float(left), float(top), float(FIG_SIDE))
        paint_matrix(p, g, image, scale, label, FG, crisp=True)

    return Figure(width, round(head + top + FIG_SIDE + bottom + MARGIN), paint, title)
