"""The 3D view's PNG from a real WebEngine page (3Dmol's pngURI). Needs a display: skipped on the
offscreen platform the suite uses; test_structure_export_xvfb.py runs it under Xvfb in CI. By hand:
  Xvfb :93 & DISPLAY=:93 QT_QPA_PLATFORM=xcb pytest tests/ui/test_structure_export_webengine.py
(scripts/check_installer.py runs the same path in the frozen app)."""
from __future__ import annotations

import os

import pytest
from PySide6.QtGui import QImage

from app.ui.confidence_colors import PLDDT_BANDS
from app.ui.image_export import render_png
from app.ui.self_test import helix_pdb
from app.ui.structure_view import StructureView, structure_figure, webengine_unavailable_reason
from test_image_export import colours  # tests/ui is on sys.path (no __init__.py)

# Chromium blocklists WebGL on a software rasteriser; SwiftShader draws it (read once, at the
# first WebEngine page, so setting it here, before any view exists in this process, works).
SOFTWARE_GL = "--enable-unsafe-swiftshader --use-gl=angle --use-angle=swiftshader"


def test_3d_view_png_has_the_cartoon_pixels(qtbot, monkeypatch) -> None:
    reason = webengine_unavailable_reason()
    if reason:
        pytest.skip(reason)
    if "QTWEBENGINE_CHROMIUM_FLAGS" not in os.environ:
        monkeypatch.setenv("QTWEBENGINE_CHROMIUM_FLAGS", SOFTWARE_GL + (" --no-sandbox" if os.geteuid() == 0 else ""))
    view = StructureView()
    qtbot.addWidget(view)
    view.resize(480, 360)
    view.show()
    view.set_structure(helix_pdb(24, 95.0))  # very high confidence: the cartoon is #0053D6
    qtbot.waitUntil(view.is_showing, timeout=30_000)
    got: list[QImage] = []

    def cartoon_drawn() -> bool:  # the page draws once 3Dmol.js has loaded: ask until it has
        got.clear()
        view.request_image(got.append)
        qtbot.waitUntil(lambda: bool(got), timeout=10_000)
        return len(colours(got[0])) > 8

    qtbot.waitUntil(cartoon_drawn, timeout=30_000)
    image = got[0]
    ratio = round(image.width() / view.width())
    figure = structure_figure(image, "helix \u2014 predicted structure", ratio)
    png = render_png(figure)
    assert (png.width(), png.height()) == (figure.width * ratio, figure.height * ratio)
    assert png.width() >= image.width()  # every canvas pixel kept
    blues = [c for c in colours(image) if c[2] > 150 and c[0] < 60]  # the shaded #0053D6 cartoon
    assert blues, "the cartoon is not coloured by its pLDDT band"
    assert {b.rgb for b in PLDDT_BANDS} <= colours(png)  # the legend under it
