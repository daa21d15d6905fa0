"""Delta packs: a fine-tuned ESM-2 as coded weight deltas against an installed base pack (DESIGN.md section 3).

    base pack (graphs)  +  FT checkpoint  ->  delta = W_ft - W_base per initializer of the base graph
        Linear weights (layers.N q/k/v/out_proj, fc1, fc2, lm_head.dense: `*.weight_t`) -> codec at `ratio`
        other changed parameters (biases, LayerNorms, embeddings, tied decoder)     -> fp16 x fp32 scale
    OUT/manifest.json (`delta`: base name + manifest sha256, codes, verification) + OUT/delta.npz

Base weights are the base pack's own when it is fp32; a quantized base needs its float model
(`base_model`), whose checkpoint hash must be the one the base pack records. Deltas are taken in
the base graph's initializer space (packbuild.esm2_graph names), so the app adds them by name.
"""
from __future__ import annotations

import logging
import os
import re
import shutil
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Optional

import numpy as np
import onnx
from onnx import numpy_helper

from app.core.delta_pack import DENSE, KEY, manifest_sha256
from app.core.manifest import FileEntry, Manifest
from app.core.pack import load_pack
from app.core.pack_files import sha256_file
from app.core.side_weights import load_side_weights

from packbuild.esm2_graph import build_esm2
from packbuild.pack import check_replaceable, recover, swap_into_place, write_manifest
from packbuild.provenance import exporter_version, file_provenance

log = logging.getLogger(__name__)
DELTA_FILE = "delta.npz"
CODED = re.compile(r"^(layers\.\d+\.(self_attn\.(q|k|v|out)_proj|fc1|fc2)|lm_head\.dense)\.weight_t$")
METHODS = ("deltadq", "magnitude", "bitdelta", "uniform4", "lowrank")
# method -> (quant.delta_codecs name, app codec name written in the manifest)
CODEC_OF = {"deltadq": ("deltadq", "deltadq"), "magnitude": ("magnitude_int8", "magnitude"),
            "bitdelta": ("bitdelta", "bitdelta"), "uniform4": ("uniform4_g64", "uniform"),
            "lowrank": ("lowrank_fp16", "lowrank")}


class DeltaExportError(ValueError):
    """A delta pack that cannot be made; the message names the base, checkpoint or matrix."""


@dataclass
class Deltas:
    """W_ft - W_base in the base graph's layout: `coded` Linear weights (in, out), `dense` the rest."""
    coded: dict[str, np.ndarray]
    dense: dict[str, np.ndarray]
    unchanged: int = 0

    @property
    def coded_params(self) -> int:
        return sum(d.size for d in self.coded.values())


def graph_initializers(model: onnx.ModelProto, side: Optional[dict] = None) -> dict[str, np.ndarray]:
    """{name: array} of a graph's float initializers; side-file placeholders from `side`."""
    out = {}
    for init in model.graph.initializer:
        if init.data_type != onnx.TensorProto.FLOAT:
            continue
        if init.data_location == onnx.TensorProto.EXTERNAL:
            if side and init.name in side:
                out[init.name] = np.asarray(side[init.name], dtype=np.float32)
            continue
        out[init.name] = numpy_helper.to_array(init).astype(np.float32)
    return out


def base_weights(base_dir: Path, base_model: Optional[str] = None) -> tuple[dict[str, np.ndarray], str]:
    """The base's float initializers (model.onnx names) and where they came from.

    An fp32 base pack: its own graph (side file included). Otherwise `base_model` (an
    exporter.loaders source), refused if the base pack records another checkpoint hash.
    """
    pack = load_pack(base_dir)
    if pack.is_delta:
        raise DeltaExportError(f"{base_dir}: is itself a delta pack; give the pack it is based on")
    if pack.scheme == "fp32" and base_model is None:
        side = load_side_weights(pack.path, pack.manifest).get(pack.manifest["onnx"]["model"], {})
        return graph_initializers(onnx.load(str(pack.model_path), load_external_data=False), side), "base pack (fp32)"
    if base_model is None:
        raise DeltaExportError(f"{base_dir}: base pack is {pack.scheme}; pass --base-model with its float "
                               f"checkpoint (the delta is taken against float weights)")
    from .loaders import load

    recorded = pack.meta.provenance.source
    if recorded is not None and recorded.sha256 and Path(base_model).exists():
        got = file_provenance(base_model).get("sha256")
        if got and got != recorded.sha256:
            raise DeltaExportError(f"--base-model {base_model}: sha256 {got[:12]}... is not the checkpoint base "
                                   f"pack {pack.name!r} was exported from ({recorded.name}, {recorded.sha256[:12]}...)")
    loaded = load(base_model)
    return graph_initializers(build_esm2(loaded.weights, contacts=False)), f"--base-model {Path(base_model).name}"


