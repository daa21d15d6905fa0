"""A fold through `python -m app fold` makes no IPv4/IPv6 connect or send (scripts/privacy_check.py)."""
from __future__ import annotations

import pytest

from privacy_helpers import run_check


@pytest.mark.slow
def test_fold_makes_no_network_call(tiny_pack, tmp_path):
    rc, results, log = run_check(tmp_path, "--scenarios", "fold", "--fold-pack", str(tiny_pack))
    assert rc == 0, log
    (res,) = results
    assert res["exit_code"] == 0 and res["seconds"] >= 15 and res["network_calls"] == [], log
