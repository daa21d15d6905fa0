"""Fixtures for the folding tests: one tiny random ESMFold and its exported pack per session."""
from __future__ import annotations

import json
import subprocess
import sys

import pytest


@pytest.fixture(scope="session")
def tiny_model():
    from exporter.esmfold.model import tiny_esmfold

    return tiny_esmfold(seed=0)


@pytest.fixture(scope="session")
def tiny_pack(tiny_model, tmp_path_factory):
    from exporter.esmfold.pack import write_folding_pack

    return write_folding_pack(tiny_model, tmp_path_factory.mktemp("fold") / "tiny_esmfold", "tiny_esmfold")


@pytest.fixture(scope="session")
def tiny_parts(tiny_pack):
    from app.core.fold.parts import open_parts

    return open_parts(tiny_pack, threads=1)


_MEASURE_TRUNK = r"""
import json, sys
import numpy as np, onnxruntime as ort

def status(key):
    with open("/proc/self/status") as fh:
        return next(int(line.split()[1]) * 1024 for line in fh if line.startswith(key))

path, n, c_s, c_z = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4])
opts = ort.SessionOptions(); opts.intra_op_num_threads = 1
sess = ort.InferenceSession(path, opts, providers=["CPUExecutionProvider"])
rng = np.random.default_rng(0)
feeds = {"s_s_0": rng.standard_normal((1, n, c_s), dtype=np.float32),
         "recycle_s": rng.standard_normal((1, n, c_s), dtype=np.float32),
         "recycle_z": rng.standard_normal((1, n, n, c_z), dtype=np.float32),
         "recycle_backbone": rng.standard_normal((1, n, 3, 3), dtype=np.float32),
         "residx": np.arange(n)[None], "mask": np.ones((1, n), np.float32)}
with open("/proc/self/clear_refs", "w") as fh:
    fh.write("5")  # reset the peak-RSS watermark (VmHWM) to the current RSS
base = status("VmRSS:")
sess.run(None, feeds)
print(json.dumps(status("VmHWM:") - base))
"""



@pytest.fixture(scope="session")
def trunk_peak():
    """f(pack_dir, length) -> bytes the pack's trunk.onnx adds to peak RSS in a fresh process, 1 thread."""
    def measure(pack, n: int) -> int:
        arch = json.loads((pack / "manifest.json").read_text())["architecture"]
        proc = subprocess.run([sys.executable, "-c", _MEASURE_TRUNK, str(pack / "trunk.onnx"), str(n),
                               str(arch["c_s"]), str(arch["c_z"])], capture_output=True, text=True, timeout=120)
        assert proc.returncode == 0, proc.stderr[-2000:]
        return json.loads(proc.stdout)
    return measure
