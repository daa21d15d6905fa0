"""Model picker: installed packs (name, scheme, size, accuracy), broken ones disabled; delta packs under their base."""
from __future__ import annotations

import logging
from pathlib import Path

from PySide6.QtCore import QSettings, Qt, Signal, Slot
from PySide6.QtGui import QStandardItem, QStandardItemModel
from PySide6.QtWidgets import QComboBox, QHBoxLayout, QPushButton, QSizePolicy, QWidget

from app.core.pack import PackInfo, find_packs, pack_info
from app.core.pack_admin import ordered
from app.core.pack_summary import accuracy_summary, benchmark_summary, human_size  # noqa: F401 (re-exported)

log = logging.getLogger(__name__)

EXTRA_KEY = "packs/extra_folders"
CURRENT_KEY = "packs/current"
INFO_ROLE = Qt.UserRole + 1


def delta_metric(delta: dict) -> str:
    """A delta pack's task metric from its verification: the assay Spearman of base + delta (with the
    full fine-tune's and the base's beside it), else its logits fidelity to the fine-tune."""
    v = delta.get("verification") or {}
    a = v.get("assay") or {}
    if a.get("base+delta") is not None:
        parts = [f"{a.get('name', 'assay')} Spearman {float(a['base+delta']):.3f}"]
        if a.get("finetune") is not None and a.get("base") is not None:
            parts.append(f"(fine-tune {float(a['finetune']):.3f}, base {float(a['base']):.3f})")
        return " ".join(parts)
    if v.get("logits_sqnr_db") is not None:
        return f"fidelity to the fine-tune: {float(v['logits_sqnr_db']):.0f} dB"
    return "no task metric recorded"


def describe_delta(info: PackInfo, base: PackInfo | None) -> tuple[str, str]:
    """(combo text, tooltip) of a delta pack, shown under its base (`base` None: not listed here)."""
    d = info.delta
    ratio = d.get("ratio")
    codec = f"{d.get('method', 'delta')} {float(ratio):g}x" if ratio else str(d.get("method", "delta"))
    base_name = (d.get("base") or {}).get("name", "?")
    where = "" if base is not None else f" (base {base_name!r} not listed: found at load if installed)"
    text = f"\u21b3 {info.name} \u2014 fine-tune delta ({codec}), {human_size(info.size_bytes)}, " \
           f"{delta_metric(d)}{where}"
    v = d.get("verification") or {}
    detail = "\n".join(f"{k}: {val}" for k, val in v.items()) or "no verification recorded"
    tip = f"{info.path}\n({info.source})\n\nDelta pack on base {base_name!r} " \
          f"({(d.get('base') or {}).get('scheme', '?')}, manifest sha256 " \
          f"{str((d.get('base') or {}).get('manifest_sha256', ''))[:12]}...): the fine-tuned weights are " \
          f"rebuilt from the base at load.\n\nVerification:\n{detail}"
    return text, tip


def describe(info: PackInfo, base: PackInfo | None = None) -> tuple[str, str]:
    """(combo text, tooltip) of one pack (a delta pack: `describe_delta`)."""
    if not info.ok:
        return f"{info.name} (unusable)", f"{info.path}\n\n{info.error}"
    if info.is_delta:
        return describe_delta(info, base)
    text = f"{info.name} \u2014 {info.scheme}, {human_size(info.size_bytes)}, " \
           f"{benchmark_summary(info.benchmark)}; {accuracy_summary(info.accuracy)}"
    ref = info.accuracy.get("reference")
    detail = "\n".join(f"{k}: {v}" for k, v in info.accuracy.items()) or "no accuracy section"
    bench = info.benchmark
    bench_text = (f"{benchmark_summary(bench)} ({bench.get('method', '?')} scoring, Spearman to the "
                  f"measured DMS scores)" if bench.get("n_assays") else
                  "No benchmark recorded: this pack's quality as a predictor was not measured.")
    tip = f"{info.path}\n({info.source})" + (f"\nLicense: {info.license}" if info.license else "") + \
          f"\n\nWhat it is good for:\n{bench_text}\n\nFidelity of the quantized graph" + \
          (f" to {ref}" if ref else "") + f" (not a quality measure):\n{detail}"
    return text, tip


