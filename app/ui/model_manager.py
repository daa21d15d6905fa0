"""Model manager dialog (File > Models...): installed packs with what made them; verify, remove, import
a folder, get ESM-2. The logic is app.core.pack_admin's; this file only wires it to widgets and workers."""
from __future__ import annotations

import logging
from pathlib import Path
from typing import Callable, Optional

from PySide6.QtCore import QThreadPool, Qt, Signal, Slot
from PySide6.QtGui import QAction
from PySide6.QtWidgets import (QAbstractItemView, QApplication, QDialog, QFileDialog, QHBoxLayout, QHeaderView,
                               QLabel, QMainWindow, QMenu, QMessageBox, QProgressBar, QPushButton, QTableWidget,
                               QTableWidgetItem, QVBoxLayout, QWidget)

from app.core.jobs import CancelToken, Progress
from app.core.pack import user_packs_dir
from app.core.pack_admin import (COLUMNS, PackRow, dependents, import_pack, list_packs, remove_pack,
                                 verify_pack)
from app.ui import workers
from app.ui.errors import is_user_error, show_error
from app.ui.model_manager_get import GetEsm2Dialog, fit_progress
from app.ui.model_manager_watch import PacksWatcher

log = logging.getLogger(__name__)

ROW_ROLE = Qt.UserRole + 1


