"""Site finding on the 2-layer transformer test graph (see quant_graphs.transformer_model)."""
import subprocess
import sys
from pathlib import Path

import numpy as np

from quant.sites import layernorm_sites, linear_sites, softmax_sites
from quant_graphs import transformer_model


def test_sites_of_transformer():
    model = transformer_model(np.random.default_rng(0))
    lin = linear_sites(model)
    assert len(lin) == 12  # q, k, v, out_proj, fc1, fc2 per layer; score/context MatMuls excluded
    assert {s.node for s in lin if s.node.startswith("layers.1.")} == {
        f"layers.1.{m}/MatMul" for m in ("self_attn.q_proj", "self_attn.k_proj", "self_attn.v_proj",
                                         "self_attn.out_proj", "fc1", "fc2")}
    q = next(s for s in lin if s.node == "layers.0.self_attn.q_proj/MatMul")
    assert (q.activation, q.weight, q.output) == ("layers.0.self_attn_layer_norm.out",
                                                  "layers.0.self_attn.q_proj.weight_t",
                                                  "layers.0.self_attn.q_proj.mm")
    ln = layernorm_sites(model)
    assert [s.node for s in ln] == ["layers.0.self_attn_layer_norm", "layers.0.final_layer_norm",
                                    "layers.1.self_attn_layer_norm", "layers.1.final_layer_norm",
                                    "emb_layer_norm_after"]
    assert ln[0].activation == "x" and ln[1].activation == "layers.0.res1"
    sm = softmax_sites(model)
    assert [(s.activation, s.output) for s in sm] == [("layers.0.scores", "layers.0.probs"),
                                                      ("layers.1.scores", "layers.1.probs")]


def test_quant_imports_only_numpy_and_onnx():
    code = ("import sys, quant, quant.registry, quant.api, quant.calibrate, quant.rewrite; "
            "bad = [m for m in ('onnxruntime', 'torch', 'scipy') if m in sys.modules]; "
            "assert not bad, bad")
    subprocess.run([sys.executable, "-c", code], check=True, cwd=str(Path(__file__).parents[2]))
