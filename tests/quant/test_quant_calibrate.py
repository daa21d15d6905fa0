"""calibrate(): intermediate tensors as outputs on a copy, observed over feeds (ORT injected).

    x --Relu--> --Sub(0.25)--> h --MatMul(W)--> mm0 --Add(b)--> y0
"""
import numpy as np
import pytest

from quant.calibrate import calibrate
from quant.errors import GraphRewriteError, NonFiniteTensorError
from quant.observers import ObserverConfig, ptq4protein_clip
from quant_graphs import linear_model, ort_runner


@pytest.fixture(scope="module")
def setup():
    rng = np.random.default_rng(0)
    w = rng.standard_normal((8, 4)).astype(np.float32)
    model = linear_model(w, np.zeros(4, np.float32))
    feeds = [{"x": rng.standard_normal((1, 5 + i, 8)).astype(np.float32)} for i in range(4)]
    return model, w, feeds


def test_calibrate_matches_numpy(setup):
    model, w, feeds = setup
    calls = []
    stats = calibrate(model, ["h", "mm0", "x"], feeds, ort_runner, ObserverConfig("ptq4protein", top_k=6, top_n=3),
                      progress=lambda done, total, msg: calls.append((done, total)))
    hs = [np.maximum(f["x"], 0) - np.float32(0.25) for f in feeds]
    mms = [h @ w for h in hs]
    for name, arrays in (("h", hs), ("mm0", mms), ("x", [f["x"] for f in feeds])):
        flat = np.concatenate([a.ravel() for a in arrays]).astype(np.float64)
        st = stats[name]
        assert st.count == flat.size
        assert st.min == pytest.approx(flat.min(), rel=1e-6) and st.max == pytest.approx(flat.max(), rel=1e-6)
        assert st.mean == pytest.approx(flat.mean(), rel=1e-5, abs=1e-6)
        assert st.std == pytest.approx(flat.std(), rel=1e-5)
        tops = [np.sort(np.abs(a.ravel()))[-6:] for a in arrays]
        assert st.clip == pytest.approx(ptq4protein_clip(tops, 3), rel=1e-6)
    assert calls == [(1, 4), (2, 4), (3, 4), (4, 4)]
    assert [o.name for o in model.graph.output] == ["y0"]  # caller's model untouched


def test_calibrate_errors_name_tensor_and_sample(setup):
    model, _, feeds = setup
    bad = feeds[:2] + [{"x": np.full((1, 3, 8), np.nan, np.float32)}]
    with pytest.raises(NonFiniteTensorError, match="'h'.*calibration sample 2"):
        calibrate(model, ["h"], bad, ort_runner)
    with pytest.raises(GraphRewriteError, match="nope"):
        calibrate(model, ["nope"], feeds, ort_runner)
