"""`python -m packbuild SOURCE [--scheme pwlq8] [--packs-dir DIR] [--cache-dir DIR]`: build and install
an ESM-2 pack without torch (see packbuild/__init__.py). Progress goes to stderr as one updating line;
the installed pack's directory is printed on stdout."""
from __future__ import annotations

import argparse
import sys
import threading
import time
from pathlib import Path
from typing import Optional, TextIO

from . import KNOWN_CHECKPOINTS, BuildError, Cancelled, build_pack

EXIT_ERROR, EXIT_CANCELLED = 1, 130


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="python -m packbuild",
        description="Download (resumable) or read an ESM-2 checkpoint and turn it into a quantized EdgeFold "
                    "pack, without torch. The only EdgeFold command that uses the network.")
    p.add_argument("source", help=f"one of {', '.join(KNOWN_CHECKPOINTS)}; an http(s) URL of a checkpoint; a local "
                                  "fair-esm .pt, HuggingFace .bin / .safetensors file; or a HuggingFace ESM folder")
    p.add_argument("--scheme", default="pwlq8", help="quantization scheme (default pwlq8, as the shipped pack)")
    p.add_argument("--packs-dir", type=Path, default=None,
                   help="install into this folder (default: $EDGEFOLD_PACKS or ~/.local/share/edgefold/packs)")
    p.add_argument("--cache-dir", type=Path, default=None,
                   help="keep downloads (and partial .part files) here (default ~/.cache/edgefold/downloads)")
    return p


class ProgressLine:
    """progress(done, total, message) on `stream`: one line rewritten in place on a terminal (at most 4
    updates a second), else a plain line per step and at most one per `log_interval` seconds."""

    def __init__(self, stream: Optional[TextIO] = None, interval: float = 0.25, log_interval: float = 5.0) -> None:
        self.stream = stream if stream is not None else sys.stderr
        self.tty = hasattr(self.stream, "isatty") and self.stream.isatty()
        self.interval = interval if self.tty else log_interval
        self._last, self._message = 0.0, ""

    def __call__(self, done: int, total: int, message: str) -> None:
        now = time.monotonic()
        if message == self._message and now - self._last < self.interval and done != total:
            return
        if self.tty and message != self._message and self._message:
            self.stream.write("\n")
        self._last, self._message = now, message
        if message.startswith("downloading"):
            amount = f"{done / 1e6:.1f} / {total / 1e6:.1f} MB" if total else f"{done / 1e6:.1f} MB"
        else:
            amount = f"{done}/{total}"
        pct = f" {100 * done / total:5.1f}%" if total else ""
        self.stream.write(f"\r{message}: {amount}{pct}   " if self.tty else f"{message}: {amount}{pct}\n")
        self.stream.flush()

    def close(self) -> None:
        if self.tty and self._message:
            self.stream.write("\n")
            self.stream.flush()


def main(argv: Optional[list[str]] = None) -> int:
    args = parser().parse_args(argv)
    if args.packs_dir is None:
        from app.core.pack import user_packs_dir

        args.packs_dir = user_packs_dir()
    line, cancel = ProgressLine(), threading.Event()
    try:
        path = build_pack(args.source, args.packs_dir, scheme=args.scheme, progress=line, cancel=cancel,
                          cache_dir=args.cache_dir)
    except BuildError as exc:
        line.close()
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_ERROR
    except (Cancelled, KeyboardInterrupt):
        line.close()
        print("cancelled (a partial download is kept and resumes next time)", file=sys.stderr)
        return EXIT_CANCELLED
    line.close()
    print(path)
    return 0


if __name__ == "__main__":
    sys.exit(main())
