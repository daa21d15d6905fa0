"""Weights outside the graph: a pack's weights.npz side file (DESIGN.md section 3).

    model.onnx / contacts.onnx  (Linear weights: placeholders, external data in weights.npz)
    weights.npz                 {"layers.0.fc1.weight_t": float32 (32, 128), ...}  listed in `files`
    manifest onnx.external_weights = {"file": "weights.npz", "initializers": [...]}
"""
import hashlib
import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from app.core.pack import PackError, load_pack
from app.core.runtime import Esm2Runtime
from app.core.scoring import score_matrix

side_repack = pytest.importorskip("exporter.side_repack")
from packbuild.pack import write_manifest  # noqa: E402

ROOT = Path(__file__).resolve().parents[2]
SEQ = "MKTAYIAKQRQISFVKSHFSRQLEERLGLIEVQ"
TOKENS = np.array([[0, 5, 6, 7, 8, 9, 2]], dtype=np.int64)
FC1 = "layers.0.fc1.weight_t"


@pytest.fixture(scope="module")
def side_pack_dir(tiny_pack_dir, tmp_path_factory) -> Path:
    return side_repack.repack_with_side_file(tiny_pack_dir, tmp_path_factory.mktemp("side") / "fp32")


@pytest.fixture
def side_pack(side_pack_dir, tmp_path) -> Path:
    """A copy a test may damage."""
    import shutil

    return Path(shutil.copytree(side_pack_dir, tmp_path / "pack"))


def manifest_of(pack: Path) -> dict:
    return json.loads((pack / "manifest.json").read_text())


def rewrite(pack: Path, arrays: dict, names=None) -> None:
    """Replace weights.npz with `arrays`, listing it (and `names`) in a manifest with right hashes."""
    with open(pack / "weights.npz", "wb") as fh:
        np.savez(fh, **arrays)
    manifest = manifest_of(pack)
    data = (pack / "weights.npz").read_bytes()
    manifest["files"]["weights.npz"] = {"sha256": hashlib.sha256(data).hexdigest(), "bytes": len(data)}
    if names is not None:
        manifest["onnx"]["external_weights"]["initializers"] = names
    write_manifest(pack, manifest)


def side_arrays(pack: Path) -> dict:
    with np.load(pack / "weights.npz", allow_pickle=False) as npz:
        return {k: npz[k] for k in npz.files}


def test_layout(side_pack_dir, tiny_pack_dir):
    manifest = manifest_of(side_pack_dir)
    spec = manifest["onnx"]["external_weights"]
    assert spec["file"] == "weights.npz" and "weights.npz" in manifest["files"]
    assert spec["initializers"] == sorted(side_arrays(side_pack_dir)) and FC1 in spec["initializers"]
    assert all(n.endswith(".weight_t") for n in spec["initializers"])
    for graph in ("model.onnx", "contacts.onnx"):
        assert (side_pack_dir / graph).stat().st_size < (tiny_pack_dir / graph).stat().st_size / 2


def test_side_pack_scores_identically(side_pack_dir, tiny_pack_dir):
    plain, side = Esm2Runtime(load_pack(tiny_pack_dir), 1), Esm2Runtime(load_pack(side_pack_dir), 1)
    for method in ("wt-marginal", "masked-marginal"):
        np.testing.assert_array_equal(score_matrix(side, SEQ, method).scores,
                                      score_matrix(plain, SEQ, method).scores)
    a, b = plain.run(TOKENS, ("logits", "contacts")), side.run(TOKENS, ("logits", "contacts"))
    np.testing.assert_array_equal(a["contacts"], b["contacts"])


