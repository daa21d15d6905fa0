"""ESM-2 default placement (Linear inputs), PTQ4Protein's placement on request, and pwlq8's
--pwlq-form reaching the pack."""
from __future__ import annotations

import json

from exporter.scheme_options import PAPER_PLACEMENT, scheme_config
from test_cli import SEQS, run, tiny_checkpoint, write_fasta


def test_esm2_default_placement_is_linear_and_the_paper_placement_is_an_option():
    for name in ("int8", "pwlq8"):
        assert scheme_config(name).placement == ("linear",)
        assert scheme_config(name, placement=PAPER_PLACEMENT).placement == ("linear", "layernorm")
    assert scheme_config("int8", family="esmfold").placement == ("linear", "layernorm", "softmax")
    assert scheme_config("pwlq8").linear_form == "tokens"  # ESM-2's default form
    assert scheme_config("pwlq8", form="exact").linear_form == "exact"  # PTQ4Protein's
    assert scheme_config("pwlq8", family="esmfold").linear_form == "exact"
    assert scheme_config("pwlq8", form="channels").linear_form == "channels"
    assert not hasattr(scheme_config("int8", form="channels"), "linear_form")  # not int8's option


def test_help_names_the_paper_placement_and_the_pwlq_forms():
    res = run("--help")
    assert res.returncode == 0
    text = " ".join(res.stdout.split())
    assert "reproduces PTQ4Protein's placement" in text and "Default for ESM-2: linear" in text
    assert "--pwlq-form {exact,channels,tokens}" in text


def test_cli_pwlq_form_channels_writes_a_channel_split_pack(tmp_path):
    fasta = write_fasta(tmp_path / "seqs.fasta", SEQS)
    res = run(tiny_checkpoint(tmp_path), "--schemes", "pwlq8", "--pwlq-split", "always", "--pwlq-form", "channels",
              "--out", tmp_path / "p", "--calibration", fasta, "--verify", fasta, "--calibration-size", "4")
    assert res.returncode == 0, res.stderr[-2000:]
    report = json.loads((tmp_path / "p" / "pwlq8" / "manifest.json").read_text())["scheme_config"]
    assert report["config"]["placement"] == ["linear"] and report["config"]["linear_form"] == "channels"
    assert {s["form"] for s in report["sites"]} == {"channel_split"}
