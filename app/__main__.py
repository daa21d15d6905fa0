"""Entry point: `python -m app` opens the GUI; `python -m app score|embed ...` runs headless."""
from __future__ import annotations

import sys
import threading
from typing import Optional, Sequence


def _thread_excepthook(args: threading.ExceptHookArgs) -> None:
    print(f"error: in thread {args.thread.name if args.thread else '?'}: "
          f"{args.exc_type.__name__}: {args.exc_value}", file=sys.stderr)


def main(argv: Optional[Sequence[str]] = None) -> int:
    threading.excepthook = _thread_excepthook
    from app.cli import main as cli_main

    return cli_main(sys.argv[1:] if argv is None else argv)


if __name__ == "__main__":
    sys.exit(main())
