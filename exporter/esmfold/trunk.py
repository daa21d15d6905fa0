"""One pass of the ESMFold folding trunk (recycling embeddings + all folding blocks), export-friendly.

Same math as `EsmFoldingTrunk.forward`'s loop body in transformers' modeling_esmfold.py, with the
recycling inputs made explicit and the two spots that trace badly rewritten: `mask == False`
(aten::eq(Tensor, bool) has no TorchScript alias info) and the boolean in-place index of the
relative-position embedding. Triangle attention is written out (same math as EsmFoldTriangleAttention)
so that its weightless core can be row-chunked as the reference does with `chunk_size` and fused
(chunking.py); triangle multiplication is written out with cheaper permutes.
"""
from __future__ import annotations

import torch
from torch import nn

from .chunking import chunked_attention_core, unchunked_rows
from .triangle_product import triangle_product

RECYCLE_MIN_BIN, RECYCLE_MAX_BIN = 3.375, 21.375  # AlphaFold's recycling distogram, in Angstrom


def default_unchunked_rows(trunk: nn.Module) -> int:
    """chunking.unchunked_rows for this trunk's pair width and triangle-attention heads."""
    att = trunk.blocks[0].tri_att_start
    return unchunked_rows(att.c_in, att.mha.no_heads)


def recycle_bins(backbone: torch.Tensor, num_bins: int) -> torch.Tensor:
    """(B, L, 3, 3) N/CA/C coordinates -> (B, L, L) int64 CB-CB distance bins (EsmFoldingTrunk.distogram)."""
    boundaries = torch.linspace(RECYCLE_MIN_BIN, RECYCLE_MAX_BIN, num_bins - 1) ** 2
    n, ca, c = backbone[..., 0, :], backbone[..., 1, :], backbone[..., 2, :]
    b, c = ca - n, c - ca
    a = torch.cross(b, c, dim=-1)
    cb = -0.58273431 * a + 0.56802827 * b - 0.54067466 * c + ca  # ideal CB from the backbone
    d2 = (cb[..., None, :, :] - cb[..., :, None, :]).pow(2).sum(dim=-1, keepdim=True)  # (B, L, L, 1)
    return torch.sum(d2 > boundaries, dim=-1)


