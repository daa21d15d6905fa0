"""Manifest checks (DESIGN.md section 3): the type of every key the app reads, then the ESM-2 contract.

Pure functions of the parsed manifest; they raise ManifestError naming the dotted key
(`files.model.onnx.bytes`), and app.core.pack adds the pack's path.
"""
from __future__ import annotations

import re
from pathlib import PurePosixPath
from typing import Any

from .alphabet import AF2_RESTYPES_WITH_X, AF2_UNKNOWN, ESM2_SPECIAL, ESM2_SPECIAL_TOKENS, ESM2_TOKENS, MAX_TOKENS_RANGE

_HEX64 = re.compile(r"[0-9a-f]{64}")


class ManifestError(ValueError):
    """A manifest key of the wrong type or value; `key` is its dotted path."""

    def __init__(self, key: str, message: str) -> None:
        super().__init__(f"manifest key {key!r} {message}")
        self.key = key


# Accepted types of the keys the app reads; NONE marks an optional null. `required` per task.
NONE = type(None)
TOP_TYPES: dict[str, tuple[type, ...]] = {
    "name": (str,), "scheme": (str,), "task": (str,), "license": (str,), "credits": (str,),
    "onnx": (dict,), "files": (dict,), "alphabet": (dict,), "architecture": (dict,),
    "accuracy": (dict, NONE), "benchmark": (dict, NONE), "calibration": (dict, NONE),
    "provenance": (dict,), "residues": (dict,),
}
ONNX_TYPES: dict[str, tuple[type, ...]] = {
    "model": (str,), "contacts_model": (str, NONE), "parts": (dict,),
    "inputs": (list, dict), "outputs": (list, dict), "contacts_outputs": (list,),
    "external_weights": (dict,),
}
ALPHABET_TYPES: dict[str, tuple[type, ...]] = {
    "tokens": (list,), **{k: (int,) for k in ESM2_SPECIAL}, "prepend_bos": (bool,), "append_eos": (bool,),
}
ESM2_ARCH_TYPES: dict[str, tuple[type, ...]] = {
    "family": (str,), "num_layers": (int,), "embed_dim": (int,), "attention_heads": (int,),
    "vocab_size": (int,), "max_tokens": (int,), "token_dropout": (bool,), "parameters": (int,),
}
REQUIRED = {"masked-lm": ("onnx", "files", "alphabet"), "folding": ("onnx", "files")}


def _type_name(types: tuple[type, ...]) -> str:
    names = {str: "a string", int: "an integer", bool: "true or false", dict: "an object",
             list: "a list", NONE: "null"}
    return " or ".join(names.get(t, t.__name__) for t in types)


def check_type(value: Any, types: tuple[type, ...], key: str) -> None:
    """ManifestError unless `value` is one of `types` (a bool is not an integer here)."""
    if isinstance(value, bool) and bool not in types:
        ok = False
    else:
        ok = isinstance(value, types)
    if not ok:
        raise ManifestError(key, f"must be {_type_name(types)}, got {value!r:.80}")


def check_section(section: dict, types: dict[str, tuple[type, ...]], prefix: str,
                  required: tuple[str, ...] = ()) -> None:
    for key in required:
        if key not in section:
            raise ManifestError(f"{prefix}{key}", "is missing")
    for key, accepted in types.items():
        if key in section:
            check_type(section[key], accepted, f"{prefix}{key}")


def check_files(files: dict) -> None:
    """`files`: {relative name inside the pack: {"sha256": 64 hex digits, "bytes": integer >= 0}}."""
    for name, meta in files.items():
        key = f"files.{name}"
        rel = PurePosixPath(name)
        if rel.is_absolute() or ".." in rel.parts or not rel.parts:
            raise ManifestError(key, "is an unsafe file name (absolute, empty or with '..')")
        check_type(meta, (dict,), key)
        check_section(meta, {"sha256": (str,), "bytes": (int,)}, f"{key}.", ("sha256", "bytes"))
        if not _HEX64.fullmatch(meta["sha256"].lower()):
            raise ManifestError(f"{key}.sha256", f"is not 64 hex digits: {meta['sha256']!r:.80}")
        if meta["bytes"] < 0:
            raise ManifestError(f"{key}.bytes", f"is negative: {meta['bytes']}")


def check_external_weights(spec: dict) -> None:
    """`onnx.external_weights`: {"file": a name in `files`, "initializers": a non-empty list of distinct names}."""
    key = "onnx.external_weights"
    check_section(spec, {"file": (str,), "initializers": (list,)}, f"{key}.", ("file", "initializers"))
    names = spec["initializers"]
    if not names:
        raise ManifestError(f"{key}.initializers", "is empty")
    for i, name in enumerate(names):
        check_type(name, (str,), f"{key}.initializers[{i}]")
        if not name:
            raise ManifestError(f"{key}.initializers[{i}]", "is an empty name")
    if len(set(names)) != len(names):
        dup = next(n for i, n in enumerate(names) if n in names[:i])
        raise ManifestError(f"{key}.initializers", f"lists {dup!r} twice")


