"""bench.fold_load on the tiny preset: both structure forms timed per part, Loop bodies counted in the nodes."""
from __future__ import annotations

import json

from bench.fold_load import PARTS, main


def test_old_and_new_forms_side_by_side(tmp_path, capsys) -> None:
    out = tmp_path / "load.json"
    assert main(["--preset", "tiny", "--lm-layers", "1", "--trunk-blocks", "1", "--schemes", "fp32",
                 "--repeats", "1", "--threads", "1", "--json", str(out)]) == 0
    runs = json.loads(out.read_text())["runs"]["fp32"]
    for form in ("old", "new"):
        assert set(runs[form]) == set(PARTS)
        assert all(len(r["seconds"]) == 1 and r["seconds"][0] > 0 for r in runs[form].values())
    old, new = runs["old"]["structure"], runs["new"]["structure"]
    assert new["nodes"] * 3 < old["nodes"]  # the Loop body counted once, the unrolled blocks twice
    assert new["nodes"] > 400  # main graph plus the Loop body (the main graph alone has ~240)
    assert runs["old"]["trunk"]["nodes"] == runs["new"]["trunk"]["nodes"]  # same graph in both columns
    table = capsys.readouterr().out
    assert "| fp32 | structure |" in table and "pack (sum)" in table
