"""Figures as files: one painting callback rendered to PNG (raster) or SVG (vector, QtSvg), atomically."""
from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

from PySide6.QtCore import QBuffer, QByteArray, QIODevice, QRect, QRectF, QSize, Qt
from PySide6.QtGui import QColor, QFont, QFontMetrics, QImage, QPainter

from app.core.outputs import atomic_open

PNG_SCALE = 2  # exported PNGs have twice the figure's pixels: sharp on high-DPI screens and in print
MARGIN = 12
FG = QColor(20, 20, 20)  # figures are black on white whatever the desktop theme
BG = QColor(255, 255, 255)
NO_SVG_3D = "SVG is not available for the 3D view: WebGL draws pixels, not shapes. Export PNG."


@dataclass(frozen=True)
class Figure:
    """A figure of width x height (device-independent pixels); `paint` draws it from (0, 0)."""

    width: int
    height: int
    paint: Callable[[QPainter], None]
    title: str
    vector: bool = True  # False: only PNG makes sense (the 3D view's pixels)
    png_scale: int = PNG_SCALE  # 1 where the figure is already an image at full resolution

    def size(self) -> QSize:
        return QSize(self.width, self.height)


def figure_font(bold: bool = False) -> QFont:
    """A pixel-size font: layout and painting agree on any device (SVG is 72 dpi, a screen 96)."""
    font = QFont()
    font.setPixelSize(12)
    font.setBold(bold)
    return font


def paint_title(p: QPainter, text: str, width: float) -> float:
    """Draw a bold title line at the top of the figure; returns the y where the content starts."""
    p.save()
    p.setFont(figure_font(bold=True))
    fm = QFontMetrics(p.font())
    p.setPen(FG)
    p.drawText(QRectF(MARGIN, MARGIN, width - 2 * MARGIN, fm.height()), Qt.AlignLeft | Qt.AlignVCenter,
               fm.elidedText(text, Qt.ElideRight, round(width - 2 * MARGIN)))
    p.restore()
    return MARGIN + fm.height() + 6


def draw_cells(p: QPainter, target: QRectF, image: QImage) -> None:
    """Draw a one-pixel-per-cell image into target with crisp (nearest) cells, also in SVG, where
    a viewer would smooth a small image: scale it first to twice the target's pixels."""
    if image.isNull() or target.width() <= 0 or target.height() <= 0:
        return
    size = QSize(max(1, round(target.width() * PNG_SCALE)), max(1, round(target.height() * PNG_SCALE)))
    p.drawImage(target, image.scaled(size, Qt.IgnoreAspectRatio, Qt.FastTransformation))


def render_png(figure: Figure, scale: int | None = None) -> QImage:
    """The figure as a white-background ARGB image of (width, height) * scale pixels."""
    scale = figure.png_scale if scale is None else scale
    image = QImage(figure.width * scale, figure.height * scale, QImage.Format_ARGB32)
    image.fill(BG)
    image.setDevicePixelRatio(1.0)
    p = QPainter(image)
    p.setRenderHint(QPainter.TextAntialiasing, True)
    p.scale(scale, scale)
    p.setFont(figure_font())
    figure.paint(p)
    p.end()
    return image


def render_svg(figure: Figure) -> bytes:
    """The figure as SVG bytes: text and lines stay vector; cell maps are embedded images."""
    from PySide6.QtSvg import QSvgGenerator  # noqa: PLC0415 (only needed when exporting SVG)

    if not figure.vector:
        raise ValueError(NO_SVG_3D)
    data = QByteArray()
    buffer = QBuffer(data)
    buffer.open(QIODevice.WriteOnly)
    gen = QSvgGenerator()
    gen.setOutputDevice(buffer)
    gen.setSize(figure.size())
    gen.setResolution(96)  # the default 72 dpi would make viewers show it 4/3 too large
    gen.setViewBox(QRect(0, 0, figure.width, figure.height))
    gen.setTitle(figure.title)
    gen.setDescription("Exported by EdgeFold")
    p = QPainter(gen)
    p.fillRect(QRectF(0, 0, figure.width, figure.height), BG)
    p.setFont(figure_font())
    figure.paint(p)
    p.end()
    buffer.close()
    return bytes(data.data())


def png_bytes(image: QImage) -> bytes:
    data = QByteArray()
    buffer = QBuffer(data)
    buffer.open(QIODevice.WriteOnly)
    if not image.save(buffer, "PNG"):
        raise OSError("could not encode the image as PNG")
    buffer.close()
    return bytes(data.data())


def write_figure(figure: Figure, path: str | os.PathLike) -> Path:
    """Write figure to path as PNG or SVG (by suffix), atomically with the user's umask."""
    path = Path(path)
    kind = path.suffix.lower()
    if kind == ".svg":
        data = render_svg(figure)
    elif kind == ".png":
        data = png_bytes(render_png(figure))
    else:
        raise ValueError(f"{path}: unknown image type {path.suffix!r}; use .png or .svg")
    with atomic_open(path, "wb") as f:
        f.write(data)
    return path
