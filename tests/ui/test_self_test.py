"""`gui --self-test DIR` (the installer check's GUI run): it drives the real window and says what failed."""
from __future__ import annotations

import json

from PySide6.QtGui import QImage

from app.cli import build_parser
from app.ui.main_window import MainWindow
from app.ui.self_test import start_self_test


def run_self_test(qtbot, settings, out) -> dict:
    window = MainWindow(settings)
    qtbot.addWidget(window)
    window.show()
    codes: list[int] = []
    start_self_test(window, out, codes.append)  # the app would quit with the code
    qtbot.waitUntil(lambda: bool(codes), timeout=180_000)
    report = json.loads((out / "self_test.json").read_text())
    assert codes == [0 if report["ok"] else 1]
    return report


def test_self_test_scores_with_the_embedded_pack_and_exports(qtbot, settings, tmp_path, monkeypatch) -> None:
    monkeypatch.setenv("EDGEFOLD_PACKS", str(tmp_path / "no user packs"))  # the embedded default only
    report = run_self_test(qtbot, settings, tmp_path / "out")
    assert report["ok"] and report["error"] == "" and report["errors"] == []
    steps = report["steps"]
    assert steps["window"]["visible"] and steps["score"]["residues"] == 33
    assert steps["pack_builder"] == {"module": "packbuild"}
    png = QImage(str(tmp_path / "out" / "heatmap.png"))
    assert png.width() > 500 and png.height() > 500
    assert "log-likelihood (nats)" in (tmp_path / "out" / "heatmap.svg").read_text()
    assert "offscreen" in steps["structure"]["skipped"]  # no 3D view here: said, not failed


def test_self_test_fails_and_says_why_without_a_pack(qtbot, settings, packs_dir, tmp_path) -> None:
    report = run_self_test(qtbot, settings, tmp_path / "out")
    assert not report["ok"] and "no usable model pack" in report["error"]


def test_cli_takes_the_flag() -> None:
    assert build_parser().parse_args(["gui", "--self-test", "/tmp/x"]).self_test == "/tmp/x"
    assert build_parser().parse_args(["gui"]).self_test is None
