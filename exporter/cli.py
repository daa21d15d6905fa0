"""`python -m exporter MODEL --schemes ... --out DIR`: checkpoints to verified, quantized model packs."""
from __future__ import annotations

import argparse
import logging
import sys
from pathlib import Path

from app.core.exit_codes import INTERRUPTED, exit_code

from packbuild.sequences import DEFAULT_CALIBRATION, DEFAULT_HELDOUT, read_sequences, stratified

from .results_table import Column, results_table

DESCRIPTION = """\
Export an ESM-2 masked language model to ONNX model packs, one per quantization scheme.

MODEL is one of:
  a fair-esm name        esm2_t6_8M_UR50D, esm2_t12_35M_UR50D, esm2_t30_150M_UR50D,
                         esm2_t33_650M_UR50D, esm2_t36_3B_UR50D (downloaded through fair-esm)
  a local fair-esm .pt   e.g. ~/.cache/torch/hub/checkpoints/esm2_t6_8M_UR50D.pt, or a
                         checkpoint written by `python -m exporter.train`
  a HuggingFace dir      config.json + model.safetensors of an EsmForMaskedLM
  an ESMFold checkpoint  a HuggingFace EsmForProteinFolding dir (config.json with
                         is_folding_model), fair-esm's esmfold_3B_v1.pt (ESM-2 3B from
                         --esm-weights, beside it, or torch hub's cache), or esmfold_v1
                         (downloaded: HuggingFace facebook/esmfold_v1, else fair-esm's URL).
                         Writes folding packs (lm/trunk/structure/heads ONNX parts), verified by
                         folding held-out sequences (CA RMSD, max deviation, TM-score, pLDDT/pTM
                         deltas vs the torch fp32 model).

Schemes:
  fp32          the float graph (reference; largest, slowest)
  int8          uniform W8A8: int8 per-channel weights, uint8 activations on Linear inputs
                (add LayerNorm inputs with --placement linear,layernorm: PTQ4Protein's placement)
  pwlq8         as int8, but piecewise-linear (PTQ4Protein) quantization where activations
                are wide and asymmetric (Linear inputs where it pays, as the exact two-grid
                split; --pwlq-form channels for the channel split)
  dynamic-int8  int8 weights, activations quantized at run time (no calibration)
  ternary       2Bits of Protein: BitNet b1.58 ternary {-1,0,1} weights (absmean scale) in the
                encoder Linears, stored 2 bits a weight, run as int8 with run-time uint8
                activations; on a float checkpoint this is post-training ternarization, on a
                `python -m exporter.train --ternary` checkpoint it exports the QAT model.
                Not in the default --schemes.

Each pack is verified against the float torch model on held-out sequences (logits SQNR,
top-1 agreement, Spearman of fp32 vs quantized variant scores); the table is printed and
stored in each pack's manifest.json.

Other commands:
  python -m exporter.train --help     train a small ESM-2 on a FASTA file
  python -m exporter evaluate-fold -h  TM-score of each folding scheme vs experiment and fp32
"""


def placement_arg(text: str) -> tuple[str, ...]:
    """argparse type of --placement: a comma-separated subset of quant's placements that includes linear."""
    from quant.configs import ALL_PLACEMENTS

    items = tuple(dict.fromkeys(t.strip() for t in text.split(",") if t.strip()))
    unknown = [t for t in items if t not in ALL_PLACEMENTS]
    if unknown or "linear" not in items:
        raise argparse.ArgumentTypeError(f"placement {text!r}: use a comma-separated subset of "
                                         f"{', '.join(ALL_PLACEMENTS)} that includes linear")
    return items


def with_ternary_granularity(config, granularity: str | None, qat: dict | None):
    """A ternary config with the requested scale granularity, or the QAT checkpoint's; ValueError
    when the request contradicts how the checkpoint was trained."""
    if config.name != "ternary":
        return config
    trained = None if qat is None else ("channel" if qat["per_channel"] else "tensor")
    if granularity and trained and granularity != trained:
        raise ValueError(f"--ternary-granularity {granularity}: this checkpoint was trained with {trained} scales")
    from dataclasses import replace

    from quant import TernaryWeights

    return replace(config, weights=TernaryWeights(granularity or trained or "tensor"))


