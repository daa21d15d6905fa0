"""Image export: PNG size and real pixels, SVG that parses and carries the colour bar title and units."""
from __future__ import annotations

import base64
import xml.etree.ElementTree as ET

import numpy as np
import pytest
from PySide6.QtCore import QBuffer, QByteArray, QIODevice
from PySide6.QtGui import QColor, QImage

from app.ui.colorbar import SCORE_TITLE
from app.ui.confidence_colors import GREENS_R, PLDDT_BANDS
from app.ui.contact_view import CONTACT_TITLE, ContactView
from app.ui.heatmap import HeatmapView
from app.ui.image_export import NO_SVG_3D, PNG_SCALE, render_png, render_svg, write_figure
from app.ui.mutations import AMINO_ACIDS
from app.ui.pae_view import PAE_TITLE, PaeView
from app.ui.structure_view import image_from_data_url, structure_figure

SVG = "{http://www.w3.org/2000/svg}"
SEQ = "MKTAYIAKQRQISFVKSHFSRQLEERLGLIEVQAPILSRVGDGTQDNLSGAEK"


def colours(image: QImage) -> set[tuple[int, int, int]]:
    """The distinct RGB colours of an image."""
    image = image.convertToFormat(QImage.Format_RGB888)
    w, h, bpl = image.width(), image.height(), image.bytesPerLine()
    raw = np.frombuffer(bytes(image.constBits()), np.uint8).reshape(h, bpl)[:, : 3 * w].reshape(-1, 3)
    packed = np.unique((raw[:, 0].astype(np.uint32) << 16) | (raw[:, 1].astype(np.uint32) << 8) | raw[:, 2])
    return {(int(v >> 16), int(v >> 8) & 255, int(v) & 255) for v in packed}


def svg_text(path) -> tuple[ET.Element, str]:
    root = ET.parse(path).getroot()  # raises on malformed XML
    # QSvgGenerator splits a string into runs by script ("\u0394 " and "log-likelihood (nats)")
    return root, "".join(e.text or "" for e in root.iter(f"{SVG}text"))


@pytest.fixture
def heatmap(qtbot):
    scores = np.random.default_rng(0).normal(0, 2, size=(len(SEQ), 20))
    scores[3, AMINO_ACIDS.index("W")] = -40.0  # clipped at -vmax: the darkest red
    scores[5, AMINO_ACIDS.index("K")] = +40.0  # clipped at +vmax: the darkest blue
    v = HeatmapView()
    qtbot.addWidget(v)
    v.resize(300, 260)  # the export shows the whole sequence, whatever the view shows
    v.set_scores(SEQ, scores)
    return v


def test_heatmap_png_has_the_figure_size_and_the_scale_end_colours(heatmap, tmp_path) -> None:
    fig = heatmap.figure("sp|P0A7V0|RS2_ECOLI \u2014 scores")
    assert fig.width > len(SEQ) * 14 and fig.height > 20 * 14  # every residue, every amino acid
    path = write_figure(fig, tmp_path / "h.png")
    image = QImage(str(path))
    assert (image.width(), image.height()) == (fig.width * PNG_SCALE, fig.height * PNG_SCALE)
    seen = colours(image)
    assert {(103, 0, 31), (5, 48, 97), (247, 247, 247)} <= seen  # RdBu ends and its white centre
    assert len(seen) > 100  # cells, gradient, anti-aliased text: not a blank or flat image


def test_heatmap_svg_parses_and_names_the_scale(heatmap, tmp_path) -> None:
    fig = heatmap.figure("sp|P0A7V0|RS2_ECOLI \u2014 scores")
    root, text = svg_text(write_figure(fig, tmp_path / "h.svg"))
    assert root.get("viewBox") == f"0 0 {fig.width} {fig.height}"
    assert float(root.get("width").removesuffix("mm")) == pytest.approx(fig.width / 96 * 25.4, abs=0.1)  # CSS px
    assert SCORE_TITLE in text and "\u0394 log-likelihood (nats)" == SCORE_TITLE
    assert "sp|P0A7V0|RS2_ECOLI" in text and root.find(f"{SVG}title").text.startswith("sp|P0A7V0")
    assert "".join(AMINO_ACIDS) in "".join(e.text or "" for e in root.iter(f"{SVG}text") if len(e.text or "") == 1)
    assert len(list(root.iter(f"{SVG}image"))) >= 2  # the cells and the colour bar gradient


def test_empty_views_have_no_figure(qtbot) -> None:
    assert HeatmapView().figure("x") is None and PaeView().figure("x") is None
    assert ContactView().figure() is None


def test_pae_png_and_svg(qtbot, tmp_path) -> None:
    pae = np.random.default_rng(1).uniform(0.0, 31.0, (40, 40))
    pae[np.arange(40), np.arange(40)] = 0.0  # the diagonal: dark green
    view = PaeView()
    qtbot.addWidget(view)
    view.set_pae(pae)
    fig = view.figure("P1 \u2014 predicted aligned error")
    image = render_png(fig)
    assert (image.width(), image.height()) == (fig.width * 2, fig.height * 2)
    assert tuple(int(c) for c in GREENS_R[0]) in colours(image) and (247, 252, 245) in colours(image)
    root, text = svg_text(write_figure(fig, tmp_path / "pae.svg"))
    assert PAE_TITLE in text and PAE_TITLE == "PAE (\u00c5)" and "\u226530" in text


