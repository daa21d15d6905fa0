"""Entry point: `python -m app` opens the GUI; `python -m app score|embed ...` runs headless."""
from __future__ import annotations

import sys
import threading
from typing import Optional, Sequence


def launch_gui() -> int:
    """Import the Qt window lazily (the headless CLI never loads PySide6) and run it."""
    try:
        from app.ui import main_window  # noqa: PLC0415 (lazy on purpose)
    except ImportError as e:
        print(f"error: the desktop app is not available ({e}); "
              f"the headless commands still work: python -m app score|embed --help",
              file=sys.stderr)
        return 1
    entry = getattr(main_window, "main", None)
    if entry is None:
        print("error: app.ui.main_window has no main() entry point", file=sys.stderr)
        return 1
    return int(entry() or 0)


def _thread_excepthook(args: threading.ExceptHookArgs) -> None:
    print(f"error: in thread {args.thread.name if args.thread else '?'}: "
          f"{args.exc_type.__name__}: {args.exc_value}", file=sys.stderr)


def main(argv: Optional[Sequence[str]] = None) -> int:
    threading.excepthook = _thread_excepthook
    from app.cli import main as cli_main

    return cli_main(sys.argv[1:] if argv is None else argv)


if __name__ == "__main__":
    sys.exit(main())
