"""Build model packs through exporter.pipeline.Exporter and cache them under a work directory.

`python -m bench.packs --arch t6_8M --work DIR` builds the random-weight packs of the speed bench
in a separate process (so a 650M export's memory is returned before timing starts) and prints
one JSON line per pack.
"""
from __future__ import annotations

import argparse
import hashlib
import json
import logging
import sys
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Sequence

log = logging.getLogger(__name__)
MHA = "-mha"  # scheme label suffix: the pack's graph runs attention as com.microsoft MultiHeadAttention
# scheme label suffixes for Int8Config.attention: integer Q.K^T and P.V, or Q.K^T only
ATTENTION_SUFFIXES = {"-attn8": "int8", "-qk8": "int8-scores"}


def split_label(label: str) -> tuple[str, str | None, bool]:
    """A bench scheme label -> (scheme label without suffixes, attention form or None, fused MHA)."""
    fused = label.endswith(MHA)
    label = label.removesuffix(MHA)
    for suffix, form in ATTENTION_SUFFIXES.items():
        if label.endswith(suffix):
            return label.removesuffix(suffix), form, fused
    return label, None, fused


@dataclass(frozen=True)
class BuiltPack:
    scheme: str
    path: Path
    onnx_bytes: int          # model.onnx (+ external data and the side file), without contacts.onnx and manifest
    total_bytes: int         # every file of the pack directory
    counts: dict             # quant's per-site counts (e.g. how many Linears got the PWLQ split)
    cached: bool


def code_digest() -> str:
    """Digest of the exporter's and quant's sources: a code change invalidates cached packs."""
    root = Path(__file__).resolve().parents[1]
    h = hashlib.sha256()
    for path in sorted([*root.glob("exporter/**/*.py"), *root.glob("quant/**/*.py")]):
        h.update(path.relative_to(root).as_posix().encode())
        h.update(path.read_bytes())
    return h.hexdigest()


def pack_key(model_id: str, calibration: Sequence[str], calibration_size: int, contacts: bool,
             max_residues: int) -> str:
    """Digest of everything a cached pack depends on (inputs and exporter/quant code)."""
    h = hashlib.sha256()
    for part in (model_id, "\n".join(calibration), calibration_size, contacts, max_residues, code_digest()):
        h.update(str(part).encode())
        h.update(b"\0")
    return h.hexdigest()[:16]


def describe(scheme: str, path: Path, cached: bool) -> BuiltPack:
    manifest = json.loads((path / "manifest.json").read_text())
    files = manifest.get("files", {})
    side = (manifest["onnx"].get("external_weights") or {}).get("file")
    model_files = [n for n in files if n.startswith(manifest["onnx"]["model"]) or n == side]
    onnx_bytes = sum(files[n]["bytes"] for n in model_files)
    total = sum(p.stat().st_size for p in path.iterdir() if p.is_file())
    counts = (manifest.get("scheme_config") or {}).get("counts", {})
    return BuiltPack(scheme, path, onnx_bytes, total, counts, cached)


def cached_pack(path: Path, key: str) -> bool:
    try:
        return json.loads((path / "manifest.json").read_text()).get("bench_key") == key
    except (OSError, ValueError):
        return False


PWLQ_FORMS = {"pwlq8-channels": "channels", "pwlq8-tokens": "tokens", "pwlq8-exact": "exact"}
TOKEN_OUTLIERS = {"pwlq8-tokens-float": "float", "pwlq8-tokens-scaled": "scaled"}  # the tokens form's outliers


def bench_config(scheme: str, loaded, split_policy: str | None, placement: tuple[str, ...] | None):
    """The exporter's config for a bench scheme label: a registry name, `ternary-channel`
    (ternary with one absmean scale per output channel), `pwlq8-channels` (pwlq8's channel split),
    `pwlq8-tokens` (the per-token grid form; `-float` / `-scaled` name its outlier channels' handling)
    or `pwlq8-exact` (PTQ4Protein's two-grid split);
    any of them + `-mha` for the graph with fused attention (ExportOptions.fused_attention), int8/pwlq8 +
    `-attn8` / `-qk8` for integer attention MatMuls (ATTENTION_SUFFIXES). A ternary QAT checkpoint's own
    granularity is used for `ternary`, as `python -m exporter` does."""
    from exporter.cli import with_ternary_granularity
    from exporter.scheme_options import scheme_config

    scheme, attention, _ = split_label(scheme)  # MHA: the graph option, not the config's
    name, granularity = ("ternary", "channel") if scheme == "ternary-channel" else (scheme, None)
    outliers = TOKEN_OUTLIERS.get(scheme)
    form = "tokens" if outliers else PWLQ_FORMS.get(scheme)  # pwlq8's Linear form, named in the label
    name = "pwlq8" if form else name
    config = scheme_config(name, split=split_policy, placement=placement, form=form, attention=attention)
    if outliers:
        config = replace(config, token_outliers=outliers)
    return with_ternary_granularity(config, granularity, getattr(loaded, "ternary_qat", None))


def build_packs(loaded, model_id: str, schemes: Sequence[str], out_dir: Path, calibration: Sequence[str],
                calibration_size: int = 8, contacts: bool = False, max_residues: int = 1022,
                verify_sequences: Sequence[str] = (), threads: int | None = None,
                progress=None, split_policy: str | None = None,
                placement: tuple[str, ...] | None = None) -> list[BuiltPack]:
    """Export `loaded` once per scheme into out_dir/<scheme>, reusing packs built with the same inputs.

    `split_policy` overrides pwlq8's Linear split ("never", "auto", "always"; None: the scheme's
    default "auto"). Random-init weights give near-Gaussian activations, so "auto" splits no
    Linear there, while a trained ESM-2 gets every Linear split (38 of 38 on the real 8M model):
    a speed bench on random weights must force the split to time what a real pack runs.
    """
    from exporter.pipeline import ExportOptions, Exporter

    model_id = f"{model_id}|pwlq-split={split_policy or 'default'}" + \
        (f"|placement={','.join(placement)}" if placement else "")
    key = pack_key(model_id, calibration, calibration_size, contacts, max_residues)
    todo = [s for s in schemes if not cached_pack(out_dir / s, key)]
    built = {s: describe(s, out_dir / s, True) for s in schemes if s not in todo}
    if todo:
        options = ExportOptions(contacts=contacts, calibration_size=calibration_size,
                                verify_sequences=tuple(verify_sequences), max_residues=max_residues,
                                threads=threads, calibration_source="bench",
                                extra_manifest={"bench_key": key, "bench_model_id": model_id})
        exporters: dict[bool, Exporter] = {}
        for scheme in todo:
            fused = scheme.endswith(MHA)
            if fused not in exporters:  # one float graph (and its calibration) per attention form
                exporters[fused] = Exporter(loaded, calibration, replace(options, fused_attention=fused),
                                            progress=progress)
            log.info("exporting %s/%s", model_id, scheme)
            exporters[fused].export(bench_config(scheme, loaded, split_policy, placement), out_dir / scheme)
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
