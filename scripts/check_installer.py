"""Release check of the PyInstaller bundle: build it, run the frozen app, report its size.

    python scripts/check_installer.py                  # build, then check (several minutes)
    python scripts/check_installer.py --skip-build     # check an existing dist/EdgeFold

Needs the dev environment (pyinstaller from the `build` extra; torch and the exporter only to
write the tiny folding pack). Every frozen run gets a clean environment (no PYTHONPATH, its own
HOME, cwd outside the repository), so nothing can come from the source tree. Checks:

1. `EdgeFold gui --self-test DIR` on the offscreen platform: the window opens, the embedded pack
   scores in the GUI's worker, the heatmap exports as PNG and SVG (app/ui/self_test.py).
2. The same under Xvfb (when installed) on the xcb platform, with SwiftShader for WebGL: the 3D
   view loads 3Dmol.js from the bundle, draws, and exports a PNG (WebEngine resources present).
3. `EdgeFold score` with the embedded pack equals `python -m app score` (same CSV bytes).
4. `EdgeFold fold` with a tiny random folding pack equals `python -m app fold` (coordinates).
5. Sizes: the unpacked folder and a .tar.xz of it, against the targets (400 MB, 200 MB).

Exit status 0 when every check passed (sizes are reported; --require-size makes them count).
"""
from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
TARGET_UNPACKED_MB, TARGET_ARCHIVE_MB = 400, 200
SOFTWARE_GL = "--enable-unsafe-swiftshader --use-gl=angle --use-angle=swiftshader"
FASTA = ">sp|P0A7V0|RS2_ECOLI test one\nMKTAYIAKQRQISFVKSHFSRQLEERLGLIEVQ\n>second\nMSDNGPQNQRNAPRITFGGPSDSTGSNQNGERS\n"
MB = 1e6


def log(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


def build(dist: Path, work: Path) -> float:
    t0 = time.monotonic()
    cmd = [sys.executable, "-m", "PyInstaller", "--noconfirm", "--log-level", "WARN",
           "--distpath", str(dist), "--workpath", str(work), str(ROOT / "build_installer.spec")]
    log("$ " + " ".join(cmd))
    subprocess.run(cmd, cwd=ROOT, check=True)
    return time.monotonic() - t0


def tree_bytes(folder: Path) -> int:
    """Bytes of the regular files under folder (symbolic links count as nothing)."""
    return sum(p.lstat().st_size for p in folder.rglob("*") if p.is_file() and not p.is_symlink())


def make_archive(folder: Path, out: Path) -> float:
    """folder as out (.tar.xz; xz on all cores when the tools exist, else Python's lzma)."""
    t0 = time.monotonic()
    if shutil.which("tar") and shutil.which("xz"):
        subprocess.run(["tar", "-C", str(folder.parent), "-I", "xz -6 -T0", "-cf", str(out), folder.name],
                       check=True)
    else:
        import tarfile  # noqa: PLC0415

        with tarfile.open(out, "w:xz") as tar:
            tar.add(folder, arcname=folder.name)
    return time.monotonic() - t0


def clean_env(home: Path, **extra: str) -> dict:
    env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "HOME": str(home), "LANG": "C.UTF-8",
           "XDG_CONFIG_HOME": str(home / ".config"), "XDG_DATA_HOME": str(home / ".local" / "share"),
           "XDG_CACHE_HOME": str(home / ".cache"), "XDG_RUNTIME_DIR": str(home / "run")}
    (home / "run").mkdir(parents=True, exist_ok=True, mode=0o700)
    env.update(extra)
    return env


def run(cmd: list[str], env: dict, cwd: Path, timeout: float) -> subprocess.CompletedProcess:
    log("$ " + " ".join(cmd))
    return subprocess.run(cmd, env=env, cwd=cwd, capture_output=True, text=True, timeout=timeout)


def self_test(exe: Path, tmp: Path, name: str, **env: str) -> dict:
    out = tmp / name
    proc = run([str(exe), "gui", "--self-test", str(out)], clean_env(tmp / f"home-{name}", **env), tmp, 600)
    report_path = out / "self_test.json"
    report = json.loads(report_path.read_text()) if report_path.is_file() else {"ok": False}
    report["returncode"] = proc.returncode
    if proc.returncode != 0 or not report.get("ok"):
        report["stderr_tail"] = proc.stderr[-3000:]
    return report


