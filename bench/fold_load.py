"""Folding pack load time: ONNX nodes and onnxruntime session-creation seconds per part, old vs new.

old: the structure part as the plain trace unrolls it (8 shared-weight IPA blocks, each with its
     own angle ResNet, torsion frames and atom14 positions written entry by entry);
new: the structure part as exported now (exporter/esmfold/structure_loop.py: one ONNX Loop over
     the blocks, frames and atoms once after it as 4x4 MatMuls, Constant nodes as initializers).
lm, trunk and heads are the same graphs in both columns (their two timings show the noise).

The bench model is bench/fold_packs.py's (real esmfold_v1 widths, random weights, --lm-layers of
36 and --trunk-blocks of 48; the structure module is complete). int8 parts are quantized as the
exporter does, calibrated on --calibration-size random sequences. Sessions are created from the
serialized parts in memory with the app's options (app.core.fold.parts.session_options), the
two forms interleaved, median of --repeats.

    python -m bench.fold_load --preset esmfold_v1 --schemes fp32,int8 --md bench/results/fold_load.md
"""
from __future__ import annotations

import argparse
import logging
import sys
import time
from pathlib import Path

from .common import cpu_info, cpu_line, emit, load_average, md_table, median, utc_now
from .fold_packs import FoldBenchModel, add_model_arguments

log = logging.getLogger("bench.fold_load")
FORMS = ("old", "new")
PARTS = ("lm", "trunk", "structure", "heads")


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="python -m bench.fold_load", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    add_model_arguments(p)
    p.add_argument("--schemes", default="fp32,int8", help="fp32 and/or a quantized scheme (int8, pwlq8, ...)")
    p.add_argument("--repeats", type=int, default=3, help="sessions created per part and form (median)")
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--calibration-size", type=int, default=2)
    p.add_argument("--calibration-max-residues", type=int, default=48)
    p.add_argument("--json", type=Path)
    p.add_argument("--md", type=Path)
    return p.parse_args(argv)


class _FreshCalibration:
    """A FoldCalibration's recorded feeds behind fresh PartCalibrators (own statistics per form)."""

    def __init__(self, calibration) -> None:
        self.calibration = calibration

    def part(self, name: str):
        from exporter.esmfold.calibration import PartCalibrator

        return PartCalibrator(name, self.calibration.part(name).recorded)


def node_count(model) -> int:
    """Nodes of a part, those of its Loop bodies (and nested subgraphs) included."""
    def count(graph) -> int:
        return sum(1 + sum(count(a.g) for a in n.attribute if a.HasField("g")) for n in graph.node)
    return count(model.graph)


def build_forms(torch_model, schemes: list[str], args) -> dict[str, dict[str, dict[str, bytes]]]:
    """{scheme: {form: {part: serialized model}}} for both structure forms."""
    from exporter.esmfold.calibration import FoldCalibration
    from exporter.esmfold.pack import architecture_manifest
    from exporter.esmfold.parts import PARTS as SPECS
    from exporter.esmfold.parts import export_part, export_parts
    from exporter.esmfold.quantize import quantize_part
    from exporter.scheme_options import scheme_config

    from .sequences import calibration_sequences

    new = {p: export_parts(torch_model)[SPECS[p].file] for p in PARTS}
    float_forms = {"new": new, "old": {**new, "structure": export_part(torch_model, "structure", structure_loop=False)}}
    out: dict[str, dict[str, dict]] = {}
    calibration = None
    for scheme in schemes:
        if scheme == "fp32":
            out[scheme] = float_forms
            continue
        config = scheme_config(scheme, family="esmfold")
        if calibration is None and config.needs_calibration:
            seqs = calibration_sequences(Path("/nonexistent"), args.calibration_size, args.seed)
            files = {SPECS[p].file: m for p, m in new.items()}
            calibration = FoldCalibration(files, architecture_manifest(torch_model), seqs, args.calibration_size,
                                          args.calibration_max_residues, num_recycles=1)
        shared = {p: quantize_part(new[p], p, config, calibration)[0] for p in ("lm", "trunk", "heads")}
        out[scheme] = {form: {**shared, "structure": quantize_part(float_forms[form]["structure"], "structure", config,
                                                                    _FreshCalibration(calibration))[0]}
                       for form in FORMS}
        log.info("%s quantized", scheme)
    return out


