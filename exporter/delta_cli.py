"""`python -m exporter delta`: write a delta pack (a fine-tune as coded deltas on a base pack).

    python -m exporter delta --base BASE_PACK --finetuned FT --ratio 16 --out DIR
        [--method deltadq|magnitude|bitdelta|uniform4|lowrank] [--base-model FLOAT_BASE]
        [--assay ASSAY.csv.gz] [--heldout FASTA] [--sequences N] [--calibrate N]
"""
from __future__ import annotations

import argparse
import logging
import sys
from pathlib import Path

from app.core.exit_codes import INTERRUPTED, exit_code
from app.core.pack import PackError

from .delta_pack import METHODS, build_spec, write_delta_pack


def parse_args(argv: list[str]) -> argparse.Namespace:
    ap = argparse.ArgumentParser(prog="python -m exporter delta", description=__doc__.splitlines()[0])
    ap.add_argument("--base", type=Path, required=True, help="the base pack directory (installed or not)")
    ap.add_argument("--finetuned", required=True, help="fine-tuned ESM-2 (any exporter.loaders source)")
    ap.add_argument("--ratio", type=float, default=16.0, help="compression of the Linear deltas vs fp16 (16)")
    ap.add_argument("--out", type=Path, required=True, help="the delta pack directory to write")
    ap.add_argument("--method", default="deltadq", choices=METHODS)
    ap.add_argument("--base-model", help="float checkpoint of a quantized base pack")
    ap.add_argument("--assay", type=Path, help="ProteinGym assay (.csv.gz): record zero-shot Spearman")
    ap.add_argument("--heldout", type=Path, help="held-out FASTA for the logits SQNR (default: assets/calibration)")
    ap.add_argument("--sequences", type=int, default=8, help="held-out sequences for the SQNR (8)")
    ap.add_argument("--calibrate", type=int, default=0, metavar="N",
                    help="DeltaDQ: fit codes to x @ delta on the base's real Linear inputs from N calibration "
                         "sequences (assets/calibration; 0: to the delta itself, the default)")
    ap.add_argument("--threads", type=int)
    ap.add_argument("-v", "--verbose", action="store_true")
    return ap.parse_args(argv)


def run(args: argparse.Namespace) -> int:
    from .delta_verify import table, verify_delta
    from .loaders import load
    from packbuild.pack import check_replaceable
    from .proteingym import read_assay
    from packbuild.sequences import DEFAULT_CALIBRATION, DEFAULT_HELDOUT, read_sequences, stratified

    check_replaceable(args.out)
    finetuned = load(args.finetuned)
    assay = read_assay(args.assay) if args.assay else None
    sequences = stratified(read_sequences(args.heldout or DEFAULT_HELDOUT), args.sequences, 256)
    calib = None
    if args.calibrate and args.method == "deltadq":
        from .delta_calib import base_float_model, linear_inputs
        from .delta_pack import CODED, base_weights

        names = [n for n in base_weights(args.base, args.base_model)[0] if CODED.match(n)]
        calib_seqs = stratified(read_sequences(DEFAULT_CALIBRATION), args.calibrate, 256)
        calib = linear_inputs(base_float_model(args.base, args.base_model), names, calib_seqs, threads=args.threads)
    spec = build_spec(args.base, finetuned, args.method, args.ratio, args.base_model, calib=calib)
    if calib is not None:
        spec.calibration = {"source": DEFAULT_CALIBRATION.name, "n_sequences": len(calib_seqs),
                            "rows_per_matrix": int(next(iter(calib.values())).shape[0])}
    result: dict = {}

    def inspect(staged: Path) -> dict:
        result["verification"] = verify_delta(staged, args.base, finetuned, sequences, assay, args.threads)
        return {"verification": result["verification"]}

    out = write_delta_pack(args.out, spec, inspect)
    size = sum(p.stat().st_size for p in out.iterdir() if p.is_file())
    print(f"delta pack {out}: {spec.method} at {spec.ratio:g}x on base {args.base} "
          f"({spec.coded_params} coded + {spec.dense_params} dense parameters, {size / 1024:.1f} KB)")
    print(table(result["verification"]))
    return 0


def main(argv: list[str] | None = None) -> int:
    args = parse_args(sys.argv[1:] if argv is None else argv)
    logging.basicConfig(level=logging.INFO if args.verbose else logging.WARNING, format="%(message)s")
    try:
        return run(args)
    except KeyboardInterrupt:
        print("error: interrupted; no partial pack was left behind", file=sys.stderr)
        return INTERRUPTED
    except (ValueError, OSError, PackError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return exit_code(exc)
