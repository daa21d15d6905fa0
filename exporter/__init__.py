"""Offline exporter: checkpoints -> calibrated, quantized ONNX model packs."""
import app as _app  # noqa: F401  sets ORT_DISABLE_TELEMETRY=1 before onnxruntime loads
from packbuild.version import __version__  # noqa: F401  (one version for both writers)