def relative_position(module: nn.Module, residx: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """EsmFoldRelativePosition: clamp(j - i) to +-bins, shift by bins + 1, 0 for masked pairs; (B, L, L, c_z)."""
    diff = residx[:, None, :] - residx[:, :, None]
    diff = diff.clamp(-module.bins, module.bins) + module.bins + 1
    pair = (mask[:, None, :] * mask[:, :, None]) > 0.5
    return module.embedding(torch.where(pair, diff, torch.zeros_like(diff)))


def seq_attention(mod: nn.Module, x: torch.Tensor, mask: torch.Tensor, bias: torch.Tensor) -> torch.Tensor:
    """EsmFoldSelfAttention (gated) with a pair bias (B, L, L, H); mask (B, L) float, 1 = residue."""
    t = mod.proj(x).view(*x.shape[:2], mod.num_heads, -1).permute(0, 2, 1, 3)  # (B, H, L, 3*w)
    q, k, v = t.chunk(3, dim=-1)
    a = torch.einsum("...qc,...kc->...qk", mod.rescale_factor * q, k) + bias.permute(0, 3, 1, 2)
    a = a.masked_fill(mask[:, None, None] < 0.5, float("-inf")).softmax(dim=-1)
    y = torch.einsum("...hqk,...hkc->...qhc", a, v)
    y = y.reshape(*y.shape[:2], -1)
    if mod.gated:
        y = mod.g_proj(x).sigmoid() * y
    return mod.o_proj(y)


def triangle_attention(mod: nn.Module, z: torch.Tensor, mask: torch.Tensor, chunk: int | None,
                       unchunked: int = 0) -> torch.Tensor:
    """EsmFoldTriangleAttention (starting or ending node) on z (B, I, J, c_z), mask (B, I, J).

    q, k, v go to the core in the Linears' layout (B, I, J, H*c) and its output comes back in it,
    so that the ONNX graph has no split-heads Transposes (chunking.py fuses the core).
    """
    if not mod.starting:
        z, mask = z.transpose(1, 2), mask.transpose(1, 2)
    x = mod.layer_norm(z)
    mha = mod.mha
    q, k, v = mha.linear_q(x), mha.linear_k(x), mha.linear_v(x)
    tri_bias = mod.linear(x).permute(0, 3, 1, 2)        # (B, H, J, K)
    o = chunked_attention_core(q, k, v, mask, tri_bias, mha.no_heads, mod.inf, chunk, unchunked)
    if mha.linear_g is not None:
        o = o * mha.sigmoid(mha.linear_g(x))
    o = mha.linear_o(o)
    return o.transpose(1, 2) if not mod.starting else o


def triangle_multiplication(mod: nn.Module, z: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """EsmFoldTriangleMultiplicativeUpdate.forward (outgoing or incoming edges) on z (B, I, J, c_z), mask (B, I, J).

    Same math as the reference; its `_combine_projections` is the triangle_product placeholder
    (triangle_product.py: no three-axis Transpose in the ONNX graph).
    """
    mask = mask.unsqueeze(-1)
    x = mod.layer_norm_in(z)
    a = mask * mod.sigmoid(mod.linear_a_g(x)) * mod.linear_a_p(x)
    b = mask * mod.sigmoid(mod.linear_b_g(x)) * mod.linear_b_p(x)
    p = mod.linear_z(mod.layer_norm_out(triangle_product(a, b, mod._outgoing)))
    return p * mod.sigmoid(mod.linear_g(x))


def block_forward(block: nn.Module, s: torch.Tensor, z: torch.Tensor, mask: torch.Tensor,
                  chunk: int | None = None, unchunked: int = 0):
    """EsmFoldTriangularSelfAttentionBlock.forward at inference (dropouts are identities)."""
    bias = block.pair_to_sequence(z)
    s = s + seq_attention(block.seq_attention, block.layernorm_1(s), mask, bias)
    s = block.mlp_seq(s)
    z = z + block.sequence_to_pair(s)
    tri_mask = mask.unsqueeze(2) * mask.unsqueeze(1)  # (B, L, L)
    z = z + triangle_multiplication(block.tri_mul_out, z, tri_mask)
    z = z + triangle_multiplication(block.tri_mul_in, z, tri_mask)
    z = z + triangle_attention(block.tri_att_start, z, tri_mask, chunk, unchunked)
    z = z + triangle_attention(block.tri_att_end, z, tri_mask, chunk, unchunked)
    return s, block.mlp_pair(z)


class TrunkPass(nn.Module):
    """(s_s_0, recycle_s, recycle_z, recycle_backbone, residx, mask) -> (s_s, s_z): one recycling pass.

    `chunk`: rows per triangle-attention chunk, None for unchunked (the reference's default);
    `unchunked`: up to this many rows the chunked core runs unchunked (None: chunking.unchunked_rows).
    `reference`: run transformers' own block modules instead of block_forward (the torch fp32
    reference that benches time; same math, but block_forward's export-shaped ops are not what a
    torch user runs and measured 5-10% slower in eager torch). Never set for export.
    """

    def __init__(self, trunk: nn.Module, chunk: int | None = None, unchunked: int | None = None,
                 reference: bool = False) -> None:
        super().__init__()
        self.trunk, self.chunk, self.reference = trunk, chunk, reference
        self.unchunked = default_unchunked_rows(trunk) if unchunked is None else unchunked

    def forward(self, s_s_0, recycle_s, recycle_z, recycle_backbone, residx, mask):
        t = self.trunk
        bins = recycle_bins(recycle_backbone, t.recycle_bins)
        s = s_s_0 + t.recycle_s_norm(recycle_s)
        # s_z_0 is all zeros in ESMFold (no ESM attention maps), so z starts from the recycled pair
        z = t.recycle_z_norm(recycle_z) + t.recycle_disto(bins)
        z = z + relative_position(t.pairwise_positional_embedding, residx, mask)
        for block in t.blocks:
            if self.reference:
                s, z = block(s, z, mask=mask.long(), chunk_size=self.chunk)
            else:
                s, z = block_forward(block, s, z, mask, self.chunk, self.unchunked)
        return s, z
