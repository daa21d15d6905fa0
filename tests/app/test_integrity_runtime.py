"""The graph is checked against the manifest: output widths at load, finite outputs at every run.

Before, a graph whose logits were NaN wrote NaN scores with exit 0, and a 5-wide logits graph
crashed later in scoring with an IndexError.
"""
import hashlib
import json

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper, numpy_helper
from standin import build_model, standin_weights

from app.__main__ import main
from app.core.pack import PackError, load_pack
from app.core.runtime import Esm2Runtime, check_results

TOKENS = np.array([[0, 5, 6, 7, 2]], dtype=np.int64)


def replace_model(pack, model: onnx.ModelProto) -> None:
    """Write `model` as the pack's model.onnx with a matching `files` entry (a consistent pack)."""
    onnx.save_model(model, str(pack / "model.onnx"))
    data = (pack / "model.onnx").read_bytes()
    mpath = pack / "manifest.json"
    m = json.loads(mpath.read_text())
    m["files"]["model.onnx"] = {"sha256": hashlib.sha256(data).hexdigest(), "bytes": len(data)}
    mpath.write_text(json.dumps(m))


def gather_model(logits_width: int, embed_width: int = 8,
                 tokens_type: int = TensorProto.INT64) -> onnx.ModelProto:
    """tokens -> Gather(T (33, logits_width)) -> logits;  tokens -> Gather(E (33, embed_width)) -> embeddings."""
    rng = np.random.default_rng(0)
    inits = [numpy_helper.from_array(rng.normal(size=(33, logits_width)).astype(np.float32), "T"),
             numpy_helper.from_array(rng.normal(size=(33, embed_width)).astype(np.float32), "E")]
    nodes = [helper.make_node("Gather", ["T", "tokens"], ["logits"]),
             helper.make_node("Gather", ["E", "tokens"], ["embeddings"])]
    f = TensorProto.FLOAT
    graph = helper.make_graph(
        nodes, "g", [helper.make_tensor_value_info("tokens", tokens_type, ["batch", "length"])],
        [helper.make_tensor_value_info("logits", f, ["batch", "length", logits_width]),
         helper.make_tensor_value_info("embeddings", f, ["batch", "length", embed_width])], inits)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 21)])
    model.ir_version = 10
    return model


def test_nan_logits_are_refused_naming_pack_and_output(fresh_pack):
    weights = standin_weights(1)
    weights["T"][5, 7] = np.nan  # residue A's logits
    replace_model(fresh_pack, build_model(weights))
    runtime = Esm2Runtime(load_pack(fresh_pack), threads=1)
    with pytest.raises(PackError, match=r"pack 'standin' at .*: output 'logits' has 1 non-finite value\(s\)"):
        runtime.run(TOKENS)
    runtime.run(np.array([[0, 6, 7, 2]], dtype=np.int64))  # rows without A are finite and pass


def test_infinite_embeddings_are_refused(fresh_pack):
    weights = standin_weights(1)
    weights["Emb"][6, 0] = np.inf
    replace_model(fresh_pack, build_model(weights))
    with pytest.raises(PackError, match="output 'embeddings' has 1 non-finite"):
        Esm2Runtime(load_pack(fresh_pack), threads=1).run(TOKENS, ("logits", "embeddings"))


def test_nan_scores_make_the_cli_fail(fresh_pack, tmp_path, capsys):
    weights = standin_weights(1)
    weights["C"][:, 3] = np.nan  # the context term: every logit is NaN
    replace_model(fresh_pack, build_model(weights))
    (tmp_path / "in.fasta").write_text(">p1\nMKTAYIAK\n")
    rc = main(["score", "--model", str(fresh_pack), "--fasta", str(tmp_path / "in.fasta"),
               "--out", str(tmp_path / "s.csv"), "--threads", "1"])
    err = capsys.readouterr().err
    assert rc != 0 and "non-finite" in err and "'logits'" in err and str(fresh_pack) in err


def test_logits_narrower_than_the_alphabet_are_refused_at_load(fresh_pack):
    replace_model(fresh_pack, gather_model(5))
    with pytest.raises(PackError, match=r"model\.onnx: output 'logits' is 5 wide, but the manifest of pack "
                                        r"'standin' declares a 33-token alphabet"):
        Esm2Runtime(load_pack(fresh_pack), threads=1)


def test_widths_are_checked_on_the_arrays_too(fresh_pack):
    """A graph whose shapes onnxruntime cannot infer is checked on what run() returns."""
    pack = load_pack(fresh_pack)
    check_results(pack, {"logits": np.zeros((1, 4, 33), np.float32), "contacts": np.zeros((1, 2, 2))})
    with pytest.raises(PackError, match="output 'logits' is 5 wide"):
        check_results(pack, {"logits": np.zeros((1, 4, 5), np.float32)})
    with pytest.raises(PackError, match=r"output 'logits' has shape \[4, 33\], expected 3-D"):
        check_results(pack, {"logits": np.zeros((4, 33), np.float32)})


def test_embeddings_wider_than_embed_dim_are_refused(fresh_pack):
    replace_model(fresh_pack, gather_model(33, embed_width=9))
    with pytest.raises(PackError, match=r"output 'embeddings' is 9 wide, .* declares architecture\.embed_dim 8"):
        Esm2Runtime(load_pack(fresh_pack), threads=1)


def test_tokens_input_must_be_int64(fresh_pack):
    replace_model(fresh_pack, gather_model(33, tokens_type=TensorProto.INT32))
    with pytest.raises(PackError, match=r"input 'tokens' is tensor\(int32\) .* expected int64"):
        Esm2Runtime(load_pack(fresh_pack), threads=1)
