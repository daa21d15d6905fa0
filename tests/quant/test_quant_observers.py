"""Observers: Welford moments, min/max, percentile and PTQ4Protein clipping, error reporting."""
import numpy as np
import pytest

from quant.errors import DegenerateTensorError, EmptyTensorError, NonFiniteTensorError
from quant.moments import RunningMoments
from quant.observers import ObserverConfig, TensorObserver, observe, ptq4protein_clip


def test_welford_chunked_matches_numpy():
    rng = np.random.default_rng(0)
    chunks = [rng.normal(1e4, 3.0, n) for n in (1, 7, 1000, 3, 50000)]  # large offset: stability
    rm = RunningMoments()
    for c in chunks:
        rm.update(c)
    allx = np.concatenate(chunks)
    assert rm.count == allx.size
    assert rm.mean == pytest.approx(allx.mean(), rel=1e-14)
    assert rm.std == pytest.approx(allx.std(), rel=1e-9)


def test_minmax_stats():
    s = observe("t", [np.array([[1.0, -3.0]]), np.array([2.0, 0.5, 0.5])], ObserverConfig("minmax"))
    assert (s.min, s.max, s.absmax, s.clip, s.count) == (-3.0, 2.0, 3.0, 3.0, 5)
    x = np.array([1.0, -3.0, 2.0, 0.5, 0.5])
    assert s.mean == pytest.approx(x.mean()) and s.std == pytest.approx(x.std())
    assert s.m == pytest.approx(3.0 / x.std())
    assert s.clipped_range() == (-3.0, 2.0)


def test_ptq4protein_clip_hand_example():
    # sample 1: |x| = 1..10 ; k = 4 keeps {7,8,9,10}; N = 3 -> {10,9,8}, median 9
    # sample 2: |x| = {0.5, 4, 6, 2} ; k = 4 keeps all; N = 3 -> {6,4,2}, median 4
    # M = (9 + 4) / 2 = 6.5
    s1 = np.arange(1.0, 11.0) * np.array([1, -1] * 5)
    s2 = np.array([0.5, -4.0, 6.0, 2.0])
    cfg = ObserverConfig("ptq4protein", top_k=4, top_n=3)
    st = observe("ln_in", [s1, s2], cfg)
    assert st.clip == pytest.approx(6.5)
    assert st.absmax == 10.0
    assert st.clipped_range() == (-6.5, 6.5)
    # N even: median of the top 2 of sample 1 is (10 + 9) / 2
    assert ptq4protein_clip([np.array([7.0, 8, 9, 10])], 2) == pytest.approx(9.5)


def test_ptq4protein_clip_ignores_one_rare_outlier():
    rng = np.random.default_rng(1)
    samples = [rng.standard_normal(4096) for _ in range(8)]
    samples[3][17] = 500.0  # one spike in one sample
    st = observe("t", samples, ObserverConfig("ptq4protein", top_k=100, top_n=20))
    assert st.absmax == 500.0
    assert 2.5 < st.clip < 5.0  # the spike barely moves its sample's top-20 median


def test_percentile_is_mean_of_per_sample_percentiles():
    rng = np.random.default_rng(2)
    samples = [rng.standard_normal(10000) * s for s in (1.0, 2.0)]
    st = observe("t", samples, ObserverConfig("percentile", percentile=99.0))
    expected = np.mean([np.percentile(np.abs(x), 99.0) for x in samples])
    assert st.clip == pytest.approx(expected)
    assert st.clip < st.absmax


@pytest.mark.parametrize("bad,exc,match", [
    (np.array([1.0, np.nan]), NonFiniteTensorError, "layers.0.fc1.*1 non-finite.*index \\(1,\\)"),
    (np.array([[np.inf, 1.0]]), NonFiniteTensorError, "layers.0.fc1.*index \\(0, 0\\)"),
    (np.zeros((0, 4)), EmptyTensorError, "layers.0.fc1.*empty sample"),
])
def test_bad_input_names_tensor(bad, exc, match):
    obs = TensorObserver("layers.0.fc1")
    with pytest.raises(exc, match=match) as info:
        obs.update(bad)
    assert info.value.tensor == "layers.0.fc1"


@pytest.mark.parametrize("samples", [[np.zeros(10)], [np.full(10, 3.0)], []])
def test_degenerate_or_missing_names_tensor(samples):
    with pytest.raises((DegenerateTensorError, EmptyTensorError), match="'x.ln'"):
        observe("x.ln", samples)


def test_config_validation():
    with pytest.raises(ValueError, match="kind"):
        ObserverConfig("mse")
    with pytest.raises(ValueError, match="top_n"):
        ObserverConfig(top_k=5, top_n=6)