def parse_args(argv: list[str]) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="python -m exporter", description=DESCRIPTION,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("model", help="fair-esm name, local .pt file, or HuggingFace ESM directory")
    p.add_argument("--schemes", default="fp32,int8,pwlq8,dynamic-int8",
                   help="comma-separated schemes to write (default: all four)")
    p.add_argument("--out", required=True, type=Path, help="output directory; packs go to OUT/<scheme>/")
    p.add_argument("--calibration", type=Path, default=DEFAULT_CALIBRATION,
                   help="FASTA of calibration sequences (default: the length-stratified SwissProt set "
                        "shipped in assets/calibration)")
    p.add_argument("--calibration-size", type=int, default=None,
                   help="how many calibration sequences to use, spread uniformly over lengths "
                        "(default 64; ESMFold 16)")
    p.add_argument("--verify", type=Path, default=DEFAULT_HELDOUT,
                   help="FASTA of held-out sequences for the accuracy check (default: assets/calibration)")
    p.add_argument("--verify-size", type=int, default=None,
                   help="held-out sequences to verify on (default 16; ESMFold 4)")
    p.add_argument("--max-verify-residues", type=int, default=None,
                   help="crop verification sequences to this many residues (default 400; ESMFold 256, "
                        "calibration sequences too)")
    p.add_argument("--observer", choices=("minmax", "percentile", "ptq4protein"), default=None,
                   help="activation range observer for int8/pwlq8 (default: minmax; ptq4protein = "
                        "PTQ4Protein's per-sample top-k clipping)")
    p.add_argument("--pwlq-split", choices=("auto", "never", "always"), default=None,
                   help="pwlq8 on Linear inputs: auto (default; the exact two-grid split where the "
                        "Gaussian error model says it pays: most accurate, up to ~2x the int8 time), "
                        "never (PWLQ on LayerNorm inputs only: int8 speed), always")
    p.add_argument("--pwlq-form", choices=("exact", "channels", "tokens"), default=None,
                   help="how a pwlq8 split Linear runs. ESM-2 default tokens: one int8 MatMul on a per-token "
                        "grid, the 2%% widest input channels scaled into the others' range (--pwlq-outliers); "
                        "~1.1x int8's time at 650M shapes, 39.2 dB logits SQNR on the real 8M. exact: "
                        "PTQ4Protein's two-grid split over every input channel (the paper's form, ESMFold's "
                        "default), two int8 MatMuls, ~1.9x int8's time, 40.5 dB. channels: one int8 MatMul plus "
                        "a thin MatMul over the <= 5%% of channels past the breakpoint, about int8's accuracy")
    p.add_argument("--pwlq-outliers", choices=("scaled", "float"), default=None,
                   help="tokens form: the widest channels scaled into range (default) or kept in float by a "
                        "thin float MatMul (40.9 dB on the real 8M, ~1.25x int8's time)")
    p.add_argument("--placement", type=placement_arg, default=None,
                   help="int8/pwlq8 activation quantizers, comma-separated from linear, layernorm, softmax "
                        "(softmax: ESMFold's trunk and structure only). Default for ESM-2: linear (measured "
                        "more accurate and no slower on CPU); linear,layernorm reproduces PTQ4Protein's "
                        "placement (the paper's). ESMFold default: linear,layernorm,softmax")
    p.add_argument("--fused-attention", action="store_true",
                   help="model.onnx runs each layer's attention as onnxruntime's fused MultiHeadAttention "
                        "(com.microsoft contrib op, after the rotary embedding; same logits to float "
                        "rounding); contacts.onnx stays unfused (its head reads the attention maps)")
    p.add_argument("--attention", choices=("float", "int8", "int8-scores"), default=None,
                   help="int8/pwlq8: run the attention MatMuls as integer MatMuls: int8 = Q.K^T and P.V (Q, K, V "
                        "on calibrated 8-bit grids, the Softmax output on uint8 1/255), int8-scores = Q.K^T only. "
                        "Default float. An option, not a default: on the real ESM-2 8M int8 costs logits SQNR "
                        "(the 1/255 grid of P), int8-scores little, and neither measured faster on CPU "
                        "(bench/results/attention_int8.md). Not with --fused-attention")
    p.add_argument("--ternary-granularity", choices=("tensor", "channel"), default=None,
                   help="ternary: one absmean scale per matrix (tensor, the paper's) or per output channel; "
                        "default: what a `exporter.train --ternary` checkpoint was trained with, else tensor")
    p.add_argument("--contacts", action="store_true",
                   help="also write contacts.onnx (adds the contact-map output; about doubles the pack)")
    p.add_argument("--recycles", type=int, default=None,
                   help="ESMFold: recycles when calibrating and verifying (default: the model's max_recycles)")
    p.add_argument("--chunk-size", type=int, default=None,
                   help="ESMFold: rows per triangle-attention chunk in the trunk (as ESMFold's set_chunk_size): "
                        "peak memory grows with L^2 * chunk instead of L^3; 0 = unchunked; "
                        "default: the checkpoint's trunk chunk_size")
    p.add_argument("--esm-weights", type=Path, default=None,
                   help="ESMFold from fair-esm's .pt: the ESM-2 checkpoint it needs (esm2_t36_3B_UR50D.pt)")
    p.add_argument("--name", help="model name in the manifest (default: from the checkpoint)")
    p.add_argument("--threads", type=int, default=None, help="onnxruntime threads for verification")
    p.add_argument("--benchmark", type=Path, default=None, metavar="ASSAY_DIR",
                   help="ProteinGym-format assays (*.csv[.gz]: mutant, mutated_sequence, DMS_score): score each "
                        "pack on them through the app's runtime and record the mean Spearman in its manifest")
    p.add_argument("--benchmark-method", choices=("wt-marginal", "masked-marginal"), default="wt-marginal",
                   help="scoring method of --benchmark (default wt-marginal: one pass per assay)")
    p.add_argument("--license", default="", help="license text or SPDX id stored in the manifest")
    p.add_argument("--credits", default="", help="credits stored in the manifest")
    p.add_argument("-v", "--verbose", action="store_true")
    return p.parse_args(argv)


