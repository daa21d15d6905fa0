"""Build model packs through exporter.pipeline.Exporter and cache them under a work directory.

`python -m bench.packs --arch t6_8M --work DIR` builds the random-weight packs of the speed bench
in a separate process (so a 650M export's memory is returned before timing starts) and prints
one JSON line per pack.
"""
from __future__ import annotations

import argparse
import contextlib
import hashlib
import json
import logging
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator, Sequence

import numpy as np

log = logging.getLogger(__name__)
PROTOBUF_LIMIT = 1_800_000_000  # weight bytes; protobuf cannot serialise a ModelProto past 2 GB


@dataclass(frozen=True)
class BuiltPack:
    scheme: str
    path: Path
    onnx_bytes: int          # model.onnx (+ external data), without contacts.onnx and manifest
    total_bytes: int         # every file of the pack directory
    counts: dict             # quant's per-site counts (e.g. how many Linears got the PWLQ split)
    cached: bool


def pack_key(model_id: str, calibration: Sequence[str], calibration_size: int, contacts: bool,
             max_residues: int) -> str:
    """Digest of everything a cached pack depends on."""
    h = hashlib.sha256()
    for part in (model_id, "\n".join(calibration), calibration_size, contacts, max_residues):
        h.update(str(part).encode())
        h.update(b"\0")
    return h.hexdigest()[:16]


def describe(scheme: str, path: Path, cached: bool) -> BuiltPack:
    manifest = json.loads((path / "manifest.json").read_text())
    files = manifest.get("files", {})
    model_files = [n for n in files if n.startswith(manifest["onnx"]["model"])]
    onnx_bytes = sum(files[n]["bytes"] for n in model_files)
    total = sum(p.stat().st_size for p in path.iterdir() if p.is_file())
    counts = (manifest.get("scheme_config") or {}).get("counts", {})
    return BuiltPack(scheme, path, onnx_bytes, total, counts, cached)


def cached_pack(path: Path, key: str) -> bool:
    try:
        return json.loads((path / "manifest.json").read_text()).get("bench_key") == key
    except (OSError, ValueError):
        return False


def _external_data_runner(model, names):
    """Like exporter.quantize.ort_runner, but loads models past protobuf's 2 GB limit from a file."""
    import onnx
    import onnxruntime as ort

    opts = ort.SessionOptions()
    opts.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_BASIC
    if _weight_bytes(model) < PROTOBUF_LIMIT:  # ModelProto.ByteSize() itself fails past 2 GB
        sess = ort.InferenceSession(model.SerializeToString(), opts, providers=["CPUExecutionProvider"])
    else:
        with tempfile.TemporaryDirectory(prefix="bench-calib-") as tmp:
            path = Path(tmp) / "model.onnx"
            onnx.save_model(model, str(path), save_as_external_data=True, all_tensors_to_one_file=True,
                            location="model.onnx.data", size_threshold=1024)
            sess = ort.InferenceSession(str(path), opts, providers=["CPUExecutionProvider"])
    return lambda feed: sess.run(names, feed)


def _weight_bytes(model) -> int:
    return sum(len(t.raw_data) or 4 * int(np.prod(t.dims)) for t in model.graph.initializer)


@contextlib.contextmanager
def large_model_workarounds() -> Iterator[None]:
    """Let the exporter quantize models past protobuf's 2 GB (ESM-2 650M in fp32):

    - exporter.quantize.ort_runner serialises the whole model for onnxruntime: load it from a
      file with external data instead;
    - quant's GraphEdit.finish runs onnx.checker.check_model(ModelProto), which serialises too:
      skip the check for such models (onnxruntime still validates the pack when it loads it).
    """
    import onnx.checker

    import exporter.quantize as q

    runner, check = q.ort_runner, onnx.checker.check_model

    def check_unless_large(model, *a, **kw):
        if isinstance(model, onnx.ModelProto) and _weight_bytes(model) >= PROTOBUF_LIMIT:
            log.warning("skipping onnx.checker on %s (weights past 2 GB)", model.graph.name)
            return None
        return check(model, *a, **kw)

    q.ort_runner, onnx.checker.check_model = _external_data_runner, check_unless_large
    try:
        yield
    finally:
        q.ort_runner, onnx.checker.check_model = runner, check


