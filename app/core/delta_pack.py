"""Delta packs (DESIGN.md section 3, "Delta packs"): a fine-tune as coded weight deltas on a base pack.

A delta pack has no graphs of its own. Its manifest names the base pack by name and the sha256
of the base's manifest.json bytes, and `delta.file` (listed and hashed in `files`) holds the
deltas: Linear weights coded (app.core.delta_codec), other changed parameters as fp16.

    "delta": {"base": {"name": "esm2_t6_8M", "scheme": "fp32", "manifest_sha256": "<hex>", "path": "../fp32"},
              "file": "delta.npz", "method": "deltadq", "ratio": 16,
              "matrices": {"layers.0.fc1.weight_t": {"codec": "deltadq", "shape": [1280, 320]}, ...},
              "dense": {"layers.0.fc1.bias": [1280], ...}, "bytes": {...}, "verification": {...}}

In `delta.file`, matrix `<w>` is stored under the prefix `<w>.` (`<w>.meta`, `<w>.scale`, `<w>.part0`
...: the codec's arrays) and the dense deltas as one float16 array `dense.fp16` (the `dense`
entries, row-major, concatenated in manifest order) times `dense.scale` (one float32 per entry).

The base is found at `base.path` (relative to the delta pack) or among the installed packs
(app.core.pack: the embedded default and $EDGEFOLD_PACKS), by the manifest hash. The runtime
opens the base's graphs with base + delta: float initializers W + D; int8 ones (`<w>_quantized`
int8 (in, out) with `<w>_scale` (out,)) dequantized, D added, re-quantized per output channel
(stochastic rounding on the base's grid: `requantize`), so the model runs at the base's int8 speed.
"""
from __future__ import annotations

import hashlib
import os
import zipfile
import zlib
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator, Optional

import numpy as np

from .delta_codec import DECODERS, DeltaCodecError, decode, splitmix64
from .delta_tensors import embedded_values
from .onnx_refs import OnnxWireError
from .pack_checks import ManifestError, check_section, check_type
from .pack_error import PackError
from .pack_files import MANIFEST, file_path, graph_files
from .side_weights import declared_initializers, load_side_weights

KEY = "delta"
DENSE = "dense"  # dense.fp16 (all dense deltas / their scale, concatenated) and dense.scale (float32 each)
FLOAT, INT8 = 1, 3  # ONNX TensorProto data types


@dataclass(frozen=True)
class BaseRef:
    """The base pack a delta pack was made for."""
    name: str
    manifest_sha256: str
    scheme: str = ""
    path: Optional[str] = None  # where it was, relative to the delta pack (a hint)


def is_delta(manifest: dict) -> bool:
    return KEY in manifest


def check_delta_section(manifest: dict) -> None:
    """Types of `delta` (ManifestError naming the dotted key); its file must be listed in `files`."""
    spec = manifest[KEY]
    check_type(spec, (dict,), KEY)
    check_section(spec, {"base": (dict,), "file": (str,), "matrices": (dict,), "dense": (dict,)}, f"{KEY}.",
                  ("base", "file", "matrices", "dense"))
    base = spec["base"]
    check_section(base, {"name": (str,), "manifest_sha256": (str,), "scheme": (str,),
                         "path": (str, type(None))}, f"{KEY}.base.", ("name", "manifest_sha256"))
    sha = base["manifest_sha256"]
    if len(sha) != 64 or any(c not in "0123456789abcdef" for c in sha):
        raise ManifestError(f"{KEY}.base.manifest_sha256", f"is not 64 lower-case hex digits: {sha!r:.80}")
    if spec["file"] not in manifest["files"]:
        raise ManifestError(f"{KEY}.file", f"{spec['file']!r} is not listed in 'files', so no hash checks it")
    for name, entry in spec["matrices"].items():
        key = f"{KEY}.matrices.{name}"
        check_type(entry, (dict,), key)
        check_section(entry, {"codec": (str,), "shape": (list,)}, f"{key}.", ("codec", "shape"))
        if entry["codec"] not in DECODERS:
            raise ManifestError(f"{key}.codec", f"is {entry['codec']!r}; this app decodes {', '.join(DECODERS)}")
        shape = entry["shape"]
        if len(shape) != 2 or not all(isinstance(d, int) and not isinstance(d, bool) and d > 0 for d in shape):
            raise ManifestError(f"{key}.shape", f"must be two positive integers (out, in), got {shape!r:.80}")
    for name, shape in spec["dense"].items():
        check_type(shape, (list,), f"{KEY}.dense.{name}")
        if not all(isinstance(d, int) and not isinstance(d, bool) and d > 0 for d in shape):
            raise ManifestError(f"{KEY}.dense.{name}", f"must be a shape of positive integers, got {shape!r:.80}")


