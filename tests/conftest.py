"""Suite-wide: onnxruntime's telemetry is off before any test can import onnxruntime (app/offline.py);
fixtures the app and UI tests share."""
import sys

assert "onnxruntime" not in sys.modules, "onnxruntime was imported before ORT_DISABLE_TELEMETRY was set"
import app  # noqa: E402,F401  sets ORT_DISABLE_TELEMETRY=1
import pytest  # noqa: E402


@pytest.fixture
def packs_dir(tmp_path, monkeypatch):
    """An empty $EDGEFOLD_PACKS; the embedded default pack is hidden so listings are exact."""
    root = tmp_path / "packs"
    root.mkdir()
    monkeypatch.setenv("EDGEFOLD_PACKS", str(root))
    monkeypatch.setattr("app.core.pack.default_pack_dir", lambda: tmp_path / "no_default_pack")
    return root
