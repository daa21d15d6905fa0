"""Qt test setup: offscreen platform, isolated settings and pack directories."""
import hashlib
import json
import os
from pathlib import Path

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

import pytest  # noqa: E402
from PySide6.QtCore import QSettings  # noqa: E402


ALPHABET = {
    "tokens": ["<cls>", "<pad>", "<eos>", "<unk>", *"LAGVSERTIDPKQNFYMHWCXBUZO", ".", "-",
               "<null_1>", "<mask>"],
    "cls_idx": 0, "padding_idx": 1, "eos_idx": 2, "unk_idx": 3, "mask_idx": 32,
    "prepend_bos": True, "append_eos": True,
}


def write_pack(directory: Path, name: str = "fake", scheme: str = "int8",
               model_bytes: bytes = b"not really onnx", accuracy: dict | None = None) -> Path:
    """A structurally valid pack whose model file is `model_bytes` (hashes match)."""
    directory.mkdir(parents=True, exist_ok=True)
    (directory / "model.onnx").write_bytes(model_bytes)
    manifest = {
        "format": "edgefold-pack", "format_version": 1, "name": name, "task": "masked-lm",
        "architecture": {"family": "esm2", "max_tokens": 1024},
        "alphabet": ALPHABET, "scheme": scheme,
        "onnx": {"model": "model.onnx", "inputs": ["tokens"], "outputs": ["logits"]},
        "files": {"model.onnx": {"sha256": hashlib.sha256(model_bytes).hexdigest(),
                                 "bytes": len(model_bytes)}},
        "accuracy": accuracy if accuracy is not None else {},
        "license": "MIT (test)", "credits": "unit tests",
    }
    (directory / "manifest.json").write_text(json.dumps(manifest), encoding="utf-8")
    return directory


@pytest.fixture
def make_pack():
    """write_pack(directory, name=..., scheme=..., model_bytes=..., accuracy=...) -> Path."""
    return write_pack


@pytest.fixture
def settings(tmp_path):
    """A QSettings in a temporary INI file, so tests never read or write the user's settings."""
    s = QSettings(str(tmp_path / "settings.ini"), QSettings.IniFormat)
    yield s
    s.sync()


@pytest.fixture
def captured_errors(monkeypatch):
    """Replace QMessageBox.critical (and detailed boxes) with a recorder: [(title, text)]."""
    from PySide6.QtWidgets import QMessageBox

    calls = []
    monkeypatch.setattr(QMessageBox, "critical",
                        staticmethod(lambda parent, title, text, *a, **k: calls.append((title, text))))
    monkeypatch.setattr(QMessageBox, "exec",
                        lambda box: calls.append((box.windowTitle(), box.text())) or 0)
    return calls