def base_ref(manifest: dict) -> BaseRef:
    b = manifest[KEY]["base"]
    return BaseRef(b["name"], b["manifest_sha256"], b.get("scheme") or "", b.get("path"))


def manifest_sha256(pack_dir: Path) -> str:
    """sha256 of a pack's manifest.json bytes (what a delta pack records of its base)."""
    return hashlib.sha256((Path(pack_dir) / MANIFEST).read_bytes()).hexdigest()


def _candidates(delta_dir: Path, ref: BaseRef, installed: list[Path]) -> Iterator[tuple[str, Path]]:
    if ref.path:
        yield "recorded path", (delta_dir / ref.path) if not Path(ref.path).is_absolute() else Path(ref.path)
    for p in installed:
        yield "installed", p


def resolve_base(delta_dir: Path, manifest: dict, installed: list[Path]) -> Path:
    """The directory of the base pack whose manifest hashes to `delta.base.manifest_sha256`.

    Tried in order: the recorded path, then `installed` (pack directories). PackError naming the
    base (name, hash) and what was found instead when none matches.
    """
    ref = base_ref(manifest)
    seen: list[str] = []
    for how, path in _candidates(Path(delta_dir), ref, installed):
        try:
            if path.resolve() == Path(delta_dir).resolve() or not (path / MANIFEST).is_file():
                if how == "recorded path":
                    seen.append(f"the recorded path {path} holds no pack")
                continue
            sha = manifest_sha256(path)
        except OSError:
            continue
        if sha == ref.manifest_sha256:
            return Path(os.path.normpath(path))
        if how == "recorded path" or path.name == ref.name:
            seen.append(f"{path} is a different pack (manifest sha256 {sha[:12]}...)")
    found = "; ".join(seen) or "no installed pack matches"
    raise PackError(f"{delta_dir}: base pack {ref.name!r} ({ref.scheme or 'scheme unknown'}, manifest sha256 "
                    f"{ref.manifest_sha256[:12]}...) not found: {found}. Install that base pack (or place it at "
                    f"{ref.path or 'a path recorded beside the delta'}).", delta_dir)


def _read_npz(pack_dir: Path, name: str) -> dict[str, np.ndarray]:
    fpath = file_path(pack_dir, name)
    try:
        with np.load(fpath, allow_pickle=False) as npz:
            return {k: npz[k] for k in npz.files}
    except (OSError, ValueError, zipfile.BadZipFile, EOFError) as e:
        raise PackError(f"{fpath}: not a readable .npz of plain arrays ({e})", pack_dir) from None


def read_deltas(pack_dir: Path, manifest: dict) -> dict[str, np.ndarray]:
    """{base initializer name: float32 delta in the initializer's layout} of a delta pack.

    A coded matrix `<w>` (a Linear's (in, out) `weight_t`) is decoded as (out, in) and transposed.
    """
    spec = manifest[KEY]
    arrays = _read_npz(pack_dir, spec["file"])
    fpath = pack_dir / spec["file"]
    out: dict[str, np.ndarray] = {}
    for name, entry in spec["matrices"].items():
        try:
            d = decode(entry["codec"], arrays, name)
        except DeltaCodecError as e:
            raise PackError(f"{fpath}: {e}", pack_dir) from None
        if list(d.shape) != entry["shape"]:
            raise PackError(f"{fpath}: matrix {name!r} decodes to {list(d.shape)}, the manifest says "
                            f"{entry['shape']}", pack_dir)
        out[name] = np.ascontiguousarray(d.T)
    dense = spec["dense"]
    if dense:
        half, scale = arrays.get(DENSE + ".fp16"), arrays.get(DENSE + ".scale")
        sizes = [int(np.prod(shape)) for shape in dense.values()]
        if (half is None or scale is None or half.dtype != np.float16 or half.size != sum(sizes)
                or scale.dtype != np.float32 or scale.size != len(sizes)):
            raise PackError(f"{fpath}: dense deltas need {DENSE + '.fp16'!r} (float16, {sum(sizes)} values) and "
                            f"{DENSE + '.scale'!r} (float32, {len(sizes)} values)", pack_dir)
        starts = np.concatenate([[0], np.cumsum(sizes)])
        for i, (name, shape) in enumerate(dense.items()):
            chunk = half[starts[i]:starts[i + 1]].astype(np.float32) * scale[i]
            out[name] = chunk.reshape(shape)
    return out


