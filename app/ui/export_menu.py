"""File > Export image and the right-click menus of the heatmap, PAE, contact map and 3D view."""
from __future__ import annotations

from functools import partial
from pathlib import Path
from typing import Callable, Optional

from PySide6.QtCore import QObject, Qt, Signal, Slot
from PySide6.QtGui import QAction, QCursor
from PySide6.QtWidgets import QFileDialog, QMenu, QWidget

from app.core.outputs import safe_stem
from app.ui.image_export import NO_SVG_3D, Figure, write_figure
from app.ui.structure_view import structure_figure

PNG_FILTER, SVG_FILTER = "PNG image (*.png)", "SVG image (*.svg)"
LABELS = {"heatmap": "&Heatmap\u2026", "pae": "&PAE map\u2026", "contacts": "&Contact map\u2026",
          "structure": "&3D view (PNG only)\u2026"}
NAMES = {"heatmap": "heatmap", "pae": "PAE map", "contacts": "contact map", "structure": "3D view"}


class ImageExportMenu(QObject):
    """Needs `result`, `results`, `fold_panel`, `last_dir()`, `_remember_dir()`, `show_error()` and
    `statusBar()` on the window (MainWindow and its WindowFilesMixin)."""

    exported = Signal(str)  # the path written

    def __init__(self, window) -> None:
        super().__init__(window)
        self.window = window
        self.menu = QMenu("Export &image", window)
        self.menu.setToolTipsVisible(True)
        self.actions: dict[str, QAction] = {}
        for key, label in LABELS.items():
            action = self.menu.addAction(label)
            action.triggered.connect(partial(self.export, key))
            self.actions[key] = action
        self.actions["structure"].setToolTip(NO_SVG_3D)
        self.menu.aboutToShow.connect(self.update_actions)
        for key, widget in self.widgets().items():
            widget.setContextMenuPolicy(Qt.CustomContextMenu)
            widget.customContextMenuRequested.connect(partial(self._context_menu, key))
        self.update_actions()

    def widgets(self) -> dict[str, QWidget]:
        panel = self.window.fold_panel
        return {"heatmap": self.window.results.heatmap, "pae": panel.pae, "contacts": panel.contacts,
                "structure": panel.viewer}

    # ---- what can be exported -----------------------------------------------------------
    def record_id(self, key: str) -> str:
        if key == "heatmap":
            return self.window.result.record.id if self.window.result is not None else ""
        if key == "contacts":
            return self.window.fold_panel.contacts.record_id()
        outcome = self.window.fold_panel.outcome
        return outcome.record.id if outcome is not None else ""

    def title(self, key: str) -> str:
        rid, panel = self.record_id(key), self.window.fold_panel
        if key == "heatmap":
            r = self.window.result
            return f"{rid} \u2014 mutation effect scores ({len(r.record)} aa; {r.method}, {r.pack_name})"
        if key == "contacts":
            return ""  # the contact view's own title names its record
        outcome = panel.outcome
        what = "predicted aligned error" if key == "pae" else "predicted structure"
        return (f"{rid} \u2014 {what} (mean pLDDT {outcome.mean_plddt:.1f}, pTM {outcome.ptm:.3f}; "
                f"{outcome.pack_name})") if outcome is not None else what

    def why_not(self, key: str) -> str:
        """'' when `key` can be exported now, else why not (the action's tooltip)."""
        panel = self.window.fold_panel
        if key == "heatmap" and self.window.result is None:
            return "Score a sequence first"
        if key == "pae" and panel.pae.pae().shape[0] == 0:
            return "Fold a sequence first"
        if key == "contacts" and panel.contacts.image().isNull():
            return "Compute embeddings (with contacts) first"
        if key == "structure" and not panel.viewer.is_showing():
            return panel.viewer.unavailable_reason() or "Fold a sequence first"
        return ""

    @Slot()
    def update_actions(self) -> None:
        for key, action in self.actions.items():
            reason = self.why_not(key)
            action.setEnabled(not reason)
            action.setStatusTip(reason or f"Save the {NAMES[key]} as an image")
            if key != "structure":
                action.setToolTip(reason or f"Save the {NAMES[key]} as PNG or SVG")

    def _context_menu(self, key: str, _pos) -> None:
        menu = QMenu(self.window)
        action = menu.addAction(f"Export {NAMES[key]} image\u2026", partial(self.export, key))
        reason = self.why_not(key)
        action.setEnabled(not reason)
        if key == "structure":
            menu.addAction(NO_SVG_3D).setEnabled(False)  # say why there is no SVG here
        elif reason:
            menu.addAction(reason).setEnabled(False)
        menu.exec(QCursor.pos())

    # ---- exporting ----------------------------------------------------------------------
    def default_path(self, key: str) -> Path:
        """<last folder>/<record id, file-name safe>_<what>.png: sp|P1|X -> sp_P1_X_heatmap.png."""
        stem = safe_stem(self.record_id(key) or "edgefold")
        return Path(self.window.last_dir()) / f"{stem}_{key}.png"

    def ask_path(self, key: str) -> Optional[Path]:
        vector = key != "structure"
        caption = f"Export {NAMES[key]} image" + ("" if vector else f" \u2014 {NO_SVG_3D}")
        filters = f"{PNG_FILTER};;{SVG_FILTER}" if vector else PNG_FILTER
        path, chosen = QFileDialog.getSaveFileName(self.window, caption, str(self.default_path(key)),
                                                   filters)
        if not path:
            return None
        path = Path(path)
        if path.suffix.lower() not in (".png", ".svg"):
            path = path.with_name(path.name + (".svg" if chosen == SVG_FILTER else ".png"))
        return path

    def make_figure(self, key: str, callback: Callable[[Optional[Figure]], None]) -> None:
        """Build `key`'s figure and pass it to callback (later, for the 3D view's pixels)."""
        if key == "structure":
            title, viewer = self.title(key), self.window.fold_panel.viewer

            def done(image) -> None:
                ratio = round(image.width() / max(1, viewer.width()))
                callback(None if image.isNull() else structure_figure(image, title, ratio))

            started = viewer.request_image(done)
            if not started:
                callback(None)
            return
        callback(self.widgets()[key].figure(self.title(key)))

    @Slot()
    def export(self, key: str, path: str | Path | None = None) -> bool:
        """Export `key` ('heatmap', 'pae', 'contacts', 'structure') to path (asked when None)."""
        reason = self.why_not(key)
        if reason:
            self.window.show_error("Nothing to export", f"The {NAMES[key]} cannot be exported: {reason}.")
            return False
        path = Path(path) if path is not None else self.ask_path(key)
        if path is None:
            return False
        if key == "structure" and path.suffix.lower() == ".svg":
            self.window.show_error("SVG not available", NO_SVG_3D)
            return False
        self.make_figure(key, partial(self._write, key, path))
        return True

    def _write(self, key: str, path: Path, figure: Optional[Figure]) -> None:
        if figure is None:
            self.window.show_error("Export failed", f"{path}: the {NAMES[key]} gave no image.")
            return
        try:
            write_figure(figure, path)
        except (OSError, ValueError) as e:
            self.window.show_error("Export failed", f"{path}: {e}")
            return
        self.window._remember_dir(path)
        self.window.statusBar().showMessage(f"Saved the {NAMES[key]} to {path}", 8000)
        self.exported.emit(str(path))
