"""Start speed-bench variants as `bench.speed_worker` subprocesses and talk to them over JSON lines."""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from .common import REPO


class Worker:
    """One variant (torch fp32 or an ORT pack) loaded in its own process."""

    def __init__(self, name: str, args: list[str], threads: int):
        self.name = name
        env = dict(os.environ, OMP_NUM_THREADS=str(threads), MKL_NUM_THREADS=str(threads),
                   PYTHONPATH=os.pathsep.join(filter(None, [str(REPO), os.environ.get("PYTHONPATH", "")])))
        self.proc = subprocess.Popen([sys.executable, "-m", "bench.speed_worker", "--threads", str(threads), *args],
                                     cwd=REPO, env=env, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                     text=True, bufsize=1)
        self.info = self._read()

    def _read(self) -> dict:
        line = self.proc.stdout.readline()
        if not line:
            code = self.proc.wait()
            raise RuntimeError(f"speed worker {self.name!r} exited with code {code} (see its stderr above)")
        return json.loads(line)

    def _ask(self, request: dict) -> dict:
        self.proc.stdin.write(json.dumps(request) + "\n")
        self.proc.stdin.flush()
        return self._read()

    def time(self, length: int, batch: int = 1) -> float:
        return float(self._ask({"length": length, "batch": batch})["seconds"])

    def quit(self) -> dict:
        """Memory readings of the worker (after load and every timed pass), then stop it."""
        mem = self._ask({"quit": True})
        self.proc.wait(timeout=60)
        return mem

    def kill(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()


def torch_worker(arch: str, seed: int, threads: int) -> Worker:
    return Worker("torch fp32", ["--torch-arch", arch, "--seed", str(seed)], threads)


def pack_worker(scheme: str, pack: Path, threads: int) -> Worker:
    return Worker(f"ort {scheme}", ["--pack", str(pack)], threads)