def compute_deltas(base: dict[str, np.ndarray], finetuned: dict[str, np.ndarray]) -> Deltas:
    """Per base initializer: coded (Linear weight_t) or dense delta when the fine-tune changed it."""
    coded, dense, same = {}, {}, 0
    for name, w in base.items():
        if name not in finetuned:
            raise DeltaExportError(f"fine-tuned model has no initializer {name!r} of the base graph")
        v = finetuned[name]
        if v.shape != w.shape:
            raise DeltaExportError(f"initializer {name!r}: fine-tune {list(v.shape)} vs base {list(w.shape)}: "
                                   f"not the same architecture")
        d = (v.astype(np.float32) - w.astype(np.float32))
        if not np.any(d):
            same += 1
        elif CODED.match(name) and d.ndim == 2:
            coded[name] = d
        else:
            dense[name] = d
    return Deltas(coded, dense, same)


Ladders = dict  # {matrix name: quant.delta_alloc ladder}, reusable across ratios of one fine-tune


def encode_matrices(coded: dict[str, np.ndarray], method: str, ratio: float, ladders: Optional[Ladders] = None,
                    allocate: bool = True, calib: Optional[dict[str, np.ndarray]] = None
                    ) -> tuple[dict[str, np.ndarray], dict[str, dict], int]:
    """(npz arrays under `<name>.` prefixes, manifest `matrices` entries, code bits) at `ratio`.

    deltadq with `allocate`: quant.delta_alloc's model-level allocation (one budget for all
    matrices, per-matrix ratios from a ladder); else every matrix at `ratio`. Codes are of the
    (out, in) delta, i.e. the transpose of the graph's (in, out) `weight_t`. `calib` ({name: (rows,
    in) inputs}, exporter.delta_calib): DeltaDQ's search and allocation minimise the error of
    x @ delta^T on them instead of the delta's Frobenius error (a ladder cache must match).
    """
    from quant.delta import code_bits, code_to_arrays
    from quant.delta_codecs import CODECS

    if method not in CODEC_OF:
        raise DeltaExportError(f"--method {method!r}: expected one of {', '.join(METHODS)}")
    arrays, entries, bits = {}, {}, 0
    oi = {n: np.ascontiguousarray(d.T) for n, d in coded.items()}  # (out, in)
    if method == "deltadq" and allocate:
        from quant.delta_alloc import allocate as alloc, ladder

        if ladders is not None:
            missing = [n for n in oi if n not in ladders]
            for n in missing:
                ladders[n] = ladder(oi[n], calib_inputs=None if calib is None else calib[n])
            lad = ladders
        else:
            lad = {n: ladder(d, calib_inputs=None if calib is None else calib[n]) for n, d in oi.items()}
        codes = alloc({n: lad[n] for n in oi}, {n: d.size for n, d in oi.items()}, ratio)
        for n, code in codes.items():
            arrays.update(code_to_arrays(code, n))
            entries[n] = {"codec": "deltadq", "shape": list(oi[n].shape)}
            bits += code_bits(code)
        return arrays, entries, bits
    codec_name, app_name = CODEC_OF[method]
    codec = CODECS[codec_name]
    for n, d in oi.items():
        code = codec.encode(d, ratio, calib_inputs=calib[n]) if calib is not None and method == "deltadq" \
            else codec.encode(d, ratio)
        if method == "deltadq":
            arrays.update(code_to_arrays(code, n))
        else:
            arrays.update({f"{n}.{k}": v for k, v in code.arrays.items()})
        entries[n] = {"codec": app_name, "shape": list(d.shape)}
        bits += codec.bits(code)
    return arrays, entries, bits


def encode_dense(dense: dict[str, np.ndarray]) -> tuple[dict[str, np.ndarray], dict[str, list[int]]]:
    """`dense.fp16` (each delta / its absmax, concatenated) + `dense.scale` (the absmaxes), and shapes."""
    if not dense:
        return {}, {}
    scales = np.array([max(float(np.abs(d).max()), 1e-30) for d in dense.values()], dtype=np.float32)
    half = np.concatenate([(d / s).astype(np.float16).ravel() for d, s in zip(dense.values(), scales)])
    return {f"{DENSE}.fp16": half, f"{DENSE}.scale": scales}, {n: list(d.shape) for n, d in dense.items()}


@dataclass
class DeltaSpec:
    """What `write_delta_pack` records: the base, the codes and their sizes."""
    base_dir: Path
    name: str
    method: str
    ratio: float
    arrays: dict[str, np.ndarray]
    matrices: dict[str, dict]
    dense: dict[str, list[int]]
    code_bits: int
    coded_params: int
    dense_params: int
    base_source: str
    source: Optional[dict] = None
    notes: list[str] = field(default_factory=list)
    calibration: Optional[dict] = None  # DeltaDQ fitted to x @ delta on these inputs (delta.calibration)


