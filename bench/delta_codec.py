"""Delta codecs on a real (base, fine-tuned) ESM-2 pair: error of delta and of x @ delta per ratio x method.

    OPENBLAS_NUM_THREADS=1 python -m bench.delta_codec --base BASE --tuned TUNED.pt [TUNED2 ...] \\
        [--ratios 16 32 64 128] [--md bench/results/delta_codec.md]

BASE / TUNED: fair-esm .pt files or HuggingFace ESM directories (exporter.loaders.load). Only the
2-D Linear weights of the encoder layers (layers.N.*.weight) are delta-coded. x is the real input
of each Linear in the BASE model (forward hooks): rows from --calib sequences feed the
data-aware codecs, disjoint rows from --heldout sequences score every codec. Errors are pooled
over all coded matrices: sqrt(sum ||D - D^||^2 / sum ||D||^2), same for X D^T. bits/param counts
every stored byte (quant/delta*.py) over the coded parameters; ratio = 16 / bits-per-param.
--synthetic-rank R: no fine-tune yet; TUNED = BASE + a random rank-R perturbation (for smoke runs).
Set OPENBLAS_NUM_THREADS=1 on shared CPUs: the search does many small matmuls.
"""
from __future__ import annotations

import argparse
import logging
import re
import time
from pathlib import Path

import numpy as np

from quant.delta import code_bits, decode_delta, encode_delta
from quant.delta_alloc import allocate, ladder
from quant.delta_codecs import CODECS
from quant.delta_errors import DeltaBudgetError

from .common import md_table, utc_now

log = logging.getLogger("bench.delta_codec")
CODED = re.compile(r"^layers\.\d+\.(self_attn\.(q|k|v|out)_proj|fc1|fc2)\.weight$")
METHODS = ("deltadq", "deltadq_calib", "deltadq_alloc", "deltadq_calib_alloc", "magnitude_int8", "bitdelta",
           "lowrank_fp16", "uniform4_g64")