def test_tampered_side_file_is_refused(side_pack):
    data = bytearray((side_pack / "weights.npz").read_bytes())
    data[len(data) // 2] ^= 0x01  # inside an array's float bytes: same size, other values
    (side_pack / "weights.npz").write_bytes(bytes(data))
    with pytest.raises(PackError, match=r"weights\.npz: sha256 mismatch"):
        load_pack(side_pack)


def test_missing_array_is_refused(side_pack):
    arrays = side_arrays(side_pack)
    del arrays[FC1]
    rewrite(side_pack, arrays, sorted(arrays))
    with pytest.raises(PackError, match=rf"weights\.npz: array '{FC1}'.*not in the side file"):
        Esm2Runtime(load_pack(side_pack), 1)


def test_listed_but_absent_array_is_refused(side_pack):
    arrays = side_arrays(side_pack)
    names = sorted(arrays)
    del arrays[FC1]
    rewrite(side_pack, arrays, names)
    with pytest.raises(PackError, match=rf"array '{FC1}' listed in .* is missing from the side file"):
        Esm2Runtime(load_pack(side_pack), 1)


def test_wrong_shape_is_refused(side_pack):
    arrays = side_arrays(side_pack)
    arrays[FC1] = np.ascontiguousarray(arrays[FC1].T)  # (128, 32) where the graph declares (32, 128)
    rewrite(side_pack, arrays)
    with pytest.raises(PackError, match=rf"array '{FC1}' is float32 \[128, 32\], but model.onnx declares "
                                        rf"float32 \[32, 128\]"):
        Esm2Runtime(load_pack(side_pack), 1)


def test_wrong_dtype_is_refused(side_pack):
    arrays = side_arrays(side_pack)
    arrays[FC1] = arrays[FC1].astype(np.float64)
    rewrite(side_pack, arrays)
    with pytest.raises(PackError, match=rf"array '{FC1}' is float64"):
        Esm2Runtime(load_pack(side_pack), 1)


def test_unlisted_extra_array_is_refused(side_pack):
    arrays = {**side_arrays(side_pack), "bogus": np.zeros(3, np.float32)}
    rewrite(side_pack, arrays)
    with pytest.raises(PackError, match=r"weights\.npz: array 'bogus' is not listed"):
        Esm2Runtime(load_pack(side_pack), 1)


def test_unused_array_is_refused(side_pack):
    arrays = {**side_arrays(side_pack), "bogus": np.zeros(3, np.float32)}
    rewrite(side_pack, arrays, sorted(arrays))
    with pytest.raises(PackError, match=r"weights\.npz: array 'bogus' is used by no graph"):
        Esm2Runtime(load_pack(side_pack), 1)


def test_array_for_an_in_graph_initializer_is_refused(side_pack):
    arrays = {**side_arrays(side_pack), "embed_tokens.weight": np.zeros((33, 32), np.float32)}
    rewrite(side_pack, arrays, sorted(arrays))
    with pytest.raises(PackError, match=r"initializer 'embed_tokens.weight' has an array in 'weights.npz' "
                                        r"but the graph stores it itself"):
        Esm2Runtime(load_pack(side_pack), 1)


def test_pickled_array_is_refused(side_pack):
    arrays = side_arrays(side_pack)
    arrays[FC1] = np.array([{"a": 1}], dtype=object)
    rewrite(side_pack, arrays)
    with pytest.raises(PackError, match=r"weights\.npz: not a readable \.npz of plain arrays"):
        Esm2Runtime(load_pack(side_pack), 1)


def test_side_file_not_in_files_is_refused(side_pack):
    manifest = manifest_of(side_pack)
    del manifest["files"]["weights.npz"]
    write_manifest(side_pack, manifest)
    with pytest.raises(PackError, match=r"side file 'weights.npz' .* is not listed in 'files'"):
        load_pack(side_pack)


@pytest.mark.parametrize("spec, key", [
    ("weights.npz", "onnx.external_weights"),
    ({"initializers": [FC1]}, "onnx.external_weights.file"),
    ({"file": "weights.npz", "initializers": FC1}, "onnx.external_weights.initializers"),
    ({"file": "weights.npz", "initializers": []}, "onnx.external_weights.initializers"),
    ({"file": "weights.npz", "initializers": [FC1, 3]}, r"onnx.external_weights.initializers\[1\]"),
    ({"file": "weights.npz", "initializers": [FC1, FC1]}, "onnx.external_weights.initializers"),
])
def test_bad_manifest_key_is_refused(side_pack, spec, key):
    manifest = manifest_of(side_pack)
    manifest["onnx"]["external_weights"] = spec
    write_manifest(side_pack, manifest)
    with pytest.raises(PackError, match=rf"{side_pack.name}.*manifest key '{key}'"):
        load_pack(side_pack)


def test_without_the_key_the_graph_reads_the_side_file_as_external_data(side_pack, side_pack_dir):
    """The placeholders carry offset and length into the npz: the same values, read by onnxruntime."""
    manifest = manifest_of(side_pack)
    del manifest["onnx"]["external_weights"]  # weights.npz stays listed (hashed) in `files`
    write_manifest(side_pack, manifest)
    runtime = Esm2Runtime(load_pack(side_pack), 1)
    assert runtime._side == {"model.onnx": {}, "contacts.onnx": {}}
    np.testing.assert_array_equal(runtime.run(TOKENS)["logits"],
                                  Esm2Runtime(load_pack(side_pack_dir), 1).run(TOKENS)["logits"])


_PROBE = r"""
import sys
import numpy as np
from app.core.pack import load_pack
from app.core.runtime import Esm2Runtime
rt = Esm2Runtime(load_pack(sys.argv[1]), 1)
rt.run(np.array([[0, 5, 6, 2]]), ("logits", "contacts"))
assert rt._side["model.onnx"], "no side weights loaded"
print(",".join(m for m in sorted(sys.modules) if m.split(".")[0] in ("torch", "quant", "onnx", "exporter", "esm")))
"""


def test_loading_a_side_pack_imports_no_torch_quant_or_onnx(side_pack_dir):
    proc = subprocess.run([sys.executable, "-c", _PROBE, str(side_pack_dir)], cwd=ROOT, capture_output=True,
                          text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert proc.stdout.strip() == ""
