"""Homologs of one protein for evo-tuning: phmmer (pyhmmer) of its wild type against a FASTA(.gz).

    python -m exporter.homologs --query WT.fasta --db swissprot.fasta.gz --out homologs.fasta

A hit is kept when its sequence E-value is at most `max_evalue`; hits that are the wild type itself
(identity over the wild type >= `max_identity`, 0.95 by default: the same protein, a splice form or
a point mutant of it) are dropped, so evo-tuning never trains on the assayed sequence. Each kept
homolog is written as the region of the target that lines up with the whole wild type (the best
domain's alignment, extended by the wild type's unaligned ends), so a multi-domain protein
contributes only the part that is homologous. A JSON record beside `--out` holds the parameters,
counts and timing; a later run with the same query, database and parameters reuses the FASTA.
"""
from __future__ import annotations

import argparse
import gzip
import hashlib
import json
import logging
import time
from dataclasses import asdict, dataclass
from pathlib import Path

from .train_data import read_fasta_sequences

log = logging.getLogger(__name__)


class HomologSearchError(ValueError):
    """A search that cannot run: names the query or database file."""


@dataclass(frozen=True)
class SearchConfig:
    max_evalue: float = 1e-5      # sequence E-value cutoff (phmmer's -E)
    max_identity: float = 0.95    # identical residues / wild-type length at or above this: the wt itself
    max_homologs: int = 5000      # keep the best by E-value
    threads: int = 1

    def __post_init__(self):
        if not 0.0 < self.max_identity <= 1.0:
            raise ValueError(f"max_identity {self.max_identity}: expected a fraction in (0, 1]")
        if self.max_evalue <= 0 or self.max_homologs < 1 or self.threads < 1:
            raise ValueError(f"invalid search config {self}")


@dataclass(frozen=True)
class Homolog:
    name: str
    evalue: float
    identity: float   # identical aligned residues / wild-type length
    sequence: str     # the target region aligned to the wild type


def _read_db(db: Path, alphabet):
    """The database as a pyhmmer DigitalSequenceBlock (plain or gzipped FASTA)."""
    from pyhmmer import easel

    opener = gzip.open if str(db).endswith(".gz") else open
    with opener(db, "rb") as fh, easel.SequenceFile(fh, format="fasta", digital=True, alphabet=alphabet) as sf:
        return sf.read_block()


def search(wild_type: str, db: Path, config: SearchConfig = SearchConfig()) -> tuple[list[Homolog], dict]:
    """Homologs of `wild_type` in `db` (best E-value first) and a record of the search."""
    from pyhmmer import easel, hmmer

    alphabet = easel.Alphabet.amino()
    t0 = time.time()
    targets = _read_db(Path(db), alphabet)
    t_read = time.time() - t0
    query = easel.TextSequence(name=b"query", sequence=wild_type).digitize(alphabet)
    t1 = time.time()
    hits = next(iter(hmmer.phmmer([query], targets, cpus=config.threads, E=config.max_evalue)))
    t_search = time.time() - t1
    full = {s.name.decode() if isinstance(s.name, bytes) else s.name: s for s in targets}
    kept, n_self = [], 0
    for hit in hits:
        if hit.evalue > config.max_evalue:
            continue
        name = hit.name.decode() if isinstance(hit.name, bytes) else hit.name
        ali = hit.best_domain.alignment
        identity = sum(c.isalpha() for c in ali.identity_sequence) / len(wild_type)
        if identity >= config.max_identity:
            n_self += 1
            continue
        seq = alphabet.decode(full[name].sequence)
        start = max(0, ali.target_from - 1 - (ali.hmm_from - 1))       # 0-based, extend by the wt's N-end
        end = min(len(seq), ali.target_to + (len(wild_type) - ali.hmm_to))  # and its C-end
        kept.append(Homolog(name, float(hit.evalue), round(identity, 4), seq[start:end]))
    kept.sort(key=lambda h: h.evalue)
    kept = kept[:config.max_homologs]
    record = {"n_db": len(targets), "n_hits": len(hits), "n_excluded_wild_type": n_self, "n_homologs": len(kept),
              "seconds_read_db": round(t_read, 1), "seconds_phmmer": round(t_search, 1),
              "median_identity": sorted(h.identity for h in kept)[len(kept) // 2] if kept else None}
    log.info("phmmer: %s", record)
    return kept, record


def _cache_key(wild_type: str, db: Path, config: SearchConfig) -> str:
    stat = Path(db).stat()
    text = json.dumps([wild_type, str(Path(db).resolve()), stat.st_size, stat.st_mtime, asdict(config)])
    return hashlib.sha256(text.encode()).hexdigest()


def find_homologs(wild_type: str, db: Path, out: Path, config: SearchConfig = SearchConfig()) -> dict:
    """Search, write `out` (FASTA) and `out`.json; reuse both when the same search was already written."""
    out, record_path = Path(out), Path(out).with_suffix(".json")
    key = _cache_key(wild_type, db, config)
    if out.exists() and record_path.exists():
        previous = json.loads(record_path.read_text())
        if previous.get("cache_key") == key:
            log.info("%s: cached (same query, database and parameters)", out)
            return previous
    homologs, record = search(wild_type, db, config)
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_suffix(".tmp")
    tmp.write_text("".join(f">{h.name} evalue={h.evalue:.2e} identity={h.identity:.3f}\n{h.sequence}\n"
                           for h in homologs))
    tmp.replace(out)
    record.update(query_length=len(wild_type), db=str(db), config=asdict(config), cache_key=key)
    record_path.write_text(json.dumps(record, indent=2))
    return record


def read_query(path: Path) -> str:
    records = read_fasta_sequences(Path(path))
    if len(records) != 1:
        raise HomologSearchError(f"{path}: expected one query sequence, found {len(records)}")
    return records[0][1]


def main(argv=None) -> int:
    p = argparse.ArgumentParser(prog="python -m exporter.homologs", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--query", required=True, help="FASTA with the wild-type sequence")
    p.add_argument("--db", required=True, help="FASTA or FASTA.gz to search")
    p.add_argument("--out", required=True, help="homolog FASTA to write (a .json record beside it)")
    p.add_argument("--evalue", type=float, default=SearchConfig.max_evalue)
    p.add_argument("--max-identity", type=float, default=SearchConfig.max_identity)
    p.add_argument("--max-homologs", type=int, default=SearchConfig.max_homologs)
    p.add_argument("--threads", type=int, default=1)
    args = p.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s")
    try:
        config = SearchConfig(args.evalue, args.max_identity, args.max_homologs, args.threads)
        record = find_homologs(read_query(Path(args.query)), Path(args.db), Path(args.out), config)
    except (HomologSearchError, ValueError, OSError) as exc:
        print(f"error: {exc}")
        return 1
    print(json.dumps({k: v for k, v in record.items() if k != "cache_key"}, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
