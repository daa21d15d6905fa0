"""fair-esm's ESMFold checkpoint layout (folding weights + a separate ESM-2 .pt) loads into the same model."""
from __future__ import annotations

import numpy as np
import pytest
import torch

from exporter.esmfold.fair_esm import STRUCTURE_FIELDS
from exporter.esmfold.lm_graph import lm_weights
from exporter.esmfold.loaders import is_folding_checkpoint, load_folding
from exporter.esmfold.model import TINY_STRUCTURE, TINY_TRUNK, esmfold_config, tiny_esmfold
from packbuild.weights import CheckpointError


@pytest.fixture(scope="module")
def fair_checkpoint(tmp_path_factory):
    """A tiny model (FFN 4 x E, as fair-esm's ESM2 requires) saved the way fair-esm ships ESMFold v1."""
    import esm
    from esm.model.esm2 import ESM2

    model = tiny_esmfold(seed=3, config=esmfold_config(esm={"intermediate_size": 128}))
    tmp = tmp_path_factory.mktemp("fair_esm")
    esm2 = ESM2(num_layers=2, embed_dim=32, attention_heads=4, alphabet=esm.data.Alphabet.from_architecture("ESM-1b"),
                token_dropout=True)
    arrays = lm_weights(model)[0].arrays
    esm2.load_state_dict({k: torch.from_numpy(v) for k, v in arrays.items()}, strict=False)
    cfg = {"encoder_layers": 2, "encoder_embed_dim": 32, "encoder_attention_heads": 4, "token_dropout": True}
    torch.save({"cfg": {"model": cfg}, "model": esm2.state_dict()}, tmp / "esm2_t6_8M_UR50D.pt")
    inverse = {v: k for k, v in STRUCTURE_FIELDS.items()}
    trunk = {**{k: v for k, v in TINY_TRUNK.items()},
             "structure_module": {inverse[k]: v for k, v in TINY_STRUCTURE.items()}}
    fold_cfg = {"esm_type": "esm2_8M", "lddt_head_hid_dim": 16, "trunk": trunk}
    state = {k: v for k, v in model.state_dict().items() if not k.startswith("esm.")}  # no LM, as fair-esm's file
    torch.save({"cfg": {"model": fold_cfg}, "model": state}, tmp / "esmfold_tiny.pt")
    return model, tmp / "esmfold_tiny.pt"


def test_fair_esm_checkpoint_folds_like_the_original(fair_checkpoint) -> None:
    model, path = fair_checkpoint
    assert is_folding_checkpoint(str(path))
    loaded = load_folding(str(path))  # finds esm2_t6_8M_UR50D.pt beside it (esm_type esm2_8M)
    with torch.no_grad():
        a, b = model.infer("MKTAYIAKQRQW"), loaded.infer("MKTAYIAKQRQW")
    torch.testing.assert_close(b.positions, a.positions)
    np.testing.assert_allclose(float(b.ptm), float(a.ptm), atol=1e-6)


def test_missing_folding_weights_are_named(fair_checkpoint, tmp_path) -> None:
    _, path = fair_checkpoint
    data = torch.load(path, weights_only=False)
    data["model"] = {k: v for k, v in data["model"].items() if not k.startswith("trunk.blocks.1.")}
    torch.save(data, tmp_path / "esmfold_broken.pt")
    (tmp_path / "esm2_t6_8M_UR50D.pt").symlink_to(path.with_name("esm2_t6_8M_UR50D.pt"))
    with pytest.raises(CheckpointError, match="trunk.blocks.1"):
        load_folding(str(tmp_path / "esmfold_broken.pt"))


def test_esm2_checkpoints_are_not_taken_for_folding(tmp_path) -> None:
    (tmp_path / "esm2_t6_8M_UR50D.pt").write_bytes(b"x")
    assert not is_folding_checkpoint(str(tmp_path / "esm2_t6_8M_UR50D.pt"))
    assert not is_folding_checkpoint(str(tmp_path))
    assert is_folding_checkpoint("esmfold_v1")