class Bar:
    """A tqdm progress bar per message, driven by the (done, total, message) callback."""

    def __init__(self) -> None:
        self.bar, self.message = None, None

    def __call__(self, done: int, total: int, message: str) -> None:
        from tqdm import tqdm

        if message != self.message or self.bar is None:
            self.close()
            self.bar, self.message = tqdm(total=total, desc=message, file=sys.stderr, leave=False), message
        self.bar.n = done
        self.bar.refresh()
        if done >= total:
            self.close()

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()
            self.bar = None


ESM2_COLUMNS: tuple[Column, ...] = (("logits SQNR dB", "logits_sqnr_db", 15, 2),
                                    ("top-1 agree", "top1_agreement", 12, 4),
                                    ("variant rho", "variant_spearman_vs_fp32", 12, 4))


def format_table(results) -> str:
    return results_table(results, ESM2_COLUMNS)


ESM2_DEFAULTS = {"calibration_size": 64, "verify_size": 16, "max_verify_residues": 400}


def run(args: argparse.Namespace) -> int:
    from .esmfold.loaders import is_folding_checkpoint
    from .loaders import load
    from packbuild.pack import check_out_dirs

    from .scheme_options import parse_schemes

    parse_schemes(args.schemes)  # an unknown scheme is refused first, with the known ones listed
    check_out_dirs(args.out, args.schemes)  # before any work: never replace a directory that is not a pack
    if is_folding_checkpoint(args.model):
        from .esmfold.cli import run_folding

        return run_folding(args, progress=Bar())
    for key, value in ESM2_DEFAULTS.items():
        if getattr(args, key) is None:
            setattr(args, key, value)
    from .pipeline import ExportOptions, Exporter
    from .scheme_options import scheme_config

    if args.fused_attention and args.attention not in (None, "float"):
        raise ValueError(f"--attention {args.attention} quantizes the attention MatMuls, which "
                         f"--fused-attention replaces by one MultiHeadAttention op: choose one")
    configs = [scheme_config(name, args.observer, args.pwlq_split, args.placement, form=args.pwlq_form,
                             attention=args.attention, outliers=args.pwlq_outliers)
               for name in parse_schemes(args.schemes)]
    if args.benchmark is not None:
        from .proteingym import assay_paths

        if not args.benchmark.is_dir() or not assay_paths(args.benchmark):
            raise ValueError(f"--benchmark {args.benchmark}: no ProteinGym assay files (*.csv, *.csv.gz) there")
    calibration = read_sequences(args.calibration)
    heldout = stratified(read_sequences(args.verify), args.verify_size, args.max_verify_residues, seed=1)
    print(f"loading {args.model} ...", file=sys.stderr)
    loaded = load(args.model)
    if args.name:
        loaded.weights.name = args.name
    configs = [with_ternary_granularity(c, args.ternary_granularity, loaded.ternary_qat) for c in configs]
    bar = Bar()
    options = ExportOptions(contacts=args.contacts, calibration_size=args.calibration_size,
                            verify_sequences=heldout, threads=args.threads,
                            calibration_source=str(args.calibration), license=args.license,
                            credits=args.credits, benchmark=args.benchmark,
                            benchmark_method=args.benchmark_method, fused_attention=args.fused_attention)
    exporter = Exporter(loaded, calibration, options, progress=bar)
    results = []
    for config in configs:
        print(f"exporting {config.name} ...", file=sys.stderr)
        results.append(exporter.export(config, args.out / config.name))
    bar.close()
    print(f"\n{loaded.weights.name}: verified on {len(heldout)} held-out sequences against the torch fp32 model")
    print(format_table(results))
    return 0


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if argv and argv[0] == "train":
        from .train import main as train_main
        return train_main(argv[1:])
    if argv and argv[0] == "evaluate-fold":
        from .esmfold.evaluate import main as evaluate_main
        return evaluate_main(argv[1:])
    if argv and argv[0] == "delta":
        from .delta_cli import main as delta_main
        return delta_main(argv[1:])
    args = parse_args(argv)
    logging.basicConfig(level=logging.INFO if args.verbose else logging.WARNING, format="%(message)s")
    try:
        return run(args)
    except KeyboardInterrupt:
        print("error: interrupted; no partial pack was left behind", file=sys.stderr)
        return INTERRUPTED
    except (ValueError, FileNotFoundError, OSError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return exit_code(exc)  # USAGE
