"""One build: source -> (download) -> weights -> fp32 graph -> calibrate + quantize -> verify -> pack.

    resolve(source)            KNOWN_CHECKPOINTS name, URL, local file or HF folder (sources.py)
    download (resumable)       model file, and fair-esm's contact regression (download.py)
    read_weights               restricted unpickler / numpy safetensors -> Esm2Weights (checkpoint.py)
    build_esm2                 model.onnx (+ contacts.onnx when the checkpoint has a contact head),
                               one fp32 graph in memory at a time
    quantize                   quant.quantize on the 64 length-stratified calibration sequences
    write_pack(inspect=...)    staged beside the target; the staged pack is loaded through the app
                               and compared with the fp32 graph (logits SQNR, top-1, variant
                               Spearman) before it is swapped into place

The steps are the exporter's own (packbuild.esm2_graph, quantize, pack, verify): only the source
of the weights and the reference (the fp32 graph instead of torch) differ.
"""
from __future__ import annotations

import logging
import os
import threading
import time
from pathlib import Path
from typing import Callable, Optional

from .errors import BuildError, Cancelled
from .sources import Resolved, resolve

log = logging.getLogger(__name__)
Progress = Callable[[int, int, str], None]

CALIBRATION_SIZE = 64      # the shipped default pack's calibration (exporter.cli ESM2_DEFAULTS)
VERIFY_SIZE = 16
MAX_VERIFY_RESIDUES = 400
MAX_RESIDUES = 1022
FAIR_ESM_LICENSE = "MIT (fair-esm, https://github.com/facebookresearch/esm)"
FAIR_ESM_CREDITS = "ESM-2: Lin et al., Science 2023 (Meta AI); weights from fair-esm's public release"


def default_cache_dir() -> Path:
    """Where downloads are kept between attempts: `$XDG_CACHE_HOME/edgefold/downloads` (~/.cache/...)."""
    root = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(root).expanduser() / "edgefold" / "downloads"


class Steps:
    """progress + cancel for the worker: every report first checks the cancel flag."""

    def __init__(self, progress: Optional[Progress], cancel: Optional[threading.Event]) -> None:
        self.progress, self.cancel = progress, cancel

    def check(self) -> None:
        if self.cancel is not None and self.cancel.is_set():
            raise Cancelled("pack build cancelled")

    def __call__(self, done: int, total: int, message: str) -> None:
        self.check()
        if self.progress is not None:
            self.progress(done, total, message)


def scheme_config(scheme: str):
    """The quant config of `scheme` for an ESM-2 pack, with quant.configs.esm2_defaults as
    `python -m exporter` applies them. BuildError naming the scheme otherwise."""
    from quant import make_config
    from quant.configs import esm2_defaults
    from quant import scheme as registered
    from quant import scheme_names

    try:
        entry = registered(scheme)
    except ValueError:
        raise BuildError(f"scheme {scheme!r}: not a quantization scheme; known: {', '.join(scheme_names('esm2'))}") \
            from None
    if "esm2" not in entry.families:
        raise BuildError(f"scheme {scheme!r} does not apply to ESM-2; known: {', '.join(scheme_names('esm2'))}")
    return make_config(scheme, **esm2_defaults(entry.config))


def check_disk_space(folder: Path, need: int, label: str) -> None:
    """BuildError before a download that cannot fit (what a .part already holds counts as had)."""
    import shutil

    folder.mkdir(parents=True, exist_ok=True)
    have = sum(p.stat().st_size for p in folder.glob("*.part"))
    free = shutil.disk_usage(folder).free
    if free + have < need:
        raise BuildError(f"{label}: needs about {need / 1e9:.1f} GB in {folder}, only {free / 1e9:.1f} GB free; "
                         "free some space or pass another cache folder")


def fetch(resolved: Resolved, cache_dir: Path, steps: Steps) -> list[tuple[Path, Optional[str]]]:
    """(local file, URL or None) of each file the source needs, downloading what is not local."""
    if resolved.local is not None:
        from .checkpoint import contact_regression_beside

        regression = contact_regression_beside(resolved.local) if resolved.local.is_file() else None
        return [(resolved.local, None)] + ([(regression, None)] if regression else [])
    from .download import download

    if resolved.known is not None:
        check_disk_space(cache_dir, resolved.known.approx_bytes, resolved.label)
    files = []
    for i, (url, file_name) in enumerate(resolved.downloads):
        sha = resolved.known.sha256 if (resolved.known is not None and i == 0) else None
        files.append((download(url, cache_dir / file_name, sha256=sha, progress=steps, cancel=steps.cancel), url))
    return files


def _read(resolved: Resolved, files: list[tuple[Path, Optional[str]]]):
    from .checkpoint import read_weights

    model_file = files[0][0]
    regression = files[1][0] if len(files) > 1 else None
    return read_weights(model_file, resolved.name, resolved.label, regression=regression)


