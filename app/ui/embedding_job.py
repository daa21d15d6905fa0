"""The embedding job the window runs in a worker: one pass for embeddings (and contacts when the pack has them)."""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from app.core.embedding import Embedding, embed_sequence
from app.core.fasta import Record
from app.core.jobs import CancelToken, Progress, check, report
from app.core.provenance import Provenance
from app.ui.scoring_job import RuntimeCache


@dataclass(frozen=True)
class EmbedResult:
    record: Record
    embedding: Embedding = field(repr=False)
    provenance: Provenance


def make_embed_job(pack_path: Path, record: Record, cache: RuntimeCache):
    """A worker job -> EmbedResult; contacts are computed when the pack ships contacts.onnx."""
    def job(progress: Progress, cancel: CancelToken) -> EmbedResult:
        report(progress, 0, 0, f"Embedding {record.id} with {Path(pack_path).name}\u2026")
        runtime = cache.get(pack_path)
        check(cancel)
        contacts = runtime.pack.contacts_model_path is not None
        emb = embed_sequence(runtime, record.sequence, contacts=contacts)
        method = "embedding + contacts" if contacts else "embedding"
        return EmbedResult(record, emb, Provenance.of_pack(runtime.pack.path, method, runtime.pack.name,
                                                           runtime.pack.scheme))

    return job