def base_record(base_dir: Path, out_dir: Path) -> dict:
    pack = load_pack(base_dir, verify=False)
    return {"name": pack.name, "scheme": pack.scheme, "manifest_sha256": manifest_sha256(base_dir),
            "path": os.path.relpath(Path(base_dir).resolve(), Path(out_dir).resolve())}


def delta_manifest(spec: DeltaSpec, out_dir: Path) -> dict:
    base = load_pack(spec.base_dir, verify=False)
    onnx_info = {k: v for k, v in base.manifest["onnx"].items() if k not in ("external_weights", "side_codecs")}
    ach = 16.0 * spec.coded_params / spec.code_bits if spec.code_bits else None
    return {"name": spec.name, "task": "masked-lm", "architecture": base.manifest.get("architecture", {}),
            "alphabet": base.manifest["alphabet"], "scheme": base.scheme,
            "scheme_config": {"delta_of": base.scheme}, "onnx": onnx_info,
            "provenance": {"source": spec.source, "exporter_version": exporter_version()},
            "accuracy": {}, "license": base.meta.license or "", "credits": base.meta.credits or "",
            "notes": [f"delta pack on base {base.name!r} ({base.scheme}); base weights from {spec.base_source}",
                      *spec.notes],
            KEY: {"base": base_record(spec.base_dir, out_dir), "file": DELTA_FILE, "method": spec.method,
                  "ratio": spec.ratio, "coded_ratio": round(ach, 3) if ach else None,
                  "calibration": spec.calibration, "matrices": spec.matrices, "dense": spec.dense,
                  "params": {"coded": spec.coded_params, "dense": spec.dense_params},
                  "bytes": {"codes": spec.code_bits // 8, "fp16_delta": 2 * (spec.coded_params + spec.dense_params)}}}


def write_delta_pack(out_dir: Path, spec: DeltaSpec,
                     inspect: Optional[Callable[[Path], dict]] = None) -> Path:
    """OUT/delta.npz + manifest, staged in `.NAME.tmp-PID` and swapped into place (packbuild.pack's rules).

    `inspect(staged)` runs on the complete staged pack (loaded through the app: base resolution,
    reconstruction) and returns keys merged into `delta` (the verification).
    """
    import datetime as dt

    out_dir = Path(out_dir)
    manifest = delta_manifest(spec, out_dir)
    out_dir.parent.mkdir(parents=True, exist_ok=True)
    recover(out_dir)
    check_replaceable(out_dir)
    tmp = out_dir.with_name(f".{out_dir.name}.tmp-{os.getpid()}")
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir()
    try:
        npz = tmp / DELTA_FILE
        np.savez(npz, **spec.arrays)
        manifest[KEY]["bytes"]["file"] = npz.stat().st_size
        manifest["provenance"]["created"] = dt.datetime.now(dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
        meta = Manifest.from_fields(manifest)
        from dataclasses import replace

        meta = replace(meta, files={DELTA_FILE: FileEntry(sha256_file(npz), npz.stat().st_size)})
        write_manifest(tmp, meta)
        if inspect is not None:
            extra = inspect(tmp)
            meta = meta.updated({KEY: {**manifest[KEY], **extra}})
            write_manifest(tmp, meta)
        check_replaceable(out_dir)
        swap_into_place(tmp, out_dir)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return out_dir


def build_spec(base_dir: Path, finetuned, method: str, ratio: float, base_model: Optional[str] = None,
               ladders: Optional[Ladders] = None, base: Optional[tuple[dict, str]] = None,
               allocate: bool = True, calib: Optional[dict[str, np.ndarray]] = None) -> DeltaSpec:
    """Deltas of `finetuned` (a LoadedModel) against the base pack, coded at `ratio` (deltadq: with
    quant.delta_alloc's allocation unless not `allocate`); `base` = base_weights() computed already."""
    base_inits, where = base if base is not None else base_weights(Path(base_dir), base_model)
    ft_inits = graph_initializers(build_esm2(finetuned.weights, contacts=False))
    deltas = compute_deltas(base_inits, ft_inits)
    if not deltas.coded:
        raise DeltaExportError(f"{finetuned.weights.name}: no Linear weight differs from base {base_dir}")
    arrays, matrices, bits = encode_matrices(deltas.coded, method, ratio, ladders, allocate, calib)
    dense_arrays, dense_shapes = encode_dense(deltas.dense)
    src = finetuned.weights.source
    source = file_provenance(src) if src and Path(src).exists() else ({"name": src} if src else None)
    return DeltaSpec(Path(base_dir), finetuned.weights.name, method, float(ratio), {**arrays, **dense_arrays},
                     matrices, dense_shapes, bits, deltas.coded_params,
                     sum(d.size for d in deltas.dense.values()), where, source)
