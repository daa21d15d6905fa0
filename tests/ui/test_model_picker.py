"""Model picker: lists packs with scheme/size/accuracy, disables broken ones, remembers choices."""
import pytest
from PySide6.QtCore import Qt

from app.ui.model_picker import CURRENT_KEY, ModelPicker, accuracy_summary, benchmark_summary, human_size

ACC = {"reference": "torch fp32", "logits_sqnr_db": 31.24, "top1_agreement": 0.991,
       "variant_spearman_vs_fp32": 0.9951}


@pytest.fixture
def picker(qtbot, settings, packs_dir, make_pack):
    write_pack = make_pack
    write_pack(packs_dir / "a_int8", name="esm2_small", scheme="int8", accuracy=ACC)
    write_pack(packs_dir / "b_fp32", name="esm2_small", scheme="fp32", model_bytes=b"x" * 3000)
    broken = write_pack(packs_dir / "c_broken", name="broken")
    (broken / "model.onnx").write_bytes(b"trunc")  # size no longer matches the manifest
    p = ModelPicker(settings)
    qtbot.addWidget(p)
    p.reload()
    return p


def test_lists_packs_with_scheme_size_and_accuracy(picker):
    texts = [picker.combo.itemText(r) for r in range(picker.combo.count())]
    assert len(texts) == 3
    assert texts[0].startswith("esm2_small \u2014 int8,")
    assert "fidelity to fp32: 31 dB" in texts[0] and "no benchmark recorded" in texts[0]
    b = picker.packs()[1].path
    size = 3000 + (b / "manifest.json").stat().st_size  # pack size counts the manifest too
    assert f", {human_size(size)}," in texts[1] and "fidelity to fp32 not measured" in texts[1]


def test_broken_pack_is_disabled_with_reason_as_tooltip(picker):
    item = picker.combo.model().item(2)
    assert not item.isEnabled()
    assert "truncated" in item.toolTip() and "c_broken" in item.toolTip()
    assert picker.select_path(picker.packs()[2].path) is False


def test_selection_is_remembered(picker, settings, qtbot):
    with qtbot.waitSignal(picker.packChanged) as sig:
        assert picker.select_path(picker.packs()[1].path)
    assert sig.args[0].scheme == "fp32"
    assert settings.value(CURRENT_KEY) == str(picker.packs()[1].path)
    again = ModelPicker(settings)
    qtbot.addWidget(again)
    again.reload()
    assert again.current_pack().scheme == "fp32"


def test_add_folder_lists_selects_and_persists(picker, tmp_path, settings, qtbot, make_pack):
    extra = make_pack(tmp_path / "elsewhere" / "mine", name="my_pack", scheme="pwlq")
    info = picker.add_folder(extra)
    assert info.ok and picker.current_pack().name == "my_pack"
    again = ModelPicker(settings)
    qtbot.addWidget(again)
    again.reload()
    assert [i.name for i in again.packs()][-1] == "my_pack"


def test_add_broken_folder_returns_the_error(picker, tmp_path):
    info = picker.add_folder(tmp_path / "empty_dir_that_is_missing")
    assert not info.ok and "not found" in info.error
    assert len(picker.packs()) == 3


def test_no_packs_means_no_selection(qtbot, settings, packs_dir):
    p = ModelPicker(settings)
    qtbot.addWidget(p)
    p.reload()
    assert p.current_pack() is None and "No model pack" in p.combo.placeholderText()


def test_formatting_helpers():
    assert human_size(950) == "950 B" and human_size(9_100_000) == "9.1 MB"
    assert accuracy_summary({}) == "fidelity to fp32 not measured"
    assert accuracy_summary({"logits_sqnr_db": 39.3, "top1_agreement": 0.99}) == "fidelity to fp32: 39 dB"
    assert benchmark_summary({}) == "no benchmark recorded"
    assert benchmark_summary({"suite": "ProteinGym DMS substitutions", "mean_spearman": 0.1376,
                              "n_assays": 44}) == "ProteinGym Spearman 0.14 on 44 assays"


def test_picker_labels_quality_and_fidelity_apart(qtbot, settings, packs_dir, make_pack):
    import json

    from app.ui.model_picker import describe

    plain = make_pack(packs_dir / "a_plain", name="plain", scheme="int8")
    bench = make_pack(packs_dir / "b_bench", name="benched", scheme="pwlq8")
    manifest = json.loads((bench / "manifest.json").read_text())
    manifest["benchmark"] = {"suite": "ProteinGym DMS substitutions", "method": "wt-marginal",
                             "mean_spearman": 0.139, "n_assays": 44}
    manifest["license"] = "GPL-3.0"
    (bench / "manifest.json").write_text(json.dumps(manifest))
    p = ModelPicker(settings)
    qtbot.addWidget(p)
    p.reload()
    by_name = {i.name: i for i in p.packs()}
    text, tip = describe(by_name["benched"])
    assert "ProteinGym Spearman 0.14 on 44 assays" in text and "fidelity to fp32" in text
    assert "License: GPL-3.0" in tip and "not a quality measure" in tip
    text, tip = describe(by_name["plain"])
    assert "no benchmark recorded" in text and "was not measured" in tip


def test_folding_packs_are_left_to_the_structure_panel(qtbot, settings, packs_dir, make_pack):
    import json

    make_pack(packs_dir / "a_int8", name="esm2_small", scheme="int8")
    fold = make_pack(packs_dir / "f_fold", name="esmfold_tiny", scheme="fp32")
    manifest = json.loads((fold / "manifest.json").read_text())
    manifest["task"] = "folding"
    manifest["onnx"]["parts"] = {part: "model.onnx" for part in ("lm", "trunk", "structure", "heads")}
    (fold / "manifest.json").write_text(json.dumps(manifest))
    p = ModelPicker(settings)
    qtbot.addWidget(p)
    p.reload()
    assert [i.name for i in p.packs()] == ["esm2_small"]
