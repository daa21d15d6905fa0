"""PDB reading, precision at L/5, and the contact-regression fit."""
from __future__ import annotations

import numpy as np
import torch

from exporter.fit_contacts import evaluate, fit
from exporter.structures import precision_at_l, read_chain

PDB = """\
ATOM      1  N   MET A   1      11.104   6.134  -6.504  1.00  0.00           N
ATOM      2  CA  MET A   1      11.639   6.071  -5.147  1.00  0.00           C
ATOM      3  CB  MET A   1      12.000   7.000  -4.000  1.00  0.00           C
ATOM      4  CA  GLY A   2      15.000   6.000  -5.000  1.00  0.00           C
ATOM      5  CA  ALA B   1      30.000   6.000  -5.000  1.00  0.00           C
HETATM    6  CA  MSE A   3      20.000   6.000  -5.000  1.00  0.00           C
HETATM    7  O   HOH A 101       0.000   0.000   0.000  1.00  0.00           O
"""


def test_read_chain_takes_the_first_chain_cb_or_ca_and_maps_mse(tmp_path):
    path = tmp_path / "x.pdb"
    path.write_text(PDB)
    chain = read_chain(path)
    assert chain.sequence == "MGM"
    np.testing.assert_allclose(chain.cb[0], [12.0, 7.0, -4.0])  # CB of MET
    np.testing.assert_allclose(chain.cb[1], [15.0, 6.0, -5.0])  # CA of GLY
    contacts = chain.contacts(8.0)
    assert contacts[0, 1] and not contacts[0, 2]


def test_precision_counts_only_long_range_top_pairs():
    n = 40
    truth = np.zeros((n, n), bool)
    pred = np.zeros((n, n))
    truth[0, 30] = truth[1, 35] = True
    pred[0, 30], pred[1, 35], pred[2, 39] = 0.9, 0.8, 0.7   # top 8 (= L/5) long-range pairs
    pred[0, 5] = 1.0                                        # short range: ignored
    assert precision_at_l(pred, truth) == 2 / 8


def test_fit_recovers_a_feature_that_predicts_contacts():
    rng = np.random.default_rng(0)
    data = []
    for _ in range(3):
        n = 60
        truth = rng.random((n, n)) < 0.05
        truth = truth | truth.T
        feats = rng.normal(0, 1e-3, (n, n, 8))            # APC-scale values, as real features
        feats[..., 3] += truth * 2e-3                       # one informative head
        data.append((torch.from_numpy(feats).float(), truth))
    w, b = fit(data)
    assert int(torch.argmax(w.abs())) == 3
    assert evaluate(data, w, b) > 0.8
