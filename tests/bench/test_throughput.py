"""bench/throughput.py: the fixed-seed Swiss-Prot sample (lengths 50-1000, .gz read) and its subsample."""
import gzip

from bench.throughput import sample_records, subsample


def test_sample_is_fixed_by_the_seed_and_keeps_lengths_50_to_1000(tmp_path):
    path = tmp_path / "sp.fasta.gz"
    lengths = [10, 50, 60, 999, 1000, 1001, 300, 70, 80, 90]
    with gzip.open(path, "wt") as f:
        f.write("".join(f">r{i}\n{'A' * n}\n" for i, n in enumerate(lengths)))
    a = sample_records(path, 5, seed=0)
    assert [r.id for r in a] == [r.id for r in sample_records(path, 5, seed=0)]
    assert len(a) == 5 and all(50 <= len(r.sequence) <= 1000 for r in a)
    everything = sample_records(path, 100, seed=0)
    assert sorted(r.id for r in everything) == sorted(f"r{i}" for i, n in enumerate(lengths) if 50 <= n <= 1000)
    assert subsample(everything, 3, 0) == subsample(everything, 3, 0) and len(subsample(everything, 3, 0)) == 3
    assert subsample(everything, 0, 0) is everything
