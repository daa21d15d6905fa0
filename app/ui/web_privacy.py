"""Qt WebEngine kept offline: Chromium flags that stop its background traffic, and a request
interceptor that blocks every URL that is not local (the 3D page and 3Dmol.js load from disk)."""
from __future__ import annotations

import logging
import os

from PySide6.QtWebEngineCore import QWebEngineProfile, QWebEngineUrlRequestInterceptor

log = logging.getLogger(__name__)

FLAGS_ENV = "QTWEBENGINE_CHROMIUM_FLAGS"
# Chromium's own network features: component/safe-browsing updates, DNS prefetch, metrics
# uploads, domain reliability beacons, hyperlink auditing pings, sync.
OFFLINE_FLAGS = ("--disable-background-networking", "--disable-component-update",
                 "--disable-domain-reliability", "--disable-sync", "--no-pings", "--dns-prefetch-disable",
                 "--disable-breakpad", "--metrics-recording-only",
                 "--disable-features=SafeBrowsing,NetworkPrediction,OptimizationHints,"
                 "AutofillServerCommunication,MediaRouter,InterestFeedContentSuggestions")
LOCAL_SCHEMES = frozenset({"file", "data", "qrc", "about", "blob"})


def chromium_flags(existing: str, is_root: bool) -> str:
    """`existing` plus the offline flags (and --no-sandbox as root, where Chromium aborts without it)."""
    parts = existing.split()
    for flag in OFFLINE_FLAGS + (("--no-sandbox",) if is_root else ()):
        if flag not in parts:
            parts.append(flag)
    return " ".join(parts)


def set_chromium_flags() -> None:
    """Call before the QApplication exists (Chromium reads the variable once, at start)."""
    is_root = hasattr(os, "geteuid") and os.geteuid() == 0
    os.environ[FLAGS_ENV] = chromium_flags(os.environ.get(FLAGS_ENV, ""), is_root)


def is_local_url(scheme: str) -> bool:
    return scheme.lower() in LOCAL_SCHEMES


class LocalOnlyInterceptor(QWebEngineUrlRequestInterceptor):
    """Blocks any request whose scheme is not local (http, https, ws, ftp, ...), and logs it."""

    def __init__(self, parent=None) -> None:
        super().__init__(parent)
        self.blocked: list[str] = []

    def interceptRequest(self, info) -> None:  # noqa: N802 (Qt's name)
        url = info.requestUrl()
        if not is_local_url(url.scheme()):
            self.blocked.append(url.toString())
            log.warning("blocked a network request from the 3D view: %s", url.toString())
            info.block(True)


def offline_profile(parent=None) -> QWebEngineProfile:
    """An off-the-record profile: no disk cache, no cookies kept, no spell-check dictionaries,
    and the local-only interceptor."""
    profile = QWebEngineProfile(parent)  # no storage name: off the record
    profile.setHttpCacheType(QWebEngineProfile.HttpCacheType.NoCache)
    profile.setPersistentCookiesPolicy(QWebEngineProfile.PersistentCookiesPolicy.NoPersistentCookies)
    profile.setSpellCheckEnabled(False)
    interceptor = LocalOnlyInterceptor(profile)
    profile.setUrlRequestInterceptor(interceptor)
    profile._edgefold_interceptor = interceptor  # keep the Python object alive with the profile
    return profile