class ModelManagerDialog(QDialog):
    """Non-modal; one job (verify or import) at a time in its own pool. `packsChanged` after an
    install or removal, so the window re-scans at once (the folder watcher would, a moment later)."""

    packsChanged = Signal()

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle("Model packs")
        self.pool = QThreadPool(self)
        self.pool.setMaxThreadCount(1)
        self.worker: workers.Worker | None = None
        self.get_dialog: QDialog | None = None
        self.table = QTableWidget(0, len(COLUMNS))
        self.table.setHorizontalHeaderLabels(list(COLUMNS))
        self.table.setSelectionBehavior(QAbstractItemView.SelectRows)
        self.table.setSelectionMode(QAbstractItemView.SingleSelection)
        self.table.setEditTriggers(QAbstractItemView.NoEditTriggers)
        self.table.horizontalHeader().setSectionResizeMode(QHeaderView.ResizeToContents)
        self.table.horizontalHeader().setMaximumSectionSize(240)
        self.where = QLabel(f"Packs folder: {user_packs_dir()} (packs copied here appear without a restart)")
        self.where.setTextInteractionFlags(Qt.TextSelectableByMouse)
        self.status = QLabel("")
        self.status.setWordWrap(True)
        self.status.setTextInteractionFlags(Qt.TextSelectableByMouse)
        self.progress = QProgressBar()
        self.progress.setVisible(False)
        self.buttons = {key: QPushButton(text) for key, text in (
            ("verify", "Verify"), ("remove", "Remove\u2026"), ("import", "Import folder\u2026"),
            ("get", "Get ESM-2\u2026"), ("cancel", "Cancel"), ("close", "Close"))}
        self.buttons["verify"].clicked.connect(self.verify)
        self.buttons["remove"].clicked.connect(self.remove)
        self.buttons["import"].clicked.connect(lambda: self.import_folder())  # not clicked(bool) as the path
        self.buttons["get"].clicked.connect(self.get_esm2)
        self.buttons["cancel"].clicked.connect(self.cancel)
        self.buttons["close"].clicked.connect(self.close)
        self.table.itemSelectionChanged.connect(self._update_actions)
        row = QHBoxLayout()
        for key in ("verify", "remove", "import", "get"):
            row.addWidget(self.buttons[key])
        row.addStretch(1)
        row.addWidget(self.progress)
        row.addWidget(self.buttons["cancel"])
        row.addWidget(self.buttons["close"])
        layout = QVBoxLayout(self)
        layout.addWidget(self.where)
        layout.addWidget(self.table, 1)
        layout.addWidget(self.status)
        layout.addLayout(row)
        self.resize(1000, 360)
        self.refresh()

    # ---- listing ------------------------------------------------------------------------
    @Slot()
    def refresh(self) -> None:
        """Re-read the installed packs (keeps the selected one selected)."""
        chosen = self.selected()
        self.table.setRowCount(0)
        for r, row in enumerate(list_packs()):
            self.table.insertRow(r)
            tip = f"{row.info.path}\n({row.info.source})" + (f"\n\n{row.info.error}" if row.info.error else "") + \
                (f"\nsource sha256: {row.source_sha256}" if row.source_sha256 else "")
            for c, text in enumerate(row.cells()):
                item = QTableWidgetItem(text)
                item.setToolTip(tip)
                item.setData(ROW_ROLE, row)
                self.table.setItem(r, c, item)
            if chosen is not None and row.info.path == chosen.info.path:
                self.table.selectRow(r)
        self._update_actions()

    def rows(self) -> list[PackRow]:
        return [self.table.item(r, 0).data(ROW_ROLE) for r in range(self.table.rowCount())]

    def select(self, name: str) -> bool:
        for r, row in enumerate(self.rows()):
            if row.info.name == name:
                self.table.selectRow(r)
                return True
        return False

    def selected(self) -> Optional[PackRow]:
        items = self.table.selectedItems()
        return items[0].data(ROW_ROLE) if items else None

    def _update_actions(self) -> None:
        row, busy = self.selected(), self.worker is not None
        self.buttons["verify"].setEnabled(row is not None and not busy)
        self.buttons["remove"].setEnabled(row is not None and row.removable and not busy)
        self.buttons["remove"].setToolTip("" if row is None or row.removable else
                                          "The embedded default pack ships with the app and cannot be removed")
        self.buttons["import"].setEnabled(not busy)
        self.buttons["cancel"].setEnabled(busy)
        self.buttons["cancel"].setVisible(busy)

    # ---- actions ------------------------------------------------------------------------
    @Slot()
    def verify(self) -> bool:
        row = self.selected()
        if row is None:
            return False
        path = row.info.path
        return self._run(lambda progress, token: verify_pack(path), f"Verifying {row.info.name} (hashing every "
                         f"file)\u2026", lambda report: self.status.setText(report.summary()), "Verification failed")

    @Slot()
    def remove(self) -> bool:
        """Ask, then remove the selected pack (never the embedded default)."""
        row = self.selected()
        if row is None or self.worker is not None:
            return False
        if not row.removable:
            show_error(self, "Cannot remove", f"{row.info.name} ({row.info.path}) is the embedded default pack; "
                       f"it ships with the app and cannot be removed.")
            return False
        broken = dependents(row.info)
        warn = f"\n\n{len(broken)} delta pack(s) built on it will stop working: " \
               f"{', '.join(i.name for i in broken)}." if broken else ""
        answer = QMessageBox.question(self, "Remove model pack",
                                      f"Delete {row.info.name} from disk?\n\n{row.info.path}{warn}",
                                      QMessageBox.Yes | QMessageBox.No, QMessageBox.No)
        if answer != QMessageBox.Yes:
            return False
        try:
            remove_pack(row.info.path)
        except OSError as e:  # PackAdminError included
            show_error(self, "Cannot remove", str(e))
            return False
        self.status.setText(f"Removed {row.info.name} ({row.info.path}).")
        self.refresh()
        self.packsChanged.emit()
        return True

    @Slot()
    def import_folder(self, path: str | Path | None = None) -> bool:
        """Check a pack folder and copy it into the packs folder, in a worker (hashing and copying)."""
        if path is None:
            path = QFileDialog.getExistingDirectory(self, "Import model pack folder", str(Path.home()))
            if not path:
                return False
        src = Path(path)

        def job(progress: Progress, token: CancelToken) -> Path:
            return import_pack(src, progress=fit_progress(progress), cancel=token)

        return self._run(job, f"Checking and copying {src}\u2026", self._installed, "Import failed")

    @Slot()
    def get_esm2(self) -> QDialog:
        if self.get_dialog is None:
            self.get_dialog = GetEsm2Dialog(self)
            self.get_dialog.installed.connect(self._installed)
        self.get_dialog.show()
        self.get_dialog.raise_()
        return self.get_dialog

    @Slot(object)
    def _installed(self, path: Path) -> None:
        self.status.setText(f"Installed {path}.")
        self.refresh()
        self.select(Path(path).name) or self._select_path(Path(path))
        self.packsChanged.emit()

    def _select_path(self, path: Path) -> bool:
        for r, row in enumerate(self.rows()):
            if row.info.path.resolve() == path.resolve():
                self.table.selectRow(r)
                return True
        return False

    @Slot()
    def cancel(self) -> None:
        if self.worker is not None:
            self.worker.cancel()
            self.status.setText("Cancelling\u2026")

    def _run(self, job: workers.Job, message: str, on_result: Callable, fail_title: str) -> bool:
        if self.worker is not None:
            return False
        w = workers.Worker(job, name=message)
        w.signals.progress.connect(self._on_progress)
        w.signals.result.connect(on_result)
        w.signals.failed.connect(lambda e: self._on_failed(fail_title, e))
        w.signals.cancelled.connect(lambda: self.status.setText("Cancelled; nothing was installed."))
        w.signals.finished.connect(self._on_finished)
        self.worker = w
        self.progress.setRange(0, 0)
        self.progress.setVisible(True)
        self.status.setText(message)
        self._update_actions()
        workers.start(w, self.pool)
        return True

    @Slot(int, int, str)
    def _on_progress(self, done: int, total: int, message: str) -> None:
        self.progress.setRange(0, max(total, 0))
        self.progress.setValue(min(done, total) if total > 0 else 0)
        self.status.setText(message)

    def _on_failed(self, title: str, exc: BaseException) -> None:
        self.status.setText(f"{title}: {exc}")
        show_error(self, title, str(exc), "" if is_user_error(exc) or self.worker is None else self.worker.traceback)

    @Slot()
    def _on_finished(self) -> None:
        self.worker = None
        self.progress.setVisible(False)
        self._update_actions()

    def done(self, result: int) -> None:  # noqa: D401 - closing waits for a running job
        if self.get_dialog is not None:
            self.get_dialog.close()  # cancels a running build
        if self.worker is not None:
            self.worker.cancel()
            self.pool.waitForDone(10_000)
        super().done(result)


def attach(window: QMainWindow, rescan: Callable[[], None]) -> PacksWatcher:
    """Give `window` a File > Models... item (before 'Add pack folder...') and a packs-folder watcher
    that calls `rescan` when packs appear or vanish, without a restart."""
    watcher = PacksWatcher(window)
    watcher.changed.connect(rescan)
    act = QAction("&Models\u2026", window)
    act.setStatusTip("Installed model packs: verify, remove, import a folder, get ESM-2")

    def open_manager() -> None:
        dialog = getattr(window, "model_manager", None)
        if dialog is None:
            dialog = window.model_manager = ModelManagerDialog(window)
            dialog.packsChanged.connect(rescan)
            QApplication.instance().aboutToQuit.connect(dialog.close)  # quitting cancels a running job first
        dialog.refresh()
        dialog.show()
        dialog.raise_()

    act.triggered.connect(open_manager)
    before = getattr(window, "add_pack_act", None)
    menus = [m for m in window.menuBar().findChildren(QMenu) if before in m.actions()]
    if menus:
        menus[0].insertAction(before, act)
    else:
        window.menuBar().addAction(act)
    window.models_act = act
    return watcher
