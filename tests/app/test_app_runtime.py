"""Esm2Runtime against the numpy reference of the stand-in graph; input validation."""
import numpy as np
import pytest
from standin import reference

from app.core.pack import PackError, load_pack
from app.core.runtime import Esm2Runtime, InferenceError


def test_run_matches_reference(standin_runtime, standin_weights0):
    tokens = standin_runtime.tokenizer.batch_encode(["MKTAYIAK", "ACD"])
    out = standin_runtime.run(tokens, ("logits", "embeddings", "contacts"))
    ref = reference(standin_weights0, tokens)
    assert set(out) == {"logits", "embeddings", "contacts"}
    for k in out:
        np.testing.assert_allclose(out[k], ref[k], rtol=1e-5, atol=1e-5)
    assert standin_runtime.max_residues == 1022


@pytest.mark.parametrize("tokens,needle", [
    (np.zeros(5, np.int64), "2-D"),
    (np.zeros((1, 5), np.float32), "int64"),
    (np.zeros((1, 1025), np.int64), "max_tokens 1024"),
    (np.full((1, 4), 40, np.int64), "outside"),
])
def test_bad_inputs(standin_runtime, tokens, needle):
    with pytest.raises(InferenceError, match=needle):
        standin_runtime.run(tokens)


def test_unknown_output(standin_runtime):
    with pytest.raises(InferenceError, match="no output"):
        standin_runtime.run(np.zeros((1, 3), np.int64), ("attentions",))


def test_threads_default_and_explicit(standin_pack_dir):
    import os
    pack = load_pack(standin_pack_dir)
    assert Esm2Runtime(pack).threads == os.cpu_count()
    assert Esm2Runtime(pack, threads=1).session.get_session_options().intra_op_num_threads == 1


def test_unloadable_model_is_a_pack_error(fresh_pack):
    import hashlib
    import json
    f = fresh_pack / "model.onnx"
    f.write_bytes(b"not an onnx model")
    m = json.loads((fresh_pack / "manifest.json").read_text())
    m["files"]["model.onnx"] = {"sha256": hashlib.sha256(f.read_bytes()).hexdigest(),
                                "bytes": f.stat().st_size}
    (fresh_pack / "manifest.json").write_text(json.dumps(m))
    with pytest.raises(PackError, match="cannot load"):
        Esm2Runtime(load_pack(fresh_pack))
