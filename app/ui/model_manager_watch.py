"""Watch the packs folder, so a pack copied in (by the manager, a shell or a file manager) shows up
without a restart.

QFileSystemWatcher reports a directory's own entries appearing and going (not a file growing), so
the packs folder, each pack folder in it and each file of those are watched: a `cp -r` creates the
folder first, then each file, then writes it for seconds (a 650M pack). A missing packs folder is
waited for by watching its nearest existing ancestor. Bursts of events are folded into one
`changed` signal once everything has been quiet for `quiet_ms`, so a pack still being copied is
listed again once its last file is complete.
"""
from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import QFileSystemWatcher, QObject, QTimer, Signal, Slot

from app.core.pack import user_packs_dir

QUIET_MS = 400


def watched_paths(root: Path) -> list[str]:
    """The packs folder and its non-hidden sub-folders; when it does not exist, its nearest ancestor."""
    if not root.is_dir():
        parent = root.parent
        while not parent.is_dir() and parent != parent.parent:
            parent = parent.parent
        return [str(parent)] if parent.is_dir() else []
    subs = [p for p in sorted(root.iterdir()) if p.is_dir() and not p.name.startswith(".")]
    return [str(root)] + [str(p) for p in subs]


def watched_files(root: Path) -> list[str]:
    """The files directly inside each pack folder (where a copy writes for a long time)."""
    if not root.is_dir():
        return []
    return [str(f) for d in sorted(root.iterdir()) if d.is_dir() and not d.name.startswith(".")
            for f in sorted(d.iterdir()) if f.is_file()]


class PacksWatcher(QObject):
    """Emits `changed` after the packs folder (or a pack in it) changed and then stayed quiet."""

    changed = Signal()

    def __init__(self, parent: QObject | None = None, quiet_ms: int = QUIET_MS) -> None:
        super().__init__(parent)
        self._fs = QFileSystemWatcher(self)
        self._timer = QTimer(self)
        self._timer.setSingleShot(True)
        self._timer.setInterval(quiet_ms)
        self._timer.timeout.connect(self._settled)
        self._fs.directoryChanged.connect(self._poke)
        self._fs.fileChanged.connect(self._poke)
        self.rewatch()

    def paths(self) -> list[str]:
        return sorted(self._fs.directories() + self._fs.files())

    @Slot()
    def rewatch(self) -> None:
        """Watch what `watched_paths` names now (the packs folder may have moved with $EDGEFOLD_PACKS)."""
        root = user_packs_dir()
        want = set(watched_paths(root)) | set(watched_files(root))
        have = set(self._fs.directories()) | set(self._fs.files())
        if have - want:
            self._fs.removePaths(sorted(have - want))
        if want - have:
            self._fs.addPaths(sorted(want - have))

    @Slot(str)
    def _poke(self, _path: str) -> None:
        self._timer.start()  # restarted by every event: fires once the burst is over

    @Slot()
    def _settled(self) -> None:
        self.rewatch()
        self.changed.emit()