class ModelPicker(QWidget):
    """A combo box of packs plus an 'Add pack folder...' button; remembers choices in QSettings."""

    packChanged = Signal(object)  # PackInfo or None
    addFolderRequested = Signal()

    def __init__(self, settings: QSettings, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._settings = settings
        self.combo = QComboBox()
        self.combo.setModel(QStandardItemModel(self.combo))
        self.combo.setSizeAdjustPolicy(QComboBox.AdjustToMinimumContentsLengthWithIcon)
        self.combo.setMinimumContentsLength(28)
        self.combo.setSizePolicy(QSizePolicy.Expanding, QSizePolicy.Fixed)
        self.combo.setToolTip("Installed model packs")
        self.add_button = QPushButton("Add pack folder\u2026")
        self.add_button.clicked.connect(self.addFolderRequested)
        layout = QHBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.combo, 1)
        layout.addWidget(self.add_button)
        self.combo.currentIndexChanged.connect(self._on_index_changed)

    def _extra_folders(self) -> list[str]:
        value = self._settings.value(EXTRA_KEY, [])
        return [value] if isinstance(value, str) else list(value or [])

    @Slot()
    def reload(self) -> None:
        """List find_packs() plus remembered extra folders; reselect the remembered pack.

        Folding packs belong to the structure panel; this picker lists masked-LM (scoring) packs.
        """
        infos = find_packs()
        known = {i.path.resolve() for i in infos}
        for folder in self._extra_folders():
            if Path(folder).resolve() not in known:
                infos.append(pack_info(folder, "added"))
        self.set_packs([i for i in infos if i.task != "folding"])
        remembered = self._settings.value(CURRENT_KEY, "")
        if not (remembered and self.select_path(remembered)):
            self._select_first_usable()

    def set_packs(self, infos: list[PackInfo]) -> None:
        model: QStandardItemModel = self.combo.model()
        self.combo.blockSignals(True)
        model.clear()
        for info, base in ordered(infos):
            text, tip = describe(info, base)
            item = QStandardItem(text)
            item.setToolTip(tip)
            item.setData(info, INFO_ROLE)
            item.setEnabled(info.ok)
            model.appendRow(item)
        self.combo.setCurrentIndex(-1)
        self.combo.blockSignals(False)
        if not infos:
            self.combo.setPlaceholderText("No model pack installed: add a pack folder")

    def packs(self) -> list[PackInfo]:
        return [self.combo.itemData(r, INFO_ROLE) for r in range(self.combo.count())]

    def current_pack(self) -> PackInfo | None:
        info = self.combo.currentData(INFO_ROLE)
        return info if info is not None and info.ok else None

    def select_path(self, path: str | Path) -> bool:
        """Select the usable pack at path; False when it is not listed or broken."""
        target = Path(path).resolve()
        for row, info in enumerate(self.packs()):
            if info.ok and info.path.resolve() == target:
                self.combo.setCurrentIndex(row)
                return True
        return False

    def _select_first_usable(self) -> None:
        rows = [r for r, info in enumerate(self.packs()) if info.ok]
        self.combo.setCurrentIndex(rows[0] if rows else -1)
        if not rows:
            self.packChanged.emit(None)

    def add_folder(self, path: str | Path) -> PackInfo:
        """Describe the pack at path; when usable, list it, select it and remember it."""
        info = pack_info(path, "added")
        if not info.ok:
            return info
        folders = self._extra_folders()
        if str(info.path) not in folders:
            self._settings.setValue(EXTRA_KEY, folders + [str(info.path)])
        if not self.select_path(info.path):
            self.set_packs(self.packs() + [info])
            self.select_path(info.path)
        return info

    @Slot(int)
    def _on_index_changed(self, row: int) -> None:
        info = self.current_pack()
        self.setToolTip(describe(info)[1] if info else "")
        if info is not None:
            self._settings.setValue(CURRENT_KEY, str(info.path))
        self.packChanged.emit(info)
