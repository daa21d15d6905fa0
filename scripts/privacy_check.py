"""Run EdgeFold's real programs under `strace -f` and fail on any IPv4/IPv6 connect or send.

    python scripts/privacy_check.py [--seconds 15] [--scenarios session,score,gui,fold]
                                    [--pack DIR] [--fold-pack DIR] [--json OUT]

Each scenario runs for at least `--seconds` (onnxruntime's telemetry, when on, fires ~9 s after a
session opens), in a child whose environment has ORT_DISABLE_TELEMETRY removed, so the check
proves the app sets it itself:
- session: open the pack's ONNX model through app.core.session and stay idle;
- score:   `python -m app score --method masked-marginal` (app.cli.main), then idle;
- gui:     the main window with the 3D view showing a structure (QtWebEngine, Chromium's
           processes included), under Xvfb when there is no display;
- fold:    `python -m app fold` with a folding pack (only with --fold-pack);
- control: a bare onnxruntime session without the app, i.e. telemetry on: it FAILs when
           onnxruntime's telemetry fires in the window (it usually does ~9 s in, but not every
           time: its uploader keeps state in ~/.cache/Microsoft and backs off);
- loopback: a UDP datagram to 127.0.0.1, which must FAIL: the check's own deterministic proof
           that it sees connects and sends.
Every process of the tree is traced; a connect/sendto/sendmsg on an AF_INET or AF_INET6 socket is
reported with the process name and pid. Local (AF_UNIX) sockets, which Qt and Chromium use
between their own processes, are allowed. Exit 0 when no scenario made a network call.
"""
from __future__ import annotations

import argparse
import json
import math
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
NETWORK_CALL = re.compile(r"^(?P<pid>\d+)<(?P<comm>[^>]*)>\s+(?P<call>socket|connect|sendto|sendmsg|sendmmsg)\((?P<args>.*)$")
INET = re.compile(r"AF_INET6?\b")
PDB_HELIX = "".join(
    f"ATOM  {i + 1:5d}  CA  ALA A{i + 1:4d}    {2.3 * math.cos(i * 1.745):8.3f}"
    f"{2.3 * math.sin(i * 1.745):8.3f}{1.5 * i:8.3f}  1.00 90.00           C\n" for i in range(30)) + "END\n"
SEQUENCE = "MKTAYIAKQRQISFVKSHFSRQLEERLGLIEVQAPILSRVGDGTQDNLSGAEKAVQVKVKALPDAQFEVVHSLAKWKRQTLGQHDFSAGEGLYTHMKALRPDEDRLSPLHSVYVDQWDWERVMGDGERQFSTLKSTVEAIWAGIKATEAAVSEEFGLAPFLPDQIHFVHSQELLSRYPDLDAKGRERAIAKDLGAVFLVGIGGKLSDGHRHDVRAPDYDDWSTPSELGHAGLNGDILVWNPVLEDAFELSSMGIRVDADTLKHQLALTGDEDRLELEWHQALLRGEMPQTIGGGIGQSRLTMLLLQLPHIGQVQAGVWPAACR"


def scenario_code(name: str, seconds: float, pack: Path, fold_pack: Path | None, work: Path) -> str:
    """Python source a child interpreter runs for one scenario (the real app code paths)."""
    fasta = work / "in.fasta"
    fasta.write_text(f">privacy_check\n{SEQUENCE}\n")
    idle = f"import time; _t0 = time.time()\n"
    tail = f"time.sleep(max(0.0, {seconds} - (time.time() - _t0)))\n"
    if name == "loopback":  # the detector's own check: a UDP datagram to 127.0.0.1 must be caught
        return ("import socket\ns = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)\n"
                "s.connect(('127.0.0.1', 9))\ns.send(b'x')\n")
    if name == "control":  # onnxruntime without the app: telemetry on, so this one should FAIL
        return idle + (f"import onnxruntime as ort\n"
                       f"s = ort.InferenceSession({str(pack / 'model.onnx')!r}, providers=['CPUExecutionProvider'])\n") + tail
    if name == "session":
        return idle + (f"import app\nfrom app.core.session import open_session\n"
                       f"s = open_session({str(pack / 'model.onnx')!r})\n") + tail
    if name == "score":
        return idle + (f"from app.cli import main\n"
                       f"rc = main(['score', '--model', {str(pack)!r}, '--fasta', {str(fasta)!r}, "
                       f"'--method', 'masked-marginal', '--out', {str(work / 'scores.csv')!r}])\n"
                       f"assert rc == 0, rc\n") + tail
    if name == "fold":
        return idle + (f"from app.cli import main\n"
                       f"rc = main(['fold', '--model', {str(fold_pack)!r}, '--fasta', {str(fasta)!r}, "
                       f"'--out', {str(work / 'fold')!r}])\nassert rc == 0, rc\n") + tail
    if name == "gui":
        return (f"import sys\nfrom app.ui.structure_view import prepare_webengine\nprepare_webengine()\n"
                f"from PySide6.QtCore import QTimer\nfrom PySide6.QtWidgets import QApplication\n"
                f"from app.ui.main_window import MainWindow\n"
                f"qapp = QApplication(sys.argv)\nw = MainWindow()\nw.show()\n"
                f"from app.ui.structure_view import StructureView\n"
                f"view = w.findChild(StructureView) or StructureView()\nview.show()\n"
                f"view.set_structure({PDB_HELIX!r})\n"
                f"QTimer.singleShot(int({seconds} * 1000), qapp.quit)\n"
                f"sys.exit(qapp.exec())\n")
    raise ValueError(f"unknown scenario {name!r}: expected session, score, gui or fold")


