"""Pixel <-> cell mapping of the heatmap (pure, no painting): residues on x, amino acids on y."""
from __future__ import annotations

import math
from dataclasses import dataclass

N_AA = 20


@dataclass(frozen=True)
class HeatmapGeometry:
    """Layout of the heatmap in viewport pixels.

    Residue i, amino acid j occupies x in [left + i*cell_w - scroll_x, ... + cell_w) and
    y in [top + j*row_h - scroll_y, ... + row_h). The gutters (x < left, y < top) hold labels
    and never scroll along their own axis.
    """

    n_residues: int
    left: int  # width of the amino-acid label gutter
    top: int  # height of the position / wild-type label gutter
    cell_w: float  # residue column width (zoom)
    row_h: float  # amino-acid row height
    scroll_x: int = 0
    scroll_y: int = 0

    def __post_init__(self) -> None:
        if self.cell_w <= 0 or self.row_h <= 0:
            raise ValueError(f"cell size must be positive, got {self.cell_w} x {self.row_h}")

    @property
    def content_width(self) -> int:
        return int(math.ceil(self.n_residues * self.cell_w))

    @property
    def content_height(self) -> int:
        return int(math.ceil(N_AA * self.row_h))

    def cell_at(self, x: float, y: float) -> tuple[int, int] | None:
        """(residue, amino-acid index) under viewport pixel (x, y), or None outside the cells."""
        if x < self.left or y < self.top:
            return None
        i = math.floor((x - self.left + self.scroll_x) / self.cell_w)
        j = math.floor((y - self.top + self.scroll_y) / self.row_h)
        if 0 <= i < self.n_residues and 0 <= j < N_AA:
            return i, j
        return None

    def column_x(self, i: float) -> float:
        """Viewport x of the left edge of residue column i."""
        return self.left + i * self.cell_w - self.scroll_x

    def row_y(self, j: float) -> float:
        """Viewport y of the top edge of amino-acid row j."""
        return self.top + j * self.row_h - self.scroll_y

    def cell_rect(self, i: int, j: int) -> tuple[float, float, float, float]:
        """(x, y, w, h) of cell (i, j) in viewport pixels."""
        return self.column_x(i), self.row_y(j), self.cell_w, self.row_h

    def visible_columns(self, viewport_w: int) -> tuple[int, int]:
        """Half-open range [i0, i1) of residues at least partly visible."""
        i0 = max(0, math.floor(self.scroll_x / self.cell_w))
        i1 = min(self.n_residues, math.ceil((self.scroll_x + viewport_w - self.left) / self.cell_w))
        return i0, max(i0, i1)


def label_step(cell_w: float, min_px: float = 36.0) -> int:
    """Residue-number spacing (1, 2, 5, 10, 20, 50, ...) so labels are >= min_px apart."""
    step = 1
    while step * cell_w < min_px:
        step = _next_step(step)
    return step


def _next_step(step: int) -> int:
    """1 -> 2 -> 5 -> 10 -> 20 -> 50 -> 100 ..."""
    exp = 10 ** int(math.floor(math.log10(step)))
    lead = step // exp
    return {1: 2 * exp, 2: 5 * exp, 5: 10 * exp}.get(lead, 10 * exp)
