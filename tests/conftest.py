"""Suite-wide: onnxruntime's telemetry is off before any test can import onnxruntime (app/offline.py)."""
import sys

assert "onnxruntime" not in sys.modules, "onnxruntime was imported before ORT_DISABLE_TELEMETRY was set"
import app  # noqa: E402,F401  sets ORT_DISABLE_TELEMETRY=1
