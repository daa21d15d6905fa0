"""A speed worker loads a pack in its own process, times passes and reports its peak memory."""
from __future__ import annotations

from bench.common import md_table
from bench.workers import pack_worker


def test_pack_worker_times_and_reports_memory(tiny_pack):
    w = pack_worker("fp32", tiny_pack, threads=1)
    try:
        assert w.info["ready"] and w.info["load_seconds"] > 0
        times = [w.time(16), w.time(64, batch=2)]
        assert all(0 < t < 10 for t in times)
        mem = w.quit()
    finally:
        w.kill()
    assert mem["vmhwm_kb"] >= mem["vmrss_kb"] > 10_000  # onnxruntime alone is tens of MB


def test_md_table_aligns_numbers_and_blanks_nan():
    t = md_table(["a", "b"], [["x", 1.23456], ["y", float("nan")]], 2).splitlines()
    assert t[1] == "|---|---:|" and t[2] == "| x | 1.23 |" and t[3] == "| y | - |"
