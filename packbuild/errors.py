"""The two ways a pack build ends early: a BuildError naming the input, or the user's cancel."""
from __future__ import annotations

from app.core.jobs import Cancelled as _JobCancelled


class BuildError(Exception):
    """A build that cannot go on; the message names the source (name, URL or file) and what failed."""


class Cancelled(_JobCancelled):
    """The user cancelled the build (`cancel.set()`); an `app.core.jobs.Cancelled`, so the app's
    job code treats it as any cancelled job."""