class Xvfb:
    """An X server on a free display number for the xcb run; stopped on exit."""

    def __init__(self) -> None:
        self.proc, self.display = None, ""

    def __enter__(self) -> "Xvfb":
        for n in range(140, 160):
            if not Path(f"/tmp/.X11-unix/X{n}").exists() and not Path(f"/tmp/.X{n}-lock").exists():
                self.display = f":{n}"
                break
        self.proc = subprocess.Popen(["Xvfb", self.display, "-screen", "0", "1366x768x24", "-nolisten", "tcp"],
                                     stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        for _ in range(50):
            if Path(f"/tmp/.X11-unix/X{self.display[1:]}").exists():
                break
            time.sleep(0.1)
        return self

    def __exit__(self, *exc) -> None:
        self.proc.terminate()
        self.proc.wait(10)


def source_env(home: Path) -> dict:
    return clean_env(home, PYTHONPATH=str(ROOT), QT_QPA_PLATFORM="offscreen")


def check_score(exe: Path, tmp: Path) -> dict:
    fasta = tmp / "input.fasta"
    fasta.write_text(FASTA)
    frozen, source = tmp / "frozen_scores.csv", tmp / "source_scores.csv"
    t0 = time.monotonic()
    p1 = run([str(exe), "score", "--fasta", str(fasta), "--out", str(frozen), "--threads", "1"],
             clean_env(tmp / "home-score"), tmp, 600)
    seconds = time.monotonic() - t0
    p2 = run([sys.executable, "-m", "app", "score", "--fasta", str(fasta), "--out", str(source),
              "--threads", "1"], source_env(tmp / "home-src"), tmp, 600)
    ok = p1.returncode == 0 and p2.returncode == 0 and frozen.is_file() and \
        frozen.read_bytes() == source.read_bytes()
    rows = len(frozen.read_text().splitlines()) - 1 if frozen.is_file() else 0
    out = {"ok": ok, "rows": rows, "seconds": round(seconds, 1), "equal_to_source": ok}
    if not ok:
        out["stderr_tail"] = (p1.stderr + p2.stderr)[-3000:]
    return out


TINY_PACK = """
import sys
from pathlib import Path
from exporter.esmfold.model import tiny_esmfold
from exporter.esmfold.pack import write_folding_pack
write_folding_pack(tiny_esmfold(seed=0), Path(sys.argv[1]), "tiny_esmfold")
"""


def pdb_coords(path: Path) -> list[tuple[float, float, float]]:
    return [(float(line[30:38]), float(line[38:46]), float(line[46:54]))
            for line in path.read_text().splitlines() if line.startswith("ATOM")]


def check_fold(exe: Path, tmp: Path) -> dict:
    pack = tmp / "tiny_esmfold"
    made = run([sys.executable, "-c", TINY_PACK, str(pack)], clean_env(tmp / "home-pack", PYTHONPATH=str(ROOT)),
               tmp, 900)
    if made.returncode != 0:
        return {"ok": False, "error": "could not write the tiny folding pack", "stderr_tail": made.stderr[-3000:]}
    fasta = tmp / "fold.fasta"
    fasta.write_text(">tiny\nMKTAYIAKQRQISFVKSHFSRQ\n")
    frozen, source = tmp / "fold_frozen", tmp / "fold_source"
    t0 = time.monotonic()
    p1 = run([str(exe), "fold", "--model", str(pack), "--fasta", str(fasta), "--out", str(frozen), "--threads", "1"],
             clean_env(tmp / "home-fold"), tmp, 900)
    seconds = time.monotonic() - t0
    p2 = run([sys.executable, "-m", "app", "fold", "--model", str(pack), "--fasta", str(fasta), "--out",
              str(source), "--threads", "1"], source_env(tmp / "home-src"), tmp, 900)
    files = sorted(p.name for p in frozen.iterdir()) if frozen.is_dir() else []
    a, b = frozen / "tiny.pdb", source / "tiny.pdb"
    diff = None
    if a.is_file() and b.is_file():
        ca, cb = pdb_coords(a), pdb_coords(b)
        diff = max((abs(x - y) for pa, pb in zip(ca, cb) for x, y in zip(pa, pb)), default=None) \
            if len(ca) == len(cb) and ca else None
    ok = p1.returncode == 0 and p2.returncode == 0 and diff is not None and diff <= 1e-3
    out = {"ok": ok, "files": files, "seconds": round(seconds, 1), "max_coordinate_difference": diff}
    if not ok:
        out["stderr_tail"] = (p1.stderr + p2.stderr)[-3000:]
    return out


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--dist", type=Path, default=ROOT / "dist", help="PyInstaller's dist folder")
    ap.add_argument("--work", type=Path, default=ROOT / "build", help="PyInstaller's work folder")
    ap.add_argument("--skip-build", action="store_true", help="check the bundle already in --dist")
    ap.add_argument("--no-archive", action="store_true", help="skip the .tar.xz (slow on 2 cores)")
    ap.add_argument("--require-size", action="store_true", help="fail when a size target is missed")
    ap.add_argument("--report", type=Path, help="also write the report as JSON here")
    args = ap.parse_args(argv)

    report: dict = {"checks": {}}
    if not args.skip_build:
        report["build_seconds"] = round(build(args.dist, args.work), 1)
    bundle = args.dist / "EdgeFold"
    exe = bundle / "EdgeFold"
    if not exe.is_file():
        log(f"error: no frozen app at {exe} (build first, or pass --dist)")
        return 2
    report["unpacked_mb"] = round(tree_bytes(bundle) / MB, 1)
    with tempfile.TemporaryDirectory(prefix="edgefold-installer-") as t:
        tmp = Path(t)
        checks = report["checks"]
        checks["gui_offscreen"] = self_test(exe, tmp, "offscreen", QT_QPA_PLATFORM="offscreen")
        if shutil.which("Xvfb"):
            with Xvfb() as x:
                checks["gui_3d_xcb"] = self_test(exe, tmp, "xcb", QT_QPA_PLATFORM="xcb", DISPLAY=x.display,
                                                 QTWEBENGINE_CHROMIUM_FLAGS=SOFTWARE_GL)
            structure = checks["gui_3d_xcb"].get("steps", {}).get("structure", {})
            checks["gui_3d_xcb"]["ok"] = bool(checks["gui_3d_xcb"].get("ok") and "image" in structure)
        else:
            checks["gui_3d_xcb"] = {"ok": True, "skipped": "Xvfb is not installed: the 3D view was not run"}
        checks["score"] = check_score(exe, tmp)
        checks["fold"] = check_fold(exe, tmp)
        if not args.no_archive:
            archive = tmp / "EdgeFold-linux-x86_64.tar.xz"
            report["archive_seconds"] = round(make_archive(bundle, archive), 1)
            report["archive_mb"] = round(archive.stat().st_size / MB, 1)
    report["targets"] = {"unpacked_under_400_mb": report["unpacked_mb"] < TARGET_UNPACKED_MB}
    if "archive_mb" in report:
        report["targets"]["archive_under_200_mb"] = report["archive_mb"] < TARGET_ARCHIVE_MB
    ok = all(c.get("ok") for c in report["checks"].values())
    if args.require_size:
        ok = ok and all(report["targets"].values())
    report["ok"] = ok
    text = json.dumps(report, indent=1)
    if args.report:
        args.report.write_text(text + "\n")
    print(text)
    log(summary(report))
    return 0 if ok else 1


def summary(report: dict) -> str:
    rows = [f"{'check':<16} result"]
    rows += [f"{name:<16} {'ok' if c.get('ok') else 'FAILED'}{'  (' + c['skipped'] + ')' if 'skipped' in c else ''}"
             for name, c in report["checks"].items()]
    rows.append(f"{'unpacked':<16} {report['unpacked_mb']} MB (target < {TARGET_UNPACKED_MB})")
    if "archive_mb" in report:
        rows.append(f"{'archive .tar.xz':<16} {report['archive_mb']} MB (target < {TARGET_ARCHIVE_MB})")
    return "\n".join(rows)


if __name__ == "__main__":
    sys.exit(main())
