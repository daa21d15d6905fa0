"""Offline exporter: checkpoints -> calibrated, quantized ONNX model packs."""
import app as _app  # noqa: F401  sets ORT_DISABLE_TELEMETRY=1 before onnxruntime loads
__version__ = "0.1.0"
