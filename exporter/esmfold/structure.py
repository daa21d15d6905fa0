"""The ESMFold structure module (8 IPA blocks in the real model), export-friendly, in two forms.

`StructurePass` wraps `EsmFoldStructureModule` as is, with the trunk's projections in front
(`trunk2sm_s`, `trunk2sm_z`), and keeps only the last block's outputs (all that inference,
recycling and the heads use). Traced, it unrolls the 8 shared-weight blocks into ~17k ONNX
nodes that onnxruntime takes 30+ s to load (bench/fold_load.py measures it).

The loop form splits the same math into three traced pieces that structure_loop.py stitches
into one graph with an ONNX Loop over the blocks:

    StructureStart  (s_s, s_z) -> s, z, s_initial, rigid7 (identity frames)     once
    StructureBlock  (s, rigid7, z, mask) -> s, rigid7                           num_blocks times
    StructureEnd    (s, rigid7, s_initial, aatype) -> the five outputs          once

The per-block angle ResNet, torsion frames and atom14 positions only feed that block's outputs,
of which the reference keeps the last: here they are computed once, after the loop. The frames
are carried between blocks as the 7-vector (unit quaternion, translation) the reference composes
its updates on (`Rigid.compose_q_update_vec`), so nothing is renormalised along the way.
"""
from __future__ import annotations

import torch
from torch import nn
from transformers.models.esm.openfold_utils.rigid_utils import Rigid, Rotation


class StructurePass(nn.Module):
    """(s_s, s_z, aatype, mask) -> positions (B, L, 14, 3), frames (B, L, 7), angles, states."""

    def __init__(self, trunk: nn.Module) -> None:
        super().__init__()
        self.trunk = trunk

    def forward(self, s_s, s_z, aatype, mask):
        t = self.trunk
        out = t.structure_module({"single": t.trunk2sm_s(s_s), "pair": t.trunk2sm_z(s_z)}, aatype, mask)
        # (blocks, B, L, ...) -> last block only
        return (out["positions"][-1], out["frames"][-1], out["angles"][-1],
                out["unnormalized_angles"][-1], out["states"][-1])


class StructureStart(nn.Module):
    """(s_s, s_z) -> s (after linear_in), z, s_initial, rigid7: what precedes the first block."""

    def __init__(self, trunk: nn.Module) -> None:
        super().__init__()
        self.trunk = trunk

    def forward(self, s_s, s_z):
        t, sm = self.trunk, self.trunk.structure_module
        s_initial = sm.layer_norm_s(t.trunk2sm_s(s_s))
        z = sm.layer_norm_z(t.trunk2sm_z(s_z))
        zero = torch.zeros_like(s_initial[..., :1])
        rigid7 = torch.cat([zero + 1, zero, zero, zero, zero, zero, zero], dim=-1)  # quaternion 1, translation 0
        return sm.linear_in(s_initial), z, s_initial, rigid7


class StructureBlock(nn.Module):
    """(s, rigid7, z, mask) -> (s, rigid7): one IPA block and its backbone update (the loop body)."""

    def __init__(self, trunk: nn.Module) -> None:
        super().__init__()
        self.sm = trunk.structure_module

    def forward(self, s, rigid7, z, mask):
        sm = self.sm
        rigids = Rigid.from_tensor_7(rigid7, normalize_quats=False)
        s = s + sm.ipa(s, z, rigids, mask)  # ipa_dropout is an identity at inference
        s = sm.transition(sm.layer_norm_ipa(s))
        return s, rigids.compose_q_update_vec(sm.bb_update(s)).to_tensor_7()


