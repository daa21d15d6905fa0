"""Integration: scores, embeddings and contacts on the exporter's tiny ESM-2 pack vs torch.

The torch side is the fair-esm model itself with `torch.log_softmax` over the full vocabulary,
so these tests check the app's conventions (BOS offset, masking, window slicing, wt column)
as well as the exported graph.
"""
import numpy as np
import pytest

from app.core.embedding import embed_sequence
from app.core.fasta import STANDARD_AA
from app.core.pack import load_pack
from app.core.runtime import Esm2Runtime, InferenceError
from app.core.scoring import score_matrix
from app.core.windows import assign_positions, plan_windows

torch = pytest.importorskip("torch")

SEQ = "MKTAYIAKQRQISFVKSHFSRQLEERLGLIEVQ"


@pytest.fixture(scope="module")
def tiny_runtime(tiny_pack_dir):
    return Esm2Runtime(load_pack(tiny_pack_dir), threads=1)


def _torch_logp(model, alphabet, seq, mask_at=None):
    """(L, V) full-vocabulary log-probs of the residue positions of `seq`."""
    _, _, tokens = alphabet.get_batch_converter()([("s", seq)])
    if mask_at is not None:
        tokens[0, mask_at + 1] = alphabet.mask_idx
    with torch.no_grad():
        logits = model(tokens)["logits"][0, 1:len(seq) + 1]
    return torch.log_softmax(logits.double(), dim=-1).numpy()


def _torch_rows(model, alphabet, seq, positions, masked):
    """{position: (20,) log p(aa) - log p(wt)} computed in torch."""
    aa = [alphabet.get_idx(a) for a in STANDARD_AA]
    wt_lp = None if masked else _torch_logp(model, alphabet, seq)
    rows = {}
    for i in positions:
        lp = _torch_logp(model, alphabet, seq, mask_at=i)[i] if masked else wt_lp[i]
        rows[i] = lp[aa] - lp[alphabet.get_idx(seq[i])]
    return rows


@pytest.mark.parametrize("method", ["wt-marginal", "masked-marginal"])
def test_scores_match_torch(tiny_runtime, tiny_torch, method):
    model, alphabet = tiny_torch
    m = score_matrix(tiny_runtime, SEQ, method, batch_size=8)
    exp = _torch_rows(model, alphabet, SEQ, range(len(SEQ)), method == "masked-marginal")
    np.testing.assert_allclose(m.scores, np.stack([exp[i] for i in range(len(SEQ))]), atol=1e-4)
    assert np.abs(m.scores).max() > 0.5  # the random model is far from uniform


@pytest.mark.parametrize("method", ["wt-marginal", "masked-marginal"])
def test_long_sequence_windows_match_torch(tiny_runtime, tiny_torch, method):
    model, alphabet = tiny_torch
    seq, size = (SEQ * 2)[:60], 24
    m = score_matrix(tiny_runtime, seq, method, max_residues=size, batch_size=16)
    windows = plan_windows(len(seq), size)
    owner = assign_positions(len(seq), windows)
    assert len(windows) == 4
    for k, w in enumerate(windows):
        mine = [i - w.start for i in range(len(seq)) if owner[i] == k]
        exp = _torch_rows(model, alphabet, seq[w.start:w.end], mine, method == "masked-marginal")
        for j in mine:
            np.testing.assert_allclose(m.scores[w.start + j], exp[j], atol=1e-4,
                                       err_msg=f"position {w.start + j} in window {k}")


def test_embeddings_and_contacts_match_torch(tiny_runtime, tiny_torch):
    model, alphabet = tiny_torch
    _, _, tokens = alphabet.get_batch_converter()([("s", SEQ)])
    with torch.no_grad():
        out = model(tokens, repr_layers=[model.num_layers], return_contacts=True)
    rep = out["representations"][model.num_layers][0, 1:-1].numpy()
    emb = embed_sequence(tiny_runtime, SEQ, contacts=True)
    np.testing.assert_allclose(emb.per_residue, rep, atol=1e-4)
    np.testing.assert_allclose(emb.mean, rep.mean(0), atol=1e-4)
    np.testing.assert_allclose(emb.contacts, out["contacts"][0].numpy(), atol=1e-4)
    assert tiny_runtime._contacts_session is not None  # opened lazily for contacts


def test_pack_without_contacts_model(tmp_path):
    pytest.importorskip("torch")
    from exporter import testing

    rt = Esm2Runtime(load_pack(testing.make_tiny_pack(tmp_path / "nc", contacts=False)), 1)
    assert rt.pack.contacts_model_path is None
    assert embed_sequence(rt, SEQ).per_residue.shape == (len(SEQ), 32)
    with pytest.raises(InferenceError, match="--contacts"):
        embed_sequence(rt, SEQ, contacts=True)


def test_int8_pack_scores_track_fp32(tiny_runtime, tmp_path):
    pytest.importorskip("torch")
    from exporter import testing

    from scipy.stats import spearmanr
    pack = load_pack(testing.make_tiny_pack(tmp_path / "int8", "int8", contacts=False))
    assert pack.scheme == "int8"
    q = score_matrix(Esm2Runtime(pack, 1), SEQ).scores
    ref = score_matrix(tiny_runtime, SEQ).scores
    assert 1e-6 < np.abs(q - ref).max()  # really quantized
    assert spearmanr(q.ravel(), ref.ravel())[0] > 0.95


def test_cli_embed_contacts_on_two_file_pack(tiny_pack_dir, tmp_path):
    from app.__main__ import main
    fa = tmp_path / "in.fasta"
    fa.write_text(f">a\n{SEQ}\n")
    assert main(["embed", "--model", str(tiny_pack_dir), "--fasta", str(fa), "--out",
                 str(tmp_path / "o"), "--contacts", "--threads", "1"]) == 0
    assert np.load(tmp_path / "o" / "a.contacts.npy").shape == (len(SEQ), len(SEQ))
