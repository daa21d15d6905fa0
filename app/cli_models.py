"""`python -m app models list|verify|remove|import|get`: the model manager on the command line."""
from __future__ import annotations

import argparse
import json
import sys
import threading
from typing import Optional, TextIO

from .cli_common import ProgressLine, printable
from .core.pack_admin import (COLUMNS, find_installed, import_pack, list_packs, remove_pack, verify_pack,
                              dependents)
from .core.jobs import Progress
from .core.pack import user_packs_dir
from .core.pack_get import DEFAULT_SCHEME, NETWORK_NOTICE, get_pack, plan


def _cell(text: str, width: int) -> str:
    text = printable(text)  # manifest text cannot send terminal escapes
    return text if len(text) <= width else text[:width - 1] + "\u2026"


def table(rows: list[list[str]], header: tuple[str, ...] = COLUMNS, width: int = 40) -> str:
    """Left-aligned columns two spaces apart, each cell at most `width` characters (--json has it all)."""
    cells = [list(header)] + [[_cell(cell, width) for cell in r] for r in rows]
    widths = [max(len(r[i]) for r in cells) for i in range(len(header))]
    return "\n".join("  ".join(c.ljust(w) for c, w in zip(r, widths)).rstrip() for r in cells)


def cmd_list(args: argparse.Namespace) -> int:
    rows = list_packs()
    if args.json:
        print(json.dumps([r.as_dict() for r in rows], indent=2))
    elif rows:
        print(table([r.cells() for r in rows]))
    else:
        print(f"no model pack installed (packs folder: {user_packs_dir()})")
    return 0


def cmd_verify(args: argparse.Namespace) -> int:
    info = find_installed(args.name)
    print(verify_pack(info.path).summary())
    return 0


def cmd_remove(args: argparse.Namespace, stdin: Optional[TextIO] = None) -> int:
    info = find_installed(args.name)
    broken = dependents(info)
    if not args.yes:
        stdin = stdin or sys.stdin
        warn = f" ({len(broken)} delta pack(s) on it stop working: {', '.join(i.name for i in broken)})" if broken \
            else ""
        print(f"remove {info.name} ({info.path}){warn}? [y/N] ", end="", file=sys.stderr, flush=True)
        if stdin.readline().strip().lower() not in ("y", "yes"):
            print("nothing removed", file=sys.stderr)
            return 0
    remove_pack(info.path)
    print(f"removed {info.name} ({info.path})", file=sys.stderr)
    return 0


def _with_counts(progress: ProgressLine) -> Progress:
    """The builder's messages ("calibrating") with their step counts: calibrating (12/40)."""
    return lambda done, total, message: progress(done, total, f"{message} ({done}/{total})" if total > 0 else message)


def cmd_import(args: argparse.Namespace) -> int:
    progress = ProgressLine(interval=2.0)
    path = import_pack(args.dir, progress=progress)
    progress.close()
    print(f"installed {args.dir} as {path}", file=sys.stderr)
    return 0


def cmd_get(args: argparse.Namespace) -> int:
    what = plan(args.source)
    print(f"{args.source}: {what.describe()}, scheme {args.scheme}", file=sys.stderr)
    if what.network:
        print(NETWORK_NOTICE, file=sys.stderr)
    progress = ProgressLine(interval=2.0)
    path = get_pack(args.source, args.scheme, progress=_with_counts(progress), cancel=threading.Event())
    progress.close()
    print(f"installed {path}", file=sys.stderr)
    return 0


def add_parser(sub: argparse._SubParsersAction) -> None:
    """Register `models` and its commands on the CLI's subparsers (app.cli.build_parser)."""
    m = sub.add_parser("models", help="list, verify, remove, import or get model packs",
                       description="Manage the installed model packs (packs folder: $EDGEFOLD_PACKS, "
                       "else ~/.local/share/edgefold/packs).")
    cmds = m.add_subparsers(dest="models_command", metavar="{list,verify,remove,import,get}", required=True)
    ls = cmds.add_parser("list", help="installed packs: task, scheme, size, licence, source, fidelity, benchmark")
    ls.add_argument("--json", action="store_true", help="print a JSON list instead of a table")
    ls.set_defaults(func=cmd_list)
    v = cmds.add_parser("verify", help="check every file's sha256 as the app loads the pack")
    v.add_argument("name", metavar="NAME", help="pack name, folder name or path")
    v.set_defaults(func=cmd_verify)
    r = cmds.add_parser("remove", help="delete an installed pack (asks first; never the embedded default)")
    r.add_argument("name", metavar="NAME", help="pack name or folder name")
    r.add_argument("--yes", "-y", action="store_true", help="do not ask for confirmation")
    r.set_defaults(func=cmd_remove)
    i = cmds.add_parser("import", help="check a pack folder and copy it into the packs folder")
    i.add_argument("dir", metavar="DIR", help="a pack folder (manifest.json and its files)")
    i.set_defaults(func=cmd_import)
    g = cmds.add_parser("get", help="download an ESM-2 checkpoint and build a pack of it, without torch "
                        "(the only command that uses the network)")
    g.add_argument("source", metavar="SOURCE", help="esm2_t6_8M_UR50D ... esm2_t33_650M_UR50D, an http(s) "
                   "URL, a local checkpoint file or a HuggingFace ESM folder")
    g.add_argument("--scheme", default=DEFAULT_SCHEME, help=f"quantization scheme (default {DEFAULT_SCHEME})")
    g.set_defaults(func=cmd_get)
