"""QtWebEngine stays offline: Chromium flags and the local-only request filter."""
from __future__ import annotations

import pytest

pytest.importorskip("PySide6.QtWebEngineCore")

from app.ui.web_privacy import OFFLINE_FLAGS, chromium_flags, is_local_url  # noqa: E402


def test_flags_are_added_once_and_keep_the_users():
    flags = chromium_flags("--disable-gpu-compositing --no-pings", is_root=False)
    parts = flags.split()
    assert parts[0] == "--disable-gpu-compositing"
    assert parts.count("--no-pings") == 1
    assert all(f in parts for f in OFFLINE_FLAGS)
    assert "--no-sandbox" not in parts
    assert "--disable-background-networking" in parts


def test_root_gets_no_sandbox():
    assert "--no-sandbox" in chromium_flags("", is_root=True).split()


@pytest.mark.parametrize("scheme,ok", [("file", True), ("data", True), ("qrc", True), ("about", True),
                                       ("http", False), ("https", False), ("HTTPS", False), ("ws", False),
                                       ("ftp", False)])
def test_only_local_schemes_pass(scheme, ok):
    assert is_local_url(scheme) is ok

# The profile itself (off the record, interceptor installed) is exercised by the GUI scenario of
# tests/test_privacy.py: QtWebEngine cannot start under the offscreen platform these tests use.