def _provenance(files: list[tuple[Path, Optional[str]]], resolved: Resolved) -> tuple[dict, dict]:
    """(`provenance.source` of the model file, the manifest's `build` record of every input file)."""
    from .provenance import file_provenance

    records = [{**file_provenance(path), **({"url": url} if url else {})} for path, url in files]
    source = {k: records[0][k] for k in ("name", "sha256", "bytes")}
    label = resolved.label if resolved.local is None else records[0]["name"]
    return source, {"tool": "packbuild", "source": label, "files": records}


def build(source: str, packs_dir: Path, *, scheme: str = "pwlq8", progress: Optional[Progress] = None,
          cancel: Optional[threading.Event] = None, cache_dir: Optional[Path] = None) -> Path:
    """packbuild.build_pack (see its docstring)."""
    started = time.monotonic()
    steps = Steps(progress, cancel)
    try:
        resolved = resolve(source)
    except ValueError as exc:
        raise BuildError(str(exc)) from None
    config = scheme_config(scheme)
    try:
        return _build(resolved, Path(packs_dir), config, steps, cache_dir or default_cache_dir(), started)
    except (BuildError, Cancelled):
        raise
    except Exception as exc:  # CheckpointError, NotAPackError, onnxruntime, disk full ...: name the input
        text = str(exc)
        named = source in text or resolved.name in text
        raise BuildError(text if named else f"{source}: {type(exc).__name__}: {text}") from exc


def _build(resolved: Resolved, packs_dir: Path, config, steps: Steps, cache_dir: Path, started: float) -> Path:
    from .esm2_graph import build_esm2
    from .pack import alphabet_manifest, architecture_manifest, check_replaceable, write_pack
    from .provenance import provenance_name
    from .quantize import Calibrator, quantize
    from .sequences import DEFAULT_CALIBRATION, DEFAULT_HELDOUT, read_sequences, stratified
    from .verify import session

    out_dir = packs_dir / f"{resolved.name}-{config.name}"
    check_replaceable(out_dir)  # before a download: refuse a folder that is not a pack now, not later
    files = fetch(resolved, cache_dir, steps)
    steps(0, 1, "reading the checkpoint")
    weights = _read(resolved, files)
    steps(1, 1, "reading the checkpoint")
    calibrator = Calibrator(read_sequences(DEFAULT_CALIBRATION), CALIBRATION_SIZE, MAX_RESIDUES, progress=steps)
    heldout = stratified(read_sequences(DEFAULT_HELDOUT), VERIFY_SIZE, MAX_VERIFY_RESIDUES, seed=1)
    names = ["model.onnx"] + (["contacts.onnx"] if weights.has_contact_head else [])
    models, report, references = {}, {}, []
    for name in names:  # one fp32 graph in memory at a time (2.6 GB each for the 650M)
        steps(0, 1, f"building the fp32 graph of {name}")
        float_model = build_esm2(weights, contacts=name == "contacts.onnx")
        if name == "model.onnx":
            references = _references(session(float_model), heldout, steps)
        steps(0, CALIBRATION_SIZE, f"calibrating and quantizing {name} ({config.name})")
        models[name], report = quantize(float_model, config, calibrator if config.needs_calibration else None)
        del float_model
    source, record = _provenance(files, resolved)
    known = resolved.known is not None
    onnx_info = {"model": "model.onnx", "inputs": ["tokens"], "outputs": ["logits", "embeddings"]}
    if "contacts.onnx" in models:
        onnx_info.update(contacts_model="contacts.onnx", contacts_outputs=["logits", "embeddings", "contacts"])
    manifest = {"name": weights.name, "task": "masked-lm", "architecture": architecture_manifest(weights),
                "alphabet": alphabet_manifest(), "scheme": config.name, "scheme_config": report, "onnx": onnx_info,
                "provenance": {"source": source}, "notes": list(weights.notes),
                "calibration": calibrator.summary(provenance_name(str(DEFAULT_CALIBRATION)))
                if config.needs_calibration else None,
                "accuracy": {}, "license": FAIR_ESM_LICENSE if known else "",
                "credits": FAIR_ESM_CREDITS if known else "", "build": record}

    def inspect(staged: Path) -> dict:
        from app.core.pack import load_pack
        from app.core.runtime import Esm2Runtime

        from .verify import RuntimeSession, verify

        runtime = Esm2Runtime(load_pack(staged))
        accuracy = verify(RuntimeSession(runtime), heldout, references, steps, reference="fp32 graph")
        return {"accuracy": accuracy, "build": {**record, "seconds": round(time.monotonic() - started, 1)}}

    path = write_pack(out_dir, models, manifest, inspect=inspect)
    log.info("built %s in %.0f s", path, time.monotonic() - started)
    return path


def _references(sess, sequences: list[str], steps: Steps) -> list[dict]:
    """The fp32 graph's logits and embeddings on the held-out sequences (the verification reference)."""
    from .sequences import encode

    refs = []
    for i, seq in enumerate(sequences):
        logits, emb = sess.run(["logits", "embeddings"], {"tokens": encode(seq)})
        refs.append({"logits": logits, "embeddings": emb})
        steps(i + 1, len(sequences), "fp32 reference outputs")
    return refs
