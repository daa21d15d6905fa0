"""The folding memory estimate scales as L^2 / L^3, bounds a measured run, and refuses clearly."""
from __future__ import annotations

import sys

import pytest

from app.core.fold.driver import fold
from app.core.fold.memory import FoldMemoryError, check_memory, estimate, longest_fitting, part_activations

ESMFOLD_V1 = {"c_s": 1024, "c_z": 128, "pairwise_head_width": 32, "c_sm": 384, "c_zm": 128, "ipa_heads": 12,
              "ipa_qk_points": 4, "ipa_v_points": 8, "esm_attention_heads": 40, "esm_embed_dim": 2560}
GIB = 1 << 30


def test_trunk_term_grows_as_l_cubed() -> None:
    small, large = part_activations(ESMFOLD_V1, 1000)["trunk"], part_activations(ESMFOLD_V1, 2000)["trunk"]
    assert 7.0 < large / small <= 8.0
    heads = part_activations(ESMFOLD_V1, 2000)["heads"] / part_activations(ESMFOLD_V1, 1000)["heads"]
    assert heads == pytest.approx(4.0)


def test_refusal_states_the_limit_and_the_longest_fit() -> None:
    weights = 3 * GIB
    with pytest.raises(FoldMemoryError) as info:
        check_memory(ESMFOLD_V1, 1500, weights, limit=8 * GIB)
    err = info.value
    assert "8.0 GiB" in str(err) and "1500 residues" in str(err)
    assert err.needed > err.limit
    assert check_memory(ESMFOLD_V1, err.longest, weights, limit=8 * GIB).total <= 8 * GIB
    assert estimate(ESMFOLD_V1, err.longest + 1, weights).total > 8 * GIB
    assert f"about {err.longest} residues" in str(err)


def test_longest_fitting_is_zero_when_weights_alone_do_not_fit() -> None:
    assert longest_fitting(ESMFOLD_V1, 20 * GIB, limit=16 * GIB) == 0


def test_fold_refuses_before_running(tiny_parts) -> None:
    need = estimate(tiny_parts.architecture, 30, tiny_parts.weight_bytes).total
    with pytest.raises(FoldMemoryError, match="limit"):
        fold(tiny_parts, "A" * 30, num_recycles=0, memory_limit=need - 1)
    assert fold(tiny_parts, "A" * 30, num_recycles=0, memory_limit=need).passes == 1


@pytest.mark.skipif(sys.platform != "linux", reason="reads /proc/self/status")
def test_trunk_estimate_bounds_measured_peak(tiny_pack, tiny_parts, trunk_peak) -> None:
    n, arch = 160, tiny_parts.architecture
    measured = trunk_peak(tiny_pack, n)
    est = estimate(arch, n, 0)
    bound = part_activations(arch, n)["trunk"] + est.held
    assert measured <= bound, (measured, bound)
    assert bound < 4 * measured, (measured, bound)  # an upper bound, not a wild one


_AFTER_TRUNK = r"""
import json, sys
import numpy as np
import app.core.fold.parts as P

if sys.argv[2] == "off":
    P.SHRINK_AFTER = ()
parts = P.open_parts(sys.argv[1], threads=1)
n, a = 160, parts.architecture
rng = np.random.default_rng(0)
feeds = {"s_s_0": rng.standard_normal((1, n, a["c_s"]), dtype=np.float32),
         "recycle_s": rng.standard_normal((1, n, a["c_s"]), dtype=np.float32),
         "recycle_z": rng.standard_normal((1, n, n, a["c_z"]), dtype=np.float32),
         "recycle_backbone": rng.standard_normal((1, n, 3, 3), dtype=np.float32),
         "residx": np.arange(n)[None], "mask": np.ones((1, n), np.float32)}

def rss():
    with open("/proc/self/status") as fh:
        return next(int(line.split()[1]) * 1024 for line in fh if line.startswith("VmRSS:"))

before = rss()
out = parts.run("trunk", feeds)
del out
print(json.dumps(rss() - before))
"""


@pytest.mark.skipif(sys.platform != "linux", reason="reads /proc/self/status")
def test_trunk_hands_its_arena_back_before_the_next_part(tiny_pack) -> None:
    """The next part must not start on top of the trunk's L^3 arena (the estimate counts one part at a time)."""
    import json
    import subprocess

    def kept(mode: str) -> int:
        proc = subprocess.run([sys.executable, "-c", _AFTER_TRUNK, str(tiny_pack), mode], capture_output=True,
                              text=True, timeout=120)
        assert proc.returncode == 0, proc.stderr[-2000:]
        return json.loads(proc.stdout)

    on, off = kept("on"), kept("off")
    peak = part_activations(json.loads((tiny_pack / "manifest.json").read_text())["architecture"], 160)["trunk"]
    assert off > peak / 4, (off, peak)  # without shrinkage the arena stays
    assert on < off / 4, (on, off)
