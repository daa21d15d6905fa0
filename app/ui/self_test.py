"""`gui --self-test DIR`: drive the real window once and quit, so a frozen bundle can be checked by
a script (scripts/check_installer.py): Qt plugins load, the pack builder (packbuild, for Get
ESM-2) imports, the embedded pack scores in the GUI's worker, the heatmap exports as PNG and SVG
(QtSvg bundled), and where a 3D view can exist (a display, not the offscreen platform) WebEngine
draws a structure that exports as PNG."""
from __future__ import annotations

import json
import math
import time
from pathlib import Path
from typing import Callable

from PySide6.QtCore import QObject, QTimer
from PySide6.QtWidgets import QApplication

SEQUENCE = "MKTAYIAKQRQISFVKSHFSRQLEERLGLIEVQ"
TIMEOUT_S = 240.0
POLL_MS = 100


def helix_pdb(n: int, plddt: float) -> str:
    """An ideal alpha helix along x (N, CA, C, O per residue; 100 degrees, 1.5 A a residue), pLDDT
    in the B-factor column: something for the 3D view to draw without a folding pack."""
    lines, serial = [], 1
    for k in range(n):
        for name, radius, phase, rise in (("N", 1.55, -28.0, -0.8), ("CA", 2.3, 0.0, 0.0),
                                          ("C", 1.6, 28.0, 0.7), ("O", 1.9, 35.0, 1.9)):
            a = math.radians(100.0 * k + phase)
            x, y, z = 1.5 * k + rise, radius * math.cos(a), radius * math.sin(a)  # axis along x
            lines.append(f"ATOM  {serial:5d}  {name:<3s} ALA A{k + 1:4d}    {x:8.3f}{y:8.3f}{z:8.3f}"
                         f"  1.00{plddt:6.2f}           {name[0]}")
            serial += 1
    return "\n".join(lines + ["END", ""])


class SelfTest(QObject):
    """Runs the steps one after another on the event loop; `report` says what each found."""

    def __init__(self, window, out_dir: str | Path, on_done: Callable[[int], None] | None = None) -> None:
        super().__init__(window)
        self.window = window
        self.out = Path(out_dir)
        self.on_done = on_done or quit_app
        self.report: dict = {"ok": False, "steps": {}, "errors": []}
        self._deadline = time.monotonic() + TIMEOUT_S
        # a modal error box would wait for a click forever: record the errors instead
        window.show_error = lambda title, text, details="": self.report["errors"].append(f"{title}: {text}")

    def start(self) -> None:
        self.out.mkdir(parents=True, exist_ok=True)
        QTimer.singleShot(0, self._window_shown)

    # ---- steps --------------------------------------------------------------------------
    def _window_shown(self) -> None:
        w = self.window
        self.report["steps"]["window"] = {"visible": w.isVisible(), "width": w.width(),
                                          "height": w.height(), "platform": QApplication.platformName()}
        from app.core.pack_get import BuilderMissing, builder  # noqa: PLC0415

        try:  # "Get ESM-2" needs packbuild (with quant and onnx): a bundle must carry it
            self.report["steps"]["pack_builder"] = {"module": builder().__name__}
        except BuilderMissing as e:
            return self._finish(str(e))
        pack = w.picker.current_pack()
        if pack is None:
            return self._finish("no usable model pack (the embedded pack is missing from the bundle?)")
        w.editor.set_text(f">self-test\n{SEQUENCE}\n")
        t0 = time.monotonic()
        w.score()
        self._wait(lambda: w.worker is None, lambda: self._scored(pack.name, t0), "scoring")

    def _scored(self, pack_name: str, t0: float) -> None:
        w = self.window
        if w.result is None:
            return self._finish("scoring gave no result (see the error dialog text in the log)")
        paths = [self.out / "heatmap.png", self.out / "heatmap.svg"]
        for path in paths:
            w.image_export.export("heatmap", path)
        self.report["steps"]["score"] = {"pack": pack_name, "seconds": round(time.monotonic() - t0, 2),
                                         "residues": len(w.result.record), "images": [str(p) for p in paths]}
        if not all(p.is_file() and p.stat().st_size > 1000 for p in paths):
            return self._finish("the heatmap export wrote no PNG / SVG")
        viewer = w.fold_panel.viewer
        reason = viewer.unavailable_reason()
        if reason:
            self.report["steps"]["structure"] = {"skipped": reason}
            return self._finish("")
        w.fold_panel.show_structure(helix_pdb(30, 95.0), "self-test helix")
        w.fold_dock.show()
        self._wait(viewer.is_showing, self._structure_loaded, "loading the 3D page")

    def _structure_loaded(self) -> None:
        viewer, images = self.window.fold_panel.viewer, []

        def ask() -> None:  # the page draws once 3Dmol.js is ready: ask until the canvas has colour
            images.clear()
            viewer.request_image(images.append)

        def drawn() -> bool:
            if not images:
                return False
            if images[0].isNull() or len({images[0].pixel(x, y) for x in range(0, images[0].width(), 7)
                                          for y in range(0, images[0].height(), 7)}) <= 8:
                ask()
                return False
            return True

        ask()
        self._wait(drawn, lambda: self._export_structure(images[0]), "drawing the 3D view")

    def _export_structure(self, image) -> None:
        path = self.out / "structure.png"
        done: list[str] = []
        self.window.image_export.exported.connect(done.append)
        self.window.image_export.export("structure", path)
        self._wait(lambda: bool(done), lambda: self._structure_saved(path, image), "saving the 3D view")

    def _structure_saved(self, path: Path, image) -> None:
        self.report["steps"]["structure"] = {"image": str(path), "canvas": [image.width(), image.height()]}
        self._finish("")

    # ---- plumbing -----------------------------------------------------------------------
    def _wait(self, condition: Callable[[], bool], then: Callable[[], None], what: str) -> None:
        if condition():
            QTimer.singleShot(0, then)
        elif time.monotonic() > self._deadline:
            self._finish(f"timed out {what}")
        else:
            QTimer.singleShot(POLL_MS, lambda: self._wait(condition, then, what))

    def _finish(self, error: str) -> None:
        self.report["ok"] = not error
        self.report["error"] = error
        text = json.dumps(self.report, indent=1)
        (self.out / "self_test.json").write_text(text + "\n", encoding="utf-8")
        print(text, flush=True)
        self.on_done(0 if not error else 1)


def quit_app(code: int) -> None:
    """What the app does when its self-test ends: close the windows, leave the event loop."""
    QApplication.instance().closeAllWindows()
    QApplication.instance().exit(code)


def start_self_test(window, out_dir: str | Path, on_done: Callable[[int], None] | None = None) -> SelfTest:
    """Schedule the self-test on `window` (shown); then `on_done(exit code)`, by default
    `quit_app` (the application exits with it)."""
    test = SelfTest(window, out_dir, on_done)
    test.start()
    return test
