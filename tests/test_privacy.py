"""Nothing leaves the machine: the real programs under strace make no IPv4/IPv6 connect or send.

Runs scripts/privacy_check.py (each scenario >= 15 s, as onnxruntime's telemetry fires ~9 s after
a session opens). The loopback control (a UDP datagram to 127.0.0.1) must be caught, which shows the check sees
the traffic it looks for. (A bare onnxruntime session, the `control` scenario, is usually caught
too, but its telemetry uploader backs off between runs, so it cannot be asserted.) Needs strace (and Xvfb for the GUI), which
`scripts/setup.sh test` installs.
"""
from __future__ import annotations

import pytest

from privacy_helpers import run_check


@pytest.mark.slow
def test_app_makes_no_network_call_and_the_detector_sees_one(tmp_path):
    rc, results, log = run_check(tmp_path, "--scenarios", "loopback,session,score,gui")
    by_name = {r["scenario"]: r for r in results}
    assert set(by_name) == {"loopback", "session", "score", "gui"}, log
    calls = by_name["loopback"]["network_calls"]
    assert {c["call"] for c in calls} >= {"connect"} and "127.0.0.1" in calls[0]["args"], \
        "the detector missed a loopback datagram:\n" + log
    for name in ("session", "score", "gui"):
        res = by_name[name]
        assert res["exit_code"] == 0, f"{name} failed:\n{log}"
        assert res["seconds"] >= 15, log
        assert res["network_calls"] == [], f"{name} reached the network:\n{log}"
    # The GUI run really started Chromium (the 3D view), so its processes were traced too.
    assert "QtWebEngineProc" in by_name["gui"]["traced_processes"], log
    assert rc == 1  # the loopback control's failure is the script's verdict
