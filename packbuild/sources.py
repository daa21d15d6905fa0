"""What a build starts from: a fair-esm checkpoint name, a URL, a local file or a HuggingFace folder.

fair-esm publishes each ESM-2 model as two files (esm/pretrained.py): the model,
`https://dl.fbaipublicfiles.com/fair-esm/models/<name>.pt`, and its contact regression,
`https://dl.fbaipublicfiles.com/fair-esm/regression/<name>-contact-regression.pt`. The sizes below
are approximate (for the model manager's "about 2.6 GB" and a disk check), not verified: fair-esm
publishes no hashes, so a download is checked against the server's Content-Length and the pack
records the sha256 of what was read.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Optional

FAIR_ESM_MODELS = "https://dl.fbaipublicfiles.com/fair-esm/models"
FAIR_ESM_REGRESSION = "https://dl.fbaipublicfiles.com/fair-esm/regression"


@dataclass(frozen=True)
class CheckpointSource:
    """One published ESM-2 checkpoint: where its two files are, about how big, what shape."""
    name: str
    url: str
    contact_url: Optional[str]
    approx_bytes: int  # the model file (the contact regression is a few kB)
    layers: int
    dim: int
    heads: int = 20
    sha256: Optional[str] = None  # checked after download when known

    @property
    def parameters(self) -> str:
        """"8M", "650M": the size in the name."""
        return self.name.split("_")[2]


def _fair_esm(name: str, approx_bytes: int, layers: int, dim: int) -> CheckpointSource:
    return CheckpointSource(name, f"{FAIR_ESM_MODELS}/{name}.pt",
                            f"{FAIR_ESM_REGRESSION}/{name}-contact-regression.pt", approx_bytes, layers, dim)


KNOWN_CHECKPOINTS: dict[str, CheckpointSource] = {s.name: s for s in (
    _fair_esm("esm2_t6_8M_UR50D", 31_000_000, 6, 320),
    _fair_esm("esm2_t12_35M_UR50D", 134_000_000, 12, 480),
    _fair_esm("esm2_t30_150M_UR50D", 593_000_000, 30, 640),
    _fair_esm("esm2_t33_650M_UR50D", 2_600_000_000, 33, 1280),
)}


@dataclass(frozen=True)
class Resolved:
    """A source as the builder sees it: what to download (url -> file name) or the local path."""
    label: str                       # how errors and the manifest name it
    name: str                        # the pack's name
    downloads: tuple[tuple[str, str], ...] = ()  # (url, file name in the cache), model first
    local: Optional[Path] = None
    known: Optional[CheckpointSource] = None


def is_url(text: str) -> bool:
    return text.startswith(("http://", "https://"))


def _url_file_name(url: str) -> str:
    name = url.split("?", 1)[0].rstrip("/").rsplit("/", 1)[-1]
    return name or "checkpoint.pt"


def pack_name(file_name: str) -> str:
    """A pack name from a checkpoint file or folder name: "esm2_t6_8M_UR50D.pt" -> "esm2_t6_8M_UR50D"."""
    stem = file_name
    for ext in (".safetensors", ".bin", ".pt", ".pth"):
        if stem.endswith(ext):
            stem = stem[: -len(ext)]
            break
    safe = "".join(c if c.isalnum() or c in "._-" else "_" for c in stem).strip("._")
    return safe or "esm2"


def resolve(source: str) -> Resolved:
    """What `source` names; ValueError (the builder turns it into a BuildError) for none of the four."""
    if source in KNOWN_CHECKPOINTS:
        known = KNOWN_CHECKPOINTS[source]
        downloads = [(known.url, _url_file_name(known.url))]
        if known.contact_url:
            downloads.append((known.contact_url, _url_file_name(known.contact_url)))
        return Resolved(source, source, tuple(downloads), known=known)
    if is_url(source):
        file_name = _url_file_name(source)
        known = next((k for k in KNOWN_CHECKPOINTS.values() if k.url == source), None)
        downloads = [(source, file_name)]
        if known and known.contact_url:
            downloads.append((known.contact_url, _url_file_name(known.contact_url)))
        return Resolved(source, pack_name(file_name), tuple(downloads), known=known)
    path = Path(source).expanduser()
    if path.is_dir() or path.is_file():
        return Resolved(source, pack_name(path.resolve().name), local=path)
    raise ValueError(f"{source!r} is not a known checkpoint ({', '.join(KNOWN_CHECKPOINTS)}), an http(s) URL, "
                     "or an existing .pt / .bin / .safetensors file or HuggingFace ESM folder")