def time_sessions(models: dict[str, dict[str, dict]], repeats: int, threads: int) -> dict:
    """{scheme: {form: {part: {"nodes": n, "seconds": [per repeat]}}}}, forms interleaved."""
    from app.core.fold.parts import session_options
    from app.core.session import open_session

    from exporter.esmfold.chunking import expand_chunked_attention

    # placeholders (the trunk's triangle-attention and triangle-product cores) expanded as packs write them
    models = {s: {f: {p: expand_chunked_attention(m) for p, m in parts.items()} for f, parts in forms.items()}
              for s, forms in models.items()}
    blobs = {s: {f: {p: m.SerializeToString() for p, m in parts.items()} for f, parts in forms.items()}
             for s, forms in models.items()}
    runs = {s: {f: {p: {"nodes": node_count(m), "seconds": []} for p, m in parts.items()} for f, parts in forms.items()}
            for s, forms in models.items()}
    for rep in range(repeats):
        for scheme, forms in blobs.items():
            order = FORMS if rep % 2 == 0 else FORMS[::-1]
            for form in order:
                for part in PARTS:
                    t0 = time.perf_counter()
                    session = open_session(forms[form][part], session_options(threads))
                    runs[scheme][form][part]["seconds"].append(time.perf_counter() - t0)
                    del session
        log.info("repeat %d done", rep + 1)
    return runs


def report(runs: dict, args, loads: tuple[float, float]) -> str:
    rows = []
    for scheme, forms in runs.items():
        totals = dict.fromkeys(FORMS, 0.0)
        for part in PARTS:
            o, n = forms["old"][part], forms["new"][part]
            so, sn = median(o["seconds"]), median(n["seconds"])
            totals["old"] += so
            totals["new"] += sn
            rows.append([scheme, part, o["nodes"], n["nodes"], so, sn, so / sn])
        rows.append([scheme, "pack (sum)", sum(forms["old"][p]["nodes"] for p in PARTS),
                     sum(forms["new"][p]["nodes"] for p in PARTS), totals["old"], totals["new"],
                     totals["old"] / totals["new"]])
    import onnxruntime

    head = (f"{cpu_line(cpu_info())}\n\nonnxruntime {onnxruntime.__version__}, {args.threads} threads, {utc_now()}; "
            f"1-min load average {loads[0]:.2f} at start, {loads[1]:.2f} at end (a shared 2-core machine)\n\n"
            f"Bench model: {args.preset} widths, random weights, LM {args.lm_layers} layers, trunk {args.trunk_blocks} "
            f"blocks, structure module complete. Session creation (onnxruntime.InferenceSession from the serialized "
            f"part, app options), median of {args.repeats}, old and new interleaved. Nodes include Loop bodies.\n\n")
    return head + md_table(["scheme", "part", "nodes old", "nodes new", "load s old", "load s new", "x faster"],
                           rows, digits=2)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s", stream=sys.stderr)
    logging.getLogger("exporter").setLevel(logging.WARNING)
    start = load_average()
    torch_model = FoldBenchModel(args.preset, args.lm_layers, args.trunk_blocks, args.seed).build()
    models = build_forms(torch_model, [s for s in args.schemes.split(",") if s], args)
    runs = time_sessions(models, args.repeats, args.threads)
    text = report(runs, args, (start, load_average()))
    emit(text, {"args": {k: str(v) for k, v in vars(args).items()}, "runs": runs}, args.json, args.md)
    return 0


if __name__ == "__main__":
    sys.exit(main())
