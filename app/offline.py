"""Offline guarantee: onnxruntime's telemetry is switched off before onnxruntime is first imported.

onnxruntime >= 1.29 starts 1DS telemetry on Linux and macOS unless `ORT_DISABLE_TELEMETRY=1` is in
the environment when it initializes (`onnxruntime.disable_telemetry_events()` is not enough).
Importing the `app`, `exporter` or `bench` package calls `disable_telemetry()`; every session
opener calls `require_telemetry_off()` so a path that imported onnxruntime some other way fails
loudly instead of sending data. Child processes inherit the variable through `os.environ`.
"""
from __future__ import annotations

import os
import sys

TELEMETRY_ENV = "ORT_DISABLE_TELEMETRY"


class TelemetryError(RuntimeError):
    """onnxruntime was (or would be) initialised with its telemetry on."""


def disable_telemetry() -> None:
    """Set ORT_DISABLE_TELEMETRY=1 (overriding any other value: the product promises no traffic)."""
    os.environ[TELEMETRY_ENV] = "1"


def require_telemetry_off() -> None:
    """Raise TelemetryError unless the variable is set; call before opening an onnxruntime session."""
    if os.environ.get(TELEMETRY_ENV) != "1":
        loaded = "already imported" if "onnxruntime" in sys.modules else "not yet imported"
        raise TelemetryError(f"{TELEMETRY_ENV} is {os.environ.get(TELEMETRY_ENV)!r}, not '1' (onnxruntime "
                             f"{loaded}): import app, exporter or bench before onnxruntime so its "
                             "telemetry stays off")
