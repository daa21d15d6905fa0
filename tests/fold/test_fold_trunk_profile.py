"""bench.fold_trunk_profile on tiny folding packs: side-by-side trunk timings and per-op-category profiles."""
from __future__ import annotations

import json

import pytest

from bench.fold_trunk_profile import CATEGORIES, category, main


@pytest.fixture(scope="module")
def chunked_pack(tiny_model, tmp_path_factory):
    from exporter.esmfold.pack import write_folding_pack

    return write_folding_pack(tiny_model, tmp_path_factory.mktemp("profile") / "chunked", "tiny", chunk_size=4)


@pytest.fixture(scope="module")
def result(tiny_pack, chunked_pack, tmp_path_factory):
    tmp = tmp_path_factory.mktemp("trunk_profile")
    out, md = tmp / "p.json", tmp / "p.md"
    rc = main(["--pack", f"plain={tiny_pack}", "--pack", f"chunked={chunked_pack}", "--lengths", "6,70",
               "--repeats", "2", "--threads", "1", "--profile", "--profile-runs", "2", "--top", "5",
               "--json", str(out), "--md", str(md)])
    assert rc == 0
    return json.loads(out.read_text()), md.read_text()


def test_every_pack_and_length_is_timed_side_by_side(result) -> None:
    data, text = result
    for pack in ("plain", "chunked"):
        for L in ("6", "70"):
            assert len(data["seconds"][pack][L]) == 2 and all(s > 0 for s in data["seconds"][pack][L])
    assert "x faster than plain" in text and "| 70 | chunked |" in text


def test_profile_categories_account_for_the_run(result) -> None:
    data, _ = result
    for pack in ("plain", "chunked"):
        for L in ("6", "70"):
            p = data["profiles"][pack][L]
            assert p["runs"] == 2
            total = sum(p["categories_ms"].values())
            # node times sum to most of the run; control-flow nodes count only their own time
            assert 0.3 * p["run_ms"] < total <= 1.05 * p["run_ms"], (pack, L, total, p["run_ms"])
            assert p["categories_ms"]["fused attention"] > 0  # the triangle-attention cores
            assert len(p["slowest"]) == 5
    # 70 rows > the tiny model's unchunked_rows (64): the chunked pack runs its Loop there, not at 6
    assert data["profiles"]["chunked"]["70"]["op_counts"].get("Loop", 0) == 4
    assert data["profiles"]["chunked"]["6"]["op_counts"].get("Loop", 0) == 0
    assert data["profiles"]["plain"]["70"]["op_counts"].get("If", 0) == 0


def test_categories_and_bad_pack_argument(tmp_path, capsys) -> None:
    assert category("MatMulIntegerToFloat") == "int8 MatMul" and category("NoSuchOp") == "other"
    assert len({op for ops in CATEGORIES.values() for op in ops}) == sum(len(v) for v in CATEGORIES.values())
    assert main(["--pack", str(tmp_path)]) == 2
    assert main(["--pack", f"x={tmp_path}"]) == 2
    assert "trunk.onnx does not exist" in capsys.readouterr().err
