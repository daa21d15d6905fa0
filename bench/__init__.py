"""EdgeFold measurement scripts: speed, latency and accuracy of exported model packs."""
import app as _app  # noqa: F401  sets ORT_DISABLE_TELEMETRY=1 before onnxruntime loads
