"""Exit codes of `python -m app` and `python -m exporter`, one convention (DESIGN.md section 4)."""
from __future__ import annotations

from .jobs import Cancelled
from .pack_error import PackError

FAILED = 1  # the run itself failed: inference, memory, the GUI not installed, any other error
USAGE = 2  # the arguments or inputs are wrong (argparse's own code): FASTA, pack, mutants, files, --out
INTERRUPTED = 130  # Ctrl-C (128 + SIGINT); nothing half-written is left behind

INPUT_ERRORS = (ValueError, OSError, PackError)


def exit_code(exc: BaseException) -> int:
    """The code a command line exits with when `exc` reaches it (an `exit_code` attribute wins)."""
    code = getattr(exc, "exit_code", None)
    if isinstance(code, int):
        return code
    if isinstance(exc, (KeyboardInterrupt, Cancelled)):
        return INTERRUPTED
    return USAGE if isinstance(exc, INPUT_ERRORS) else FAILED
