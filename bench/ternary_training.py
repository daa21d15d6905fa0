"""Loss curves of the ternary (2Bits of Protein) QAT runs and their float twins, from exporter.train's .json logs.

    python -m bench.ternary_training [--run LABEL=LOG.json ...] [--bins 10] [--md bench/results/ternary_training.md]

Per run: the logged checkpoints (step, minutes, mean train loss since the previous checkpoint,
validation perplexity) and the per-step training loss averaged in `--bins` equal step ranges
(where the paper's S-shaped ternary curve would show). A summary puts the paper's Table 1
ProteinGym means beside our validation perplexities; our ProteinGym numbers come after export.
"""
from __future__ import annotations

import argparse
import json
import math
from pathlib import Path

import numpy as np

from .common import REPO, emit, md_table, utc_now

RUNS = Path("/work/runs/ternary")
DEFAULT_RUNS = (f"recovered={RUNS / 'recovered.json'}", f"crammed-ternary={RUNS / 'crammed_ternary.json'}",
                f"crammed-float={RUNS / 'crammed_float.json'}")
# Turnbull, Baioumy & Deane 2024, Table 1: mean Spearman over 217 ProteinGym substitution assays.
PAPER_TABLE1 = {"ESM-2 8M": 0.226, "crammed ESM-2 8M": 0.192, "ternary ESM-2 8M": 0.181,
                "crammed ternary ESM-2 8M": 0.166}
# (paper row, our run label, which of our numbers stands beside it)
SUMMARY_ROWS = (("ESM-2 8M", "recovered", "float"), ("ternary ESM-2 8M", "recovered", "ternary"),
                ("crammed ESM-2 8M", "crammed-float", "final"),
                ("crammed ternary ESM-2 8M", "crammed-ternary", "final"))


def checkpoint_rows(log: dict) -> list[list]:
    """(step, minutes, mean per-step loss since the previous row, val ppl) per logged checkpoint."""
    losses = {s["step"]: s["loss"] for s in log.get("steps", [])}
    rows, prev = [], None
    for h in log["history"]:
        window = [v for k, v in losses.items() if prev is not None and prev < k <= h["step"]]
        rows.append([h["step"], round(h["minutes"], 1), float(np.mean(window)) if window else None, h["val_ppl"]])
        prev = h["step"]
    return rows


def binned_rows(log: dict, bins: int) -> list[list]:
    """(first step, last step, minutes at last, mean loss, min loss) over `bins` equal step ranges."""
    steps = log.get("steps", [])
    rows = []
    for chunk in np.array_split(np.arange(len(steps)), min(bins, len(steps))):
        if len(chunk):
            part = [steps[i] for i in chunk]
            loss = [s["loss"] for s in part]
            rows.append([part[0]["step"], part[-1]["step"], round(part[-1]["minutes"], 1),
                         float(np.mean(loss)), float(np.min(loss))])
    return rows


def run_args(log_path: Path) -> dict:
    """exporter.train's arguments, from the checkpoint beside the log (the .json does not keep them)."""
    ck = log_path.with_suffix(".pt")
    if not ck.is_file():
        return {}
    import torch

    return torch.load(ck, map_location="cpu", weights_only=False).get("training", {}).get("args", {})


def command_line(args: dict) -> str:
    flags = []
    for k, v in args.items():
        if v is None or v is False:
            continue
        flag = "--" + k.replace("_", "-")
        flags.append(flag if v is True else f"{flag} {v}")
    return "python -m exporter.train " + " ".join(flags)


def describe(label: str, path: Path, log: dict) -> dict:
    first, last = log["history"][0], log["history"][-1]
    return {"label": label, "log": str(path), "done": log["summary"].get("done", True),
            "steps": last["step"], "minutes": last["minutes"], "float_val_ppl_step0": first.get("float_val_ppl"),
            "val_ppl_step0": first["val_ppl"], "val_ppl_final": last["val_ppl"],
            "parameters": log["summary"].get("parameters")}


def summary_table(runs: dict[str, dict]) -> str:
    rows = []
    for paper_row, label, which in SUMMARY_ROWS:
        r = runs.get(label)
        if r is None:
            ours, what = None, "(run missing)"
            rows.append([paper_row, PAPER_TABLE1[paper_row], "to measure after export", ours, what])
            continue
        elif which == "float":
            ours, what = r["float_val_ppl_step0"], f"{label}: the float init, before ternarizing"
        elif which == "ternary":
            ours = r["val_ppl_final"]
            what = (f"{label}: ternary PTQ {r['val_ppl_step0']:.2f} at step 0 -> {ours:.2f} after "
                    f"{r['steps']} QAT steps")
        else:
            ours, what = r["val_ppl_final"], f"{label}: after {r['steps']} steps, {r['minutes']:.0f} min"
        size = f"{r['parameters'] / 1e6:.1f}M" if r.get("parameters") else "?"
        rows.append([paper_row, PAPER_TABLE1[paper_row], "to measure after export", ours, f"{size} {what}"])
    return md_table(["model", "paper ProteinGym rho (217 assays)", "ours ProteinGym rho", "ours val ppl",
                     "our run"], rows, digits=3)


def report(specs: list[str], bins: int, notes: list[str] = ()) -> tuple[str, dict]:
    parts, runs = [], {}
    for spec in specs:
        label, _, path = spec.partition("=")
        path = Path(path)
        if not path.is_file():
            parts.append(f"## {label}\n\n{path}: no log yet\n")
            continue
        log = json.loads(path.read_text())
        runs[label] = describe(label, path, log)
        state = "finished" if runs[label]["done"] else "in progress, last checkpoint"
        args = run_args(path)
        runs[label]["args"] = args
        command = f"`{command_line(args)}`\n\n" if args else ""
        parts.append(f"## {label} ({state}; {path})\n\n{command}Logged checkpoints (train loss: mean of the per-step "
                     f"masked-LM losses since the previous row):\n\n"
                     + md_table(["step", "minutes", "train loss", "val ppl"], checkpoint_rows(log), digits=3)
                     + f"\n\nPer-step training loss in {bins} equal step ranges:\n\n"
                     + md_table(["from step", "to step", "minutes", "mean loss", "min loss"],
                                binned_rows(log, bins), digits=3) + "\n")
    text = (f"# Ternary ESM-2 training (2Bits of Protein), {utc_now()}\n\n"
            "Paper: Turnbull, Baioumy & Deane 2024, Table 1 (ProteinGym mean Spearman). Ours: masked-LM "
            "validation perplexity (15% masking 80/10/10, fixed-seed crops of the 512 SwissProt "
            "sequences each run holds out; lower is better; ln(ppl) = cross-entropy); ProteinGym for ours is measured after export.\n\n"
            + summary_table(runs) + "\n\n" + "".join(f"{n}\n\n" for n in notes) + "\n".join(parts))
    return text, {"runs": runs, "paper_table1": PAPER_TABLE1}


def main(argv=None) -> int:
    p = argparse.ArgumentParser(prog="python -m bench.ternary_training", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--run", action="append", help="LABEL=path/to/run.json (default: the /work/runs/ternary runs)")
    p.add_argument("--bins", type=int, default=10)
    p.add_argument("--note", action="append", default=[], help="a paragraph to print under the summary")
    p.add_argument("--md", type=Path, default=REPO / "bench" / "results" / "ternary_training.md")
    p.add_argument("--json", type=Path, default=None)
    args = p.parse_args(argv)
    text, payload = report(args.run or list(DEFAULT_RUNS), args.bins, args.note)
    emit(text, payload, args.json, args.md)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
