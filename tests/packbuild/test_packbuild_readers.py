"""The no-torch readers return exactly the tensors torch saved, and never run a checkpoint's code."""
from __future__ import annotations

import collections
import os
import pickle

import numpy as np
import pytest

from packbuild.checkpoint import read_weights
from packbuild.safetensors_reader import read_safetensors
from packbuild.torch_reader import UnsafeCheckpointError, load_checkpoint
from packbuild.weights import CheckpointError

from exporter.testing import save_fair_esm

torch = pytest.importorskip("torch")


def _as_numpy(t):
    return t.float().numpy() if t.dtype == torch.bfloat16 else t.numpy()


@pytest.mark.parametrize("zip_format", [True, False], ids=["zip", "legacy"])
def test_torch_reader_equals_torch_for_every_dtype_and_view(tmp_path, zip_format):
    torch.manual_seed(0)
    base = torch.randn(6, 5)
    tensors = collections.OrderedDict(
        f32=torch.randn(3, 4), f16=torch.randn(7).half(), bf16=torch.randn(2, 3).bfloat16(),
        i64=torch.arange(5), f64=torch.randn(2, 2).double(), boolean=torch.tensor([True, False, True]),
        transposed=base.t(), sliced=base[1:4, 2:], scalar=torch.tensor(3.5))
    path = tmp_path / "t.pt"
    torch.save({"model": tensors, "epoch": 3}, path, _use_new_zipfile_serialization=zip_format)
    got = load_checkpoint(path)
    assert got["epoch"] == 3
    assert isinstance(got["model"], collections.OrderedDict)
    assert list(got["model"]) == list(tensors)
    for key, tensor in tensors.items():
        array = got["model"][key]
        assert array.shape == tuple(tensor.shape), key
        np.testing.assert_array_equal(array, _as_numpy(tensor), err_msg=key)


class _Exploit:
    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        return (os.system, (f"touch {self.marker}",))


@pytest.mark.parametrize("zip_format", [True, False], ids=["zip", "legacy"])
def test_a_global_outside_the_allow_list_is_refused_and_never_called(tmp_path, zip_format):
    marker = tmp_path / "pwned"
    path = tmp_path / "evil.pt"
    torch.save({"model": {"w": torch.zeros(2)}, "payload": _Exploit(marker)}, path,
               _use_new_zipfile_serialization=zip_format)
    with pytest.raises(UnsafeCheckpointError, match=r"'(posix|os|nt)\.system'") as err:
        load_checkpoint(path)
    assert str(path) in str(err.value)
    assert not marker.exists()
    # the same through the checkpoint reader: a CheckpointError naming the file and the global
    with pytest.raises(CheckpointError, match=r"evil\.pt.*system"):
        read_weights(path, "evil", str(path))
    assert not marker.exists()


def test_plain_pickle_with_builtins_eval_is_refused(tmp_path):
    class Eval:
        def __reduce__(self):
            return (eval, ("__import__('os').getcwd()",))

    path = tmp_path / "model.bin"
    path.write_bytes(pickle.dumps(Eval(), protocol=2))
    with pytest.raises(UnsafeCheckpointError, match=r"builtins\.eval"):
        load_checkpoint(path)


def test_fair_esm_checkpoint_reads_as_torch_has_it(tiny_model, fair_esm_pt):
    weights = read_weights(fair_esm_pt, "tiny", str(fair_esm_pt),
                           regression=fair_esm_pt.with_name(fair_esm_pt.stem + "-contact-regression.pt"))
    cfg = weights.config
    assert (cfg.num_layers, cfg.embed_dim, cfg.attention_heads, cfg.token_dropout) == (2, 32, 4, True)
    state = {k: v for k, v in tiny_model.state_dict().items() if not k.endswith("inv_freq")}
    assert set(weights.arrays) == set(state)
    for key, tensor in state.items():
        np.testing.assert_array_equal(weights.arrays[key], tensor.numpy(), err_msg=key)


def test_architecture_comes_from_the_weights_not_the_cfg(tiny_model, tmp_path):
    """A cfg that lies about the layers is refused; without a cfg, heads come from the rotary buffer."""
    state = {f"encoder.sentence_encoder.{k}": v for k, v in tiny_model.state_dict().items()}
    import argparse

    lying = tmp_path / "lying.pt"
    torch.save({"cfg": {"model": argparse.Namespace(encoder_layers=6, encoder_embed_dim=32,
                                                    encoder_attention_heads=4)}, "model": state}, lying)
    with pytest.raises(CheckpointError, match="num_layers 6, the weights have 2"):
        read_weights(lying, "lying", str(lying))
    bare = tmp_path / "bare.pt"
    torch.save({"model": state}, bare)
    assert read_weights(bare, "bare", str(bare)).config.attention_heads == 4


@pytest.mark.parametrize("layout", ["safetensors", "bin"])
def test_huggingface_folder_reads_as_the_exporter_reads_it(layout, hf_safetensors_dir, hf_bin_dir):
    from exporter.loaders import load

    folder = hf_safetensors_dir if layout == "safetensors" else hf_bin_dir
    ours = read_weights(folder, "hf", str(folder))
    theirs = load(str(folder)).weights  # torch / safetensors package
    assert ours.config == theirs.config
    assert set(ours.arrays) == set(theirs.arrays)
    for key, value in theirs.arrays.items():
        np.testing.assert_array_equal(ours.arrays[key], value, err_msg=key)


def test_safetensors_reader_equals_the_safetensors_package(hf_safetensors_dir):
    from safetensors.numpy import load_file

    path = hf_safetensors_dir / "model.safetensors"
    ours, theirs = read_safetensors(path), load_file(str(path))
    assert set(ours) == set(theirs)
    for key in theirs:
        np.testing.assert_array_equal(ours[key], theirs[key], err_msg=key)


def test_truncated_safetensors_is_refused_naming_the_tensor(hf_safetensors_dir, tmp_path):
    data = (hf_safetensors_dir / "model.safetensors").read_bytes()
    cut = tmp_path / "model.safetensors"
    cut.write_bytes(data[:-100])
    with pytest.raises(ValueError, match=r"model\.safetensors: tensor '.*' offsets"):
        read_safetensors(cut)


def test_half_precision_checkpoint_becomes_float32(tiny_model, tmp_path):
    half = type(tiny_model)(num_layers=2, embed_dim=32, attention_heads=4, alphabet=_alphabet()).eval()
    half.load_state_dict(tiny_model.state_dict())
    path = save_fair_esm(half.half(), tmp_path, name="half")
    weights = read_weights(path, "half", str(path))
    key = "layers.0.fc1.weight"
    assert weights.arrays[key].dtype == np.float32
    np.testing.assert_array_equal(weights.arrays[key], tiny_model.state_dict()[key].half().float().numpy())


def _alphabet():
    import esm

    return esm.data.Alphabet.from_architecture("ESM-1b")