def requantize(q: np.ndarray, scale: np.ndarray, delta: np.ndarray, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Symmetric int8 per output channel of W = q * scale + delta; q, W (in, out), scale (out,).

    A fine-tune's delta is ~0.3% of W, far below an int8 step (absmax / 127): rounding W to the
    nearest level puts almost every entry back on the base's own level and the delta is lost
    (measured: a near-lossless delta on an int8 base kept 9% of a supervised fine-tune's Spearman
    gain). So each channel keeps the base's scale unless |W| outgrows it by half a step (then absmax / 127), and
    W / s is rounded stochastically, q' = floor(W / s + u), u uniform in [0, 1) from a seeded
    splitmix64 stream: E[q' s] = W, an unbiased int8 image of base + delta whose extra noise is
    about |delta| x step per entry instead of the step^2 / 12 of a fresh quantization.
    """
    w = q.astype(np.float32) * scale.astype(np.float32)[None, :] + delta
    absmax = np.abs(w).max(axis=0)
    grown = absmax > 127.5 * scale  # below: the top level (127) is within half a step, as nearest rounding
    new_scale = np.where(grown, absmax / 127.0, scale).astype(np.float32)
    new_scale = np.where(new_scale > 0, new_scale, 1.0).astype(np.float32)
    u = (splitmix64(seed, w.size) >> np.uint64(40)).astype(np.float32).reshape(w.shape) * np.float32(2.0**-24)
    new_q = np.clip(np.floor(w / new_scale[None, :] + u), -127, 127).astype(np.int8)
    return new_q, new_scale


@dataclass
class GraphInitializers:
    """What one base graph gets: arrays for its side-file placeholders (open_session initializers=)
    and replacements for initializers the graph stores itself (SessionOptions.add_initializer)."""
    external: dict[str, np.ndarray]
    embedded: dict[str, np.ndarray]


def reconstruct(delta_dir: Path, manifest: dict, base_dir: Path, base_manifest: dict
                ) -> dict[str, GraphInitializers]:
    """{base graph file: GraphInitializers} with base + delta for every delta of the pack."""
    deltas = read_deltas(delta_dir, manifest)
    side = load_side_weights(base_dir, base_manifest)
    result, used = {}, set()
    for gfile in graph_files(base_manifest):
        gpath = file_path(base_dir, gfile)
        try:
            decls = declared_initializers(gpath)
            targets = {n: _targets(n, decls) for n in deltas}
            need = {t for ts in targets.values() for t in ts if decls[t].location is None}
            embedded = embedded_values(gpath, need | {n + "_zero_point" for n in deltas if n + "_zero_point" in decls})
        except (OnnxWireError, OSError) as e:
            raise PackError(f"{gpath}: cannot load the model: not a valid ONNX file ({e})", base_dir) from None
        ext, emb = dict(side.get(gfile, {})), {}
        for name, d in deltas.items():
            ts = targets[name]
            if not ts:
                continue
            values = {t: ext[t] if decls[t].location is not None else embedded[t] for t in ts}
            new = _apply(name, d, values, embedded, gpath, base_dir)
            for t, array in new.items():
                (ext if decls[t].location is not None else emb)[t] = array
            used.add(name)
        result[gfile] = GraphInitializers(ext, emb)
    unused = sorted(set(deltas) - used)
    if unused:
        raise PackError(f"{delta_dir}: delta {unused[0]!r} matches no initializer of base pack {base_dir} "
                        f"({len(unused)} unmatched): not the base this delta was made for", delta_dir)
    return result


def _targets(name: str, decls: dict) -> tuple[str, ...]:
    """The base graph's initializers carrying weight `name`: itself (float) or its int8 pair."""
    if name in decls:
        return (name,)
    if name + "_quantized" in decls and name + "_scale" in decls:
        return (name + "_quantized", name + "_scale")
    return ()


def _apply(name: str, d: np.ndarray, values: dict[str, np.ndarray], embedded: dict, gpath: Path,
           base_dir: Path) -> dict[str, np.ndarray]:
    if name in values:
        w = values[name]
        if w.dtype != np.float32 or w.shape != d.shape:
            raise PackError(f"{gpath}: initializer {name!r} is {w.dtype} {list(w.shape)}, the delta "
                            f"{list(d.shape)} float32", base_dir)
        return {name: (w + d).astype(np.float32)}
    q, s = values[name + "_quantized"], values[name + "_scale"]
    zp = embedded.get(name + "_zero_point")
    if q.dtype != np.int8 or q.ndim != 2 or q.shape != d.shape or s.shape != (q.shape[1],):
        raise PackError(f"{gpath}: {name!r} is not a per-output-channel int8 weight of shape {list(d.shape)} "
                        f"(got {q.dtype} {list(q.shape)}, scale {list(s.shape)})", base_dir)
    if zp is not None and np.any(zp != 0):
        raise PackError(f"{gpath}: {name!r} has a non-zero zero point; only symmetric int8 re-quantizes", base_dir)
    new_q, new_s = requantize(q, s, d, zlib.crc32(name.encode()))
    return {name + "_quantized": new_q, name + "_scale": new_s}