def coded_deltas(base: dict[str, np.ndarray], tuned: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """{name: W_tuned - W_base} for the encoder's 2-D Linear weights, (out, in) float32."""
    out = {}
    for k, w in base.items():
        if CODED.match(k) and w.ndim == 2:
            if k not in tuned or tuned[k].shape != w.shape:
                raise SystemExit(f"error: fine-tuned checkpoint lacks {k} of shape {w.shape}")
            out[k] = (tuned[k].astype(np.float32) - w.astype(np.float32))
    if not out:
        raise SystemExit("error: no encoder Linear weights (layers.N.*.weight) found in the base checkpoint")
    return out


def layer_inputs(weights, sequences: list[str], names, max_rows: int, seed: int) -> dict[str, np.ndarray]:
    """Inputs (rows, in) of each named Linear in a fair-esm ESM2 built from `weights`, on `sequences`."""
    import esm
    import torch
    from esm.model.esm2 import ESM2

    from packbuild.sequences import encode

    cfg = weights.config
    model = ESM2(num_layers=cfg.num_layers, embed_dim=cfg.embed_dim, attention_heads=cfg.attention_heads,
                 alphabet=esm.data.Alphabet.from_architecture("ESM-1b"), token_dropout=cfg.token_dropout)
    model.load_state_dict({k: torch.from_numpy(np.asarray(v)) for k, v in weights.arrays.items()}, strict=False)
    model.eval()
    rows: dict[str, list[np.ndarray]] = {n: [] for n in names}
    modules = dict(model.named_modules())
    hooks = [modules[n[: -len(".weight")]].register_forward_hook(
        lambda mod, inp, out, n=n: rows[n].append(inp[0].detach().reshape(-1, inp[0].shape[-1]).numpy().copy()))
        for n in names]
    with torch.no_grad():
        for s in sequences:
            model(torch.from_numpy(encode(s[:256])))
    for h in hooks:
        h.remove()
    rng = np.random.default_rng(seed)
    out = {}
    for n, chunks in rows.items():
        x = np.concatenate(chunks).astype(np.float32)
        out[n] = x[np.sort(rng.choice(len(x), min(max_rows, len(x)), replace=False))]
    return out


def synthetic_tuned(base: dict[str, np.ndarray], rank: int, seed: int) -> dict[str, np.ndarray]:
    """BASE + U V^T per coded matrix, ~1% of its rms plus 0.2% full-rank noise."""
    rng = np.random.default_rng(seed)
    out = dict(base)
    for k, w in base.items():
        if CODED.match(k) and w.ndim == 2:
            rms = float(np.sqrt(np.mean(w.astype(np.float64) ** 2)))
            lr = rng.normal(size=(w.shape[0], rank)) @ rng.normal(size=(rank, w.shape[1])) / np.sqrt(rank)
            out[k] = (w + rms * (0.01 * lr + 0.002 * rng.normal(size=w.shape))).astype(np.float32)
    return out


def run_method(method: str, deltas, calib, heldout, ratio: float, ladders: dict) -> dict | None:
    """Pooled errors, bits/param and (DeltaDQ) the chosen configurations of one method at one ratio."""
    num_d = den_d = num_y = den_y = 0.0
    bits = params = 0
    configs: dict[str, int] = {}
    try:
        alloc = (allocate(ladders[method], {n: d.size for n, d in deltas.items()}, ratio)
                 if method.endswith("_alloc") else {})
    except DeltaBudgetError:
        return None
    for name, d in deltas.items():
        try:
            if method.endswith("_alloc"):
                code = alloc[name]
                d_hat, b = decode_delta(code), code_bits(code)
            elif method == "deltadq_calib":
                code = encode_delta(d, ratio, calib_inputs=calib[name])
                d_hat, b = decode_delta(code), code_bits(code)
            else:
                codec = CODECS[method]
                code = codec.encode(d, ratio)
                d_hat, b = codec.decode(code), codec.bits(code)
        except DeltaBudgetError:
            return None
        if method.endswith("_alloc"):                  # bits per kind of matrix, as "kind": [bits, params]
            kind = name.split(".")[-2]
            acc = configs.setdefault(kind, [0, 0])
            acc[0], acc[1] = acc[0] + b, acc[1] + d.size
        elif method.startswith("deltadq"):
            key = f"g={code.group_size} keep={code.keep}/{code.group_size} b={code.bits} " \
                  f"{'row' if code.rel is not None else 'tensor'}"
            configs[key] = configs.get(key, 0) + 1
        x = heldout[name]
        y, y_hat = x @ d.T, x @ d_hat.T
        num_d += float(np.sum((d - d_hat) ** 2))
        den_d += float(np.sum(d * d))
        num_y += float(np.sum((y - y_hat) ** 2))
        den_y += float(np.sum(y * y))
        bits += b
        params += d.size
    return {"rel_frob": (num_d / den_d) ** 0.5, "rel_xdelta": (num_y / den_y) ** 0.5,
            "bits_per_param": bits / params, "achieved": 16 * params / bits, "configs": configs}


def bench_pair(base_w, tuned_arrays, label: str, ratios, methods, calib_seqs, heldout_seqs, rows: int):
    deltas = coded_deltas(base_w.arrays, tuned_arrays)
    names = sorted(deltas)
    calib = layer_inputs(base_w, calib_seqs, names, rows, 0)
    heldout = layer_inputs(base_w, heldout_seqs, names, 2 * rows, 1)
    total = sum(d.size for d in deltas.values())
    norm = float(np.sqrt(sum(float(np.sum(d * d)) for d in deltas.values())))
    wnorm = float(np.sqrt(sum(float(np.sum(base_w.arrays[n].astype(np.float64) ** 2)) for n in names)))
    ladders, ladder_seconds = {}, {}
    for m, use_calib in (("deltadq_alloc", False), ("deltadq_calib_alloc", True)):
        if m in methods:
            t = time.time()
            ladders[m] = {n: ladder(d, calib_inputs=calib[n] if use_calib else None) for n, d in deltas.items()}
            ladder_seconds[m] = time.time() - t
            log.info("%s: %s ladder in %.0f s", label, m, ladder_seconds[m])
    results = []
    for ratio in ratios:
        for m in methods:
            t = time.time()
            r = run_method(m, deltas, calib, heldout, ratio, ladders)
            results.append({"ratio": ratio, "method": m, **(r or {}), "seconds": time.time() - t})
            log.info("%s %sx %s: %s", label, ratio, m, r and {k: v for k, v in r.items() if k != "configs"})
    reference = run_method("uniform4_g64", deltas, calib, heldout, 3.5, ladders) if "uniform4_g64" in methods else None
    return {"label": label, "matrices": len(names), "params": total, "delta_over_weight": norm / wnorm,
            "uniform4_reference": reference,
            "ladder_seconds": ladder_seconds, "results": results}


def report(pairs, args) -> str:
    lines = [f"# Delta codecs on real ESM-2 fine-tunes ({utc_now()})", "",
             f"Base: `{args.base}`. Command: `python -m bench.delta_codec --base {args.base} --tuned "
             f"{' '.join(args.tuned)} --ratios {' '.join(str(r) for r in args.ratios)}`", "",
             "rel frob = ||D - D^||_F / ||D||_F pooled over the encoder's Linear weights; rel x@D = same for "
             "X D^T with X the real inputs of each Linear in the base model on held-out sequences; bits/param "
             "counts every stored byte; achieved = 16 / bits-per-param. deltadq_calib fits on calibration "
             "sequences (disjoint from the held-out ones); - = the method cannot reach that size.", "",
             "Methods: deltadq = quant/delta.py, every matrix at the ratio, searched on the Frobenius error; "
             "_calib = searched and scale-fitted on x @ D of calibration inputs; _alloc = one model-wide "
             "budget spread over matrices (quant/delta_alloc.py); magnitude_int8 = top-|D| + int8 + explicit "
             "indices; bitdelta = sign + one scale per matrix (no distillation); lowrank_fp16 = truncated SVD, "
             "fp16 factors (largest rank that fits); uniform4_g64 = plain 4-bit, scale per 64 columns.", ""]
    for p in pairs:
        lines += [f"## {p['label']}", "",
                  f"{p['matrices']} matrices, {p['params']} delta parameters, ||D|| / ||W_base|| = "
                  f"{p['delta_over_weight']:.4f}", ""]
        methods = list(dict.fromkeys(r["method"] for r in p["results"]))
        ratios = list(dict.fromkeys(r["ratio"] for r in p["results"]))
        cell = {(r["ratio"], r["method"]): r.get("rel_xdelta") for r in p["results"]}
        lines += ["rel x@D (held-out inputs), ratio x method:", "",
                  md_table(["ratio", *methods], [[q, *(cell[q, m] for m in methods)] for q in ratios]), ""]
        rows = [[r["ratio"], r["method"], r.get("rel_frob"), r.get("rel_xdelta"), r.get("bits_per_param"),
                 r.get("achieved")] for r in p["results"]]
        lines += [md_table(["ratio", "method", "rel frob", "rel x@D", "bits/param", "achieved"], rows), ""]
        ref = p.get("uniform4_reference")
        if ref:
            lines += [f"Reference, plain 4-bit at its own size ({ref['achieved']:.2f}x, {ref['bits_per_param']:.3f} "
                      f"bits/param): rel frob {ref['rel_frob']:.3f}, rel x@D {ref['rel_xdelta']:.3f}.", ""]
        lines += ["DeltaDQ configurations chosen (count of matrices):", ""]
        for r in p["results"]:
            if r.get("configs") and r["method"].endswith("_alloc"):
                lines.append(f"- {r['ratio']}x {r['method']}, achieved ratio per kind of matrix: " +
                             ", ".join(f"{k} {16 * v[1] / v[0]:.0f}x" for k, v in sorted(r["configs"].items())))
            elif r.get("configs"):
                lines.append(f"- {r['ratio']}x {r['method']}: " +
                             "; ".join(f"{k} ({v})" for k, v in sorted(r["configs"].items())))
        lines.append("")
    return "\n".join(lines)


def main(argv=None) -> None:
    from exporter.loaders import load
    from packbuild.sequences import DEFAULT_CALIBRATION, DEFAULT_HELDOUT, read_sequences, stratified

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--base", required=True)
    ap.add_argument("--tuned", nargs="*", default=[])
    ap.add_argument("--synthetic-rank", type=int, default=0)
    ap.add_argument("--ratios", nargs="+", type=float, default=[16, 32, 64, 128])
    ap.add_argument("--methods", nargs="+", default=list(METHODS), choices=METHODS)
    ap.add_argument("--calib", type=Path, default=DEFAULT_CALIBRATION)
    ap.add_argument("--heldout", type=Path, default=DEFAULT_HELDOUT)
    ap.add_argument("--sequences", type=int, default=16, help="sequences per set")
    ap.add_argument("--rows", type=int, default=256, help="calibration rows per matrix (held-out: 2x)")
    ap.add_argument("--md", type=Path)
    args = ap.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s")
    args.ratios = [int(r) if float(r).is_integer() else r for r in args.ratios]
    if not args.tuned and not args.synthetic_rank:
        ap.error("give --tuned checkpoints or --synthetic-rank R")
    base = load(args.base).weights
    calib_seqs = stratified(read_sequences(args.calib), args.sequences, 256)
    heldout_seqs = stratified(read_sequences(args.heldout), args.sequences, 256)
    pairs = []
    for t in args.tuned:
        pairs.append(bench_pair(base, load(t).weights.arrays, t, args.ratios, args.methods, calib_seqs,
                                heldout_seqs, args.rows))
    if args.synthetic_rank:
        pairs.append(bench_pair(base, synthetic_tuned(base.arrays, args.synthetic_rank, 0),
                                f"synthetic: base + rank-{args.synthetic_rank} perturbation", args.ratios,
                                args.methods, calib_seqs, heldout_seqs, args.rows))
    text = report(pairs, args)
    print(text)
    if args.md:
        args.md.parent.mkdir(parents=True, exist_ok=True)
        args.md.write_text(text + "\n")


if __name__ == "__main__":
    main()