@contextlib.contextmanager
def pwlq_split(policy: str | None) -> Iterator[None]:
    """Temporarily export "pwlq8" with another Linear split policy ("never", "auto", "always").

    Random-init weights give near-Gaussian activations, so the default "auto" policy splits no
    Linear there, while a trained ESM-2 gets every Linear split (38 of 38 on the real 8M model):
    a speed bench on random weights must force the split to time what a real pack runs.
    """
    if policy is None:
        yield
        return
    import dataclasses

    from quant.schemes import SCHEMES

    original = SCHEMES["pwlq8"]
    SCHEMES["pwlq8"] = dataclasses.replace(original, split=policy)
    try:
        yield
    finally:
        SCHEMES["pwlq8"] = original


def build_packs(loaded, model_id: str, schemes: Sequence[str], out_dir: Path, calibration: Sequence[str],
                calibration_size: int = 8, contacts: bool = False, max_residues: int = 1022,
                verify_sequences: Sequence[str] = (), threads: int | None = None,
                progress=None, split_policy: str | None = None) -> list[BuiltPack]:
    """Export `loaded` once per scheme into out_dir/<scheme>, reusing packs built with the same inputs."""
    from exporter.pipeline import ExportOptions, Exporter

    model_id = f"{model_id}|pwlq-split={split_policy or 'default'}"
    key = pack_key(model_id, calibration, calibration_size, contacts, max_residues)
    # fp32 last: exporter.pack.save_onnx writes models past ~1.8 GB with onnx's external-data
    # option, which rewrites the in-memory float graph's initializers into references to the
    # written file, so every scheme exported after it would read broken weights.
    todo = sorted((s for s in schemes if not cached_pack(out_dir / s, key)), key=lambda s: s == "fp32")
    built = {s: describe(s, out_dir / s, True) for s in schemes if s not in todo}
    if todo:
        options = ExportOptions(contacts=contacts, calibration_size=calibration_size,
                                verify_sequences=tuple(verify_sequences), max_residues=max_residues,
                                threads=threads, calibration_source="bench",
                                extra_manifest={"bench_key": key, "bench_model_id": model_id})
        exporter = Exporter(loaded, calibration, options, progress=progress)
        with large_model_workarounds(), pwlq_split(split_policy):
            for scheme in todo:
                log.info("exporting %s/%s", model_id, scheme)
                exporter.export(scheme, out_dir / scheme)
                built[scheme] = describe(scheme, out_dir / scheme, False)
    return [built[s] for s in schemes]


def _no_reference(tokens, contacts=False):
    raise RuntimeError("speed-bench packs are built without a torch reference (no verification)")


def main(argv: list[str] | None = None) -> int:
    from .archs import random_loaded
    from .sequences import calibration_sequences

    p = argparse.ArgumentParser(prog="python -m bench.packs", description=__doc__)
    p.add_argument("--arch", required=True)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--schemes", default="fp32,dynamic-int8,int8,pwlq8")
    p.add_argument("--work", type=Path, required=True)
    p.add_argument("--calibration", type=Path, default=None)
    p.add_argument("--calibration-size", type=int, default=8)
    p.add_argument("--max-residues", type=int, default=512)
    p.add_argument("--pwlq-split", choices=("default", "never", "auto", "always"), default="always",
                   help="Linear split policy of pwlq8 (default: always, what trained weights get)")
    args = p.parse_args(argv)
    split = None if args.pwlq_split == "default" else args.pwlq_split
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s", stream=sys.stderr)
    schemes = [s for s in args.schemes.split(",") if s]
    calibration = calibration_sequences(args.calibration, args.calibration_size, args.seed)
    model_id = f"{args.arch}/seed{args.seed}"
    key = pack_key(f"{model_id}|pwlq-split={split or 'default'}", calibration, args.calibration_size, False,
                   args.max_residues)
    out = args.work / args.arch
    if all(cached_pack(out / s, key) for s in schemes):
        loaded = None
    else:
        from exporter.loaders import LoadedModel

        # Keep only the canonical weights: the torch reference is unused (no verification) and
        # dropping it returns the torch model's memory before the export's own copies.
        loaded = LoadedModel(random_loaded(args.arch, args.seed).weights, _no_reference)
    packs = build_packs(loaded, model_id, schemes, out, calibration, args.calibration_size,
                        max_residues=args.max_residues, split_policy=split)
    for b in packs:
        print(json.dumps({"scheme": b.scheme, "path": str(b.path), "onnx_bytes": b.onnx_bytes,
                          "total_bytes": b.total_bytes, "counts": b.counts, "cached": b.cached}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
