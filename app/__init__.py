"""EdgeFold desktop app: headless core (app.core), CLI (app.cli) and Qt GUI (app.ui)."""
from .offline import disable_telemetry as _disable_telemetry

_disable_telemetry()  # before anything below can import onnxruntime (app/offline.py)
