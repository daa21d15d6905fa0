"""The tiny EsmForProteinFolding builds offline and folds in torch; its weights are all non-trivial."""
from __future__ import annotations

import time

import torch

from exporter.esmfold.model import esmfold_config, tiny_esmfold


def test_tiny_config_has_the_requested_sizes() -> None:
    cfg = esmfold_config()
    trunk = cfg.esmfold_config.trunk
    assert (cfg.num_hidden_layers, cfg.hidden_size) == (2, 32)
    assert (trunk.num_blocks, trunk.sequence_state_dim, trunk.pairwise_state_dim) == (2, 32, 16)
    assert trunk.structure_module.num_blocks == 2
    assert cfg.esmfold_config.fp16_esm is False


def test_tiny_model_folds_in_torch_quickly(tiny_model) -> None:
    start = time.perf_counter()
    with torch.no_grad():
        out = tiny_model.infer("MKTAYIAKQRQISFVKSHFSRQ")
    assert time.perf_counter() - start < 10  # about 0.1 s alone; generous for a shared CPU
    assert out.positions.shape == (2, 1, 22, 14, 3)  # (structure blocks, B, L, atom14, xyz)
    assert torch.isfinite(out.positions).all()
    assert 0 < float(out.ptm) < 1


def test_no_weight_is_left_at_a_constant_init(tiny_model) -> None:
    flat = [name for name, p in tiny_model.named_parameters() if p.numel() > 1 and float(p.detach().std()) < 1e-3]
    assert flat == []


def test_seeds_give_different_models() -> None:
    a, b = tiny_esmfold(seed=1), tiny_esmfold(seed=2)
    assert not torch.equal(a.trunk.blocks[0].tri_mul_out.linear_z.weight, b.trunk.blocks[0].tri_mul_out.linear_z.weight)


def test_load_esmfold_round_trips_a_saved_model(tiny_model, tmp_path) -> None:
    from exporter.esmfold.model import load_esmfold

    tiny_model.save_pretrained(tmp_path / "esmfold")
    loaded = load_esmfold(tmp_path / "esmfold")
    with torch.no_grad():
        a, b = tiny_model.infer("MKTAYIAK"), loaded.infer("MKTAYIAK")
    torch.testing.assert_close(a.positions, b.positions)


def test_load_esmfold_names_a_directory_without_config(tmp_path) -> None:
    import pytest

    from exporter.esmfold.model import load_esmfold
    from packbuild.weights import CheckpointError

    with pytest.raises(CheckpointError, match=str(tmp_path)):
        load_esmfold(tmp_path)