class StructureEnd(nn.Module):
    """(s, rigid7, s_initial, aatype) -> positions, frames, angles, unnormalized_angles, states of the last block."""

    def __init__(self, trunk: nn.Module) -> None:
        super().__init__()
        self.sm = trunk.structure_module

    def forward(self, s, rigid7, s_initial, aatype):
        sm, scale = self.sm, self.sm.config.trans_scale_factor
        rigids = Rigid.from_tensor_7(rigid7, normalize_quats=False)
        backb_to_global = Rigid(Rotation(rot_mats=rigids.get_rots().get_rot_mats(), quats=None),
                                rigids.get_trans()).scale_translation(scale)
        unnormalized_angles, angles = sm.angle_resnet(s, s_initial)
        positions = atom14_positions(sm, backb_to_global, angles, aatype)
        return positions, rigids.scale_translation(scale).to_tensor_7(), angles, unnormalized_angles, s


def _homogeneous(rot: torch.Tensor, trans: torch.Tensor) -> torch.Tensor:
    """(..., 3, 3) rotations and (..., 3) translations -> (..., 4, 4) homogeneous transforms."""
    top = torch.cat([rot, trans[..., None]], dim=-1)
    bottom = torch.zeros_like(top[..., :1, :]) + torch.tensor([0.0, 0.0, 0.0, 1.0], dtype=top.dtype)
    return torch.cat([top, bottom], dim=-2)


def atom14_positions(sm: nn.Module, backb_to_global: Rigid, angles: torch.Tensor, aatype: torch.Tensor):
    """`frames_and_literature_positions_to_atom14_pos(torsion_angles_to_frames(...))` with 4x4 MatMuls.

    Same transforms as openfold's feats.py (default frame of each of the 8 rigid groups, rotated
    about x by its torsion (sin, cos); chi2..chi4 chained onto chi1; all onto the backbone; each
    atom placed by its group's frame), but composed as homogeneous matrices: openfold writes each
    3x3 product entry by entry, which traces to ~1.2k small nodes that onnxruntime needs ~2 s to
    load (bench/fold_load.py). Equal up to float rounding.
    """
    sm._init_residue_constants(angles.dtype, angles.device)
    dtype = angles.dtype
    sin, cos = angles[..., 0], angles[..., 1]                    # (B, L, 7): torsions of groups 1..7
    zero = torch.zeros_like(sin[..., :1])
    sin, cos = torch.cat([zero, sin], dim=-1), torch.cat([zero + 1, cos], dim=-1)  # group 0: identity
    fixed = torch.tensor([[1, 0, 0, 0], [0, 0, 0, 0], [0, 0, 0, 0], [0, 0, 0, 1]], dtype=dtype)
    on_cos = torch.tensor([[0, 0, 0, 0], [0, 1, 0, 0], [0, 0, 1, 0], [0, 0, 0, 0]], dtype=dtype)
    on_sin = torch.tensor([[0, 0, 0, 0], [0, 0, -1, 0], [0, 1, 0, 0], [0, 0, 0, 0]], dtype=dtype)
    torsion = fixed + cos[..., None, None] * on_cos + sin[..., None, None] * on_sin   # (B, L, 8, 4, 4)
    frames = sm.default_frames[aatype] @ torsion                 # each group in its parent's frame
    chi2 = frames[..., 4, :, :] @ frames[..., 5, :, :]
    chi3 = chi2 @ frames[..., 6, :, :]
    chi4 = chi3 @ frames[..., 7, :, :]
    to_bb = torch.cat([frames[..., :5, :, :], chi2[..., None, :, :], chi3[..., None, :, :], chi4[..., None, :, :]],
                      dim=-3)
    bb = _homogeneous(backb_to_global.get_rots().get_rot_mats(), backb_to_global.get_trans())
    to_global = bb[..., None, :, :] @ to_bb                      # (B, L, 8, 4, 4)
    groups = nn.functional.one_hot(sm.group_idx[aatype], num_classes=8).to(dtype)   # (B, L, 14, 8)
    per_atom = (groups @ to_global.flatten(-2)).unflatten(-1, (4, 4))              # (B, L, 14, 4, 4)
    lit = sm.lit_positions[aatype]                               # (B, L, 14, 3)
    xyz = (per_atom[..., :3, :3] @ lit[..., None])[..., 0] + per_atom[..., :3, 3]
    return xyz * sm.atom_mask[aatype][..., None]