def start_xvfb() -> tuple[subprocess.Popen | None, dict]:
    """A virtual display for the GUI scenario when none is set; (process, extra environment)."""
    if os.environ.get("DISPLAY"):
        return None, {}
    if not shutil.which("Xvfb"):
        raise SystemExit("error: the gui scenario needs a display or Xvfb (apt-get install xvfb)")
    n = 120
    while Path(f"/tmp/.X11-unix/X{n}").exists() or Path(f"/tmp/.X{n}-lock").exists():
        n += 1
    proc = subprocess.Popen(["Xvfb", f":{n}", "-screen", "0", "1366x768x24", "-nolisten", "tcp"],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    for _ in range(100):
        if Path(f"/tmp/.X11-unix/X{n}").exists():
            break
        time.sleep(0.05)
    return proc, {"DISPLAY": f":{n}", "QTWEBENGINE_CHROMIUM_FLAGS":
                  "--disable-gpu-compositing --ignore-gpu-blocklist --enable-unsafe-swiftshader"}


def inet_calls(trace: str) -> list[dict]:
    """IPv4/IPv6 socket/connect/send calls in an `strace -f -Y` log: [{pid, process, call, args}]."""
    found = []
    for line in trace.splitlines():
        m = NETWORK_CALL.match(line)
        if m and INET.search(m["args"]):
            found.append({"pid": int(m["pid"]), "process": m["comm"], "call": m["call"],
                          "args": m["args"][:200]})
    return found


def network_calls(trace: str) -> list[dict]:
    """The calls that reach a network: connect or send on an IPv4/IPv6 socket. Creating a socket
    alone sends nothing (Chromium opens one AF_INET6 datagram socket, never connected, to list
    the machine's interfaces); those are counted apart, in `inet_sockets_opened`."""
    return [c for c in inet_calls(trace) if c["call"] != "socket"]


def run_scenario(name: str, seconds: float, pack: Path, fold_pack: Path | None, work: Path) -> dict:
    code = scenario_code(name, seconds, pack, fold_pack, work)
    env = {k: v for k, v in os.environ.items() if k != "ORT_DISABLE_TELEMETRY"}
    env["PYTHONPATH"] = str(ROOT) + os.pathsep + env.get("PYTHONPATH", "")
    xvfb = None
    if name == "gui":
        xvfb, extra = start_xvfb()
        env.update(extra)
        env.pop("QT_QPA_PLATFORM", None)  # a real (virtual) X display, so the web view starts
        env.pop("EDGEFOLD_NO_WEBENGINE", None)
        if os.geteuid() == 0:
            env["QTWEBENGINE_DISABLE_SANDBOX"] = "1"
    log = work / f"{name}.strace"
    cmd = ["strace", "-f", "-qq", "-Y", "-e", "trace=network", "-o", str(log), sys.executable, "-c", code]
    start = time.time()
    try:
        done = subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True, timeout=seconds + 600)
    finally:
        if xvfb is not None:
            xvfb.terminate()
    trace = log.read_text(errors="replace") if log.exists() else ""
    processes = sorted({m.group(1) for m in re.finditer(r"^\d+<([^>]*)>", trace, re.M)})
    return {"scenario": name, "exit_code": done.returncode, "seconds": round(time.time() - start, 1),
            "network_calls": network_calls(trace), "traced_processes": processes,
            "inet_sockets_opened": sum(c["call"] == "socket" for c in inet_calls(trace)),
            "stderr_tail": done.stderr[-1500:] if done.returncode else ""}


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--seconds", type=float, default=15.0, help="minimum run time of each scenario")
    p.add_argument("--scenarios", default="session,score,gui",
                   help="comma list of session,score,gui,fold (and the controls: loopback, control)")
    p.add_argument("--pack", type=Path, default=ROOT / "assets/packs/default", help="scoring pack")
    p.add_argument("--fold-pack", type=Path, help="folding pack for the fold scenario")
    p.add_argument("--json", type=Path, help="write the results here")
    args = p.parse_args(argv)
    if not shutil.which("strace"):
        print("error: strace is not installed (apt-get install strace)", file=sys.stderr)
        return 2
    names = [s for s in args.scenarios.split(",") if s]
    if "fold" in names and args.fold_pack is None:
        print("error: the fold scenario needs --fold-pack DIR", file=sys.stderr)
        return 2
    results = []
    with tempfile.TemporaryDirectory(prefix="edgefold-privacy-") as tmp:
        for name in names:
            work = Path(tmp) / name
            work.mkdir()
            res = run_scenario(name, args.seconds, args.pack, args.fold_pack, work)
            results.append(res)
            verdict = "FAIL" if res["network_calls"] or res["exit_code"] else "ok"
            print(f"{verdict:4}  {name:8} {res['seconds']:6.1f} s  exit {res['exit_code']}  "
                  f"network calls: {len(res['network_calls'])}  (IP sockets opened, unused: "
                  f"{res['inet_sockets_opened']})  processes: {', '.join(res['traced_processes'])}")
            for call in res["network_calls"]:
                print(f"      {call['process']} (pid {call['pid']}): {call['call']}({call['args']}")
            if res["exit_code"]:
                print(res["stderr_tail"])
    if args.json:
        args.json.write_text(json.dumps(results, indent=2))
    return 1 if any(r["network_calls"] or r["exit_code"] for r in results) else 0


if __name__ == "__main__":
    raise SystemExit(main())