def test_contact_map_png_and_svg(qtbot, tmp_path) -> None:
    contacts = np.zeros((30, 30))
    contacts[np.arange(30), np.arange(30)] = 1.0
    view = ContactView()
    qtbot.addWidget(view)
    view.set_contacts(contacts, "sp|Q1|X")
    fig = view.figure()
    image = QImage(str(write_figure(fig, tmp_path / "c.png")))
    assert image.width() == fig.width * 2 and {(0, 0, 0), (255, 255, 255)} <= colours(image)
    root, text = svg_text(write_figure(fig, tmp_path / "c.svg"))
    assert CONTACT_TITLE in text and "sp|Q1|X" in text


def test_unknown_suffix_is_refused_and_nothing_written(heatmap, tmp_path) -> None:
    with pytest.raises(ValueError, match=r"x\.jpg.*\.png or \.svg"):
        write_figure(heatmap.figure("t"), tmp_path / "x.jpg")
    assert list(tmp_path.iterdir()) == []


def png_data_url(image: QImage) -> str:
    data = QByteArray()
    buf = QBuffer(data)
    buf.open(QIODevice.WriteOnly)
    image.save(buf, "PNG")
    return "data:image/png;base64," + base64.b64encode(bytes(data.data())).decode()


def test_3d_figure_is_png_only_with_the_plddt_legend(qtbot) -> None:
    canvas = QImage(320, 200, QImage.Format_RGB32)
    canvas.fill(QColor(10, 200, 30))
    decoded = image_from_data_url(png_data_url(canvas))  # what 3Dmol's pngURI returns
    assert (decoded.width(), decoded.height()) == (320, 200)
    assert image_from_data_url("") .isNull() and image_from_data_url("data:image/png;base64,@@").isNull()
    fig = structure_figure(decoded, "P1 \u2014 predicted structure")
    image = render_png(fig)
    assert (image.width(), image.height()) == (fig.width, fig.height) and fig.width >= 320
    seen = colours(image)
    assert (10, 200, 30) in seen and {b.rgb for b in PLDDT_BANDS} <= seen
    with pytest.raises(ValueError, match="SVG is not available for the 3D view"):
        render_svg(fig)
    assert "WebGL" in NO_SVG_3D


# ---- the window: File > Export image, default names, last folder ---------------------------
@pytest.fixture
def window(qtbot, settings, packs_dir):
    from app.ui.main_window import MainWindow

    w = MainWindow(settings)
    qtbot.addWidget(w)
    return w


def scored(window, record_id: str = "sp|P0A7V0|RS2_ECOLI") -> None:
    from app.core.fasta import Record
    from app.ui.scoring_job import ScoreResult

    record = Record(record_id, "", SEQ)
    scores = np.random.default_rng(2).normal(0, 2, size=(len(SEQ), 20)).astype(np.float32)
    window._on_result(ScoreResult(record, "wt-marginal", "tiny-pack", scores, 0.1, None))


def test_export_actions_follow_what_is_shown(window) -> None:
    menu = window.image_export
    assert menu.menu.menuAction() in window.menuBar().actions()[0].menu().actions()  # under File
    menu.update_actions()
    assert not any(a.isEnabled() for a in menu.actions.values())
    assert "offscreen" in menu.why_not("structure")  # no WebEngine here: says why
    scored(window)
    menu.update_actions()
    assert menu.actions["heatmap"].isEnabled() and not menu.actions["pae"].isEnabled()
    window.fold_panel.pae.set_pae(np.full((5, 5), 3.0))
    menu.update_actions()
    assert menu.actions["pae"].isEnabled()


def test_dialog_opens_in_the_last_folder_with_a_safe_name_and_adds_the_suffix(
        window, tmp_path, monkeypatch, qtbot) -> None:
    from PySide6.QtWidgets import QFileDialog

    from app.ui.export_menu import SVG_FILTER

    window.settings.setValue("paths/last_dir", str(tmp_path))
    scored(window)
    asked = []

    def fake_dialog(parent, caption, start, filters):
        asked.append((caption, start, filters))
        return str(tmp_path / "out" / "figure"), SVG_FILTER  # no suffix typed: SVG chosen

    (tmp_path / "out").mkdir()
    monkeypatch.setattr(QFileDialog, "getSaveFileName", staticmethod(fake_dialog))
    with qtbot.waitSignal(window.image_export.exported) as sig:
        assert window.image_export.export("heatmap")
    assert asked[0][1] == str(tmp_path / "sp_P0A7V0_RS2_ECOLI_heatmap.png")
    assert "SVG" in asked[0][2] and "PNG" in asked[0][2]
    assert sig.args == [str(tmp_path / "out" / "figure.svg")]
    _, text = svg_text(tmp_path / "out" / "figure.svg")
    assert SCORE_TITLE in text and "sp|P0A7V0|RS2_ECOLI" in text and "tiny-pack" in text
    assert window.last_dir() == str(tmp_path / "out")  # the next dialog opens there


def test_export_errors_name_the_path_and_leave_nothing(window, tmp_path, captured_errors) -> None:
    scored(window)
    missing = tmp_path / "no such folder" / "x.png"
    assert window.image_export.export("heatmap", missing)
    assert captured_errors and str(missing) in captured_errors[-1][1]
    assert not missing.parent.exists()
    assert not window.image_export.export("structure", tmp_path / "x.png")  # nothing shown: refused
    assert "3D view cannot be exported" in captured_errors[-1][1]