def check_types(manifest: dict, task: str) -> None:
    """Types of the top-level sections, `onnx`, `files` and (masked-lm) `alphabet` / `architecture`."""
    check_section(manifest, TOP_TYPES, "", REQUIRED[task])
    onnx = manifest["onnx"]
    check_section(onnx, ONNX_TYPES, "onnx.", ("model",) if task == "masked-lm" else ("parts",))
    for key in ("inputs", "outputs", "contacts_outputs"):
        if isinstance(onnx.get(key), list):
            for i, item in enumerate(onnx[key]):
                check_type(item, (str,), f"onnx.{key}[{i}]")
    for part, name in (onnx.get("parts") or {}).items():
        check_type(name, (str,), f"onnx.parts.{part}")
    if "external_weights" in onnx:
        check_external_weights(onnx["external_weights"])
    check_files(manifest["files"])
    if task == "masked-lm":
        check_section(manifest["alphabet"], ALPHABET_TYPES, "alphabet.", tuple(ALPHABET_TYPES))
        for i, token in enumerate(manifest["alphabet"]["tokens"]):
            check_type(token, (str,), f"alphabet.tokens[{i}]")
        check_section(manifest.get("architecture", {}), ESM2_ARCH_TYPES, "architecture.")


def check_alphabet(alphabet: dict) -> None:
    """Exactly the ESM-2 alphabet in ESM order, its special ids, BOS and EOS added."""
    tokens = alphabet["tokens"]
    if len(tokens) != len(ESM2_TOKENS):
        raise ManifestError("alphabet.tokens", f"has {len(tokens)} tokens; the ESM-2 alphabet has "
                                               f"{len(ESM2_TOKENS)}")
    for i, (got, want) in enumerate(zip(tokens, ESM2_TOKENS)):
        if got != want:
            raise ManifestError("alphabet.tokens", f"differs from the ESM-2 alphabet at index {i}: "
                                                   f"{got!r} where ESM-2 has {want!r}")
    for key, token in ESM2_SPECIAL_TOKENS.items():
        idx = alphabet[key]
        if not 0 <= idx < len(tokens):
            raise ManifestError(f"alphabet.{key}", f"{idx} is out of range [0, {len(tokens)})")
        if tokens[idx] != token:
            raise ManifestError(f"alphabet.{key}", f"{idx} is the index of {tokens[idx]!r}, not {token!r} "
                                                   f"({ESM2_SPECIAL[key]})")
    for key in ("prepend_bos", "append_eos"):
        if alphabet[key] is not True:
            raise ManifestError(f"alphabet.{key}", "must be true: ESM-2 reads BOS ... EOS")


def check_architecture(architecture: dict, alphabet: dict) -> None:
    """vocab_size equals the alphabet, max_tokens within MAX_TOKENS_RANGE, widths positive."""
    vocab = architecture.get("vocab_size")
    if vocab is not None and vocab != len(alphabet["tokens"]):
        raise ManifestError("architecture.vocab_size", f"{vocab} differs from the alphabet's "
                                                       f"{len(alphabet['tokens'])} tokens")
    lo, hi = MAX_TOKENS_RANGE
    max_tokens = architecture.get("max_tokens", 1024)
    if not lo <= max_tokens <= hi:
        raise ManifestError("architecture.max_tokens", f"{max_tokens} is outside {lo}..{hi} "
                                                       f"(ESM-2: 1024, BOS and EOS included)")
    for key in ("embed_dim", "num_layers", "attention_heads"):
        value = architecture.get(key)
        if value is not None and value < (1 if key == "embed_dim" else 0):
            raise ManifestError(f"architecture.{key}", f"{value} is not a valid size")


def check_residues(residues: Any, required: bool) -> None:
    """A folding pack's `residues`: `aatype_order` exactly AlphaFold's (app.core.alphabet), `unknown` "X".

    The parts take aatype indices in this order; another order would fold a different sequence
    without any error. v1 packs written before the key existed may lack it (`required` False).
    """
    if residues is None:
        if required:
            raise ManifestError("residues.aatype_order", "is missing (a folding pack records its aatype order)")
        return
    check_type(residues, (dict,), "residues")
    order = residues.get("aatype_order")
    if order is None and not required:
        return
    check_type(order, (str,), "residues.aatype_order")
    if order != AF2_RESTYPES_WITH_X:
        at = next((i for i, (a, b) in enumerate(zip(order, AF2_RESTYPES_WITH_X)) if a != b),
                  min(len(order), len(AF2_RESTYPES_WITH_X)))
        raise ManifestError("residues.aatype_order", f"is {order!r:.40}, not AlphaFold's {AF2_RESTYPES_WITH_X!r} "
                                                     f"(first difference at index {at})")
    unknown = residues.get("unknown", AF2_UNKNOWN)
    if unknown != AF2_UNKNOWN:
        raise ManifestError("residues.unknown", f"is {unknown!r:.40}, not {AF2_UNKNOWN!r} (aatype {len(order) - 1})")


def check_manifest(manifest: dict, task: str) -> None:
    """Every check above for a manifest of `task` (format and version are checked by the caller)."""
    check_types(manifest, task)
    if task == "masked-lm":
        check_alphabet(manifest["alphabet"])
        check_architecture(manifest.get("architecture", {}), manifest["alphabet"])
