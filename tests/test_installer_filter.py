"""scripts/installer_filter.py: which collected files the installer drops, and library pruning."""
from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from test_setup import ROOT, load_script  # tests/ is on sys.path (no __init__.py)

flt = load_script(ROOT / "scripts" / "installer_filter.py")


@pytest.mark.parametrize("dest, kept", [
    ("PySide6/Qt/qml/QtQuick3D/libqquick3dplugin.so", False),
    ("PySide6/Qt/translations/qtbase_de.qm", False),
    ("PySide6/Qt/translations/qtwebengine_locales/de.pak", False),
    ("PySide6/Qt/translations/qtwebengine_locales/en-US.pak", True),  # Chromium's fallback locale
    ("PySide6/Qt/resources/qtwebengine_devtools_resources.pak", False),
    ("PySide6/Qt/resources/qtwebengine_resources.pak", True),
    ("PySide6/Qt/resources/icudtl.dat", True),
    ("PySide6/Qt/libexec/QtWebEngineProcess", True),
    ("PySide6/Qt/plugins/platforms/libqxcb.so", True),
    ("PySide6/Qt/plugins/platforms/libqwayland.so", True),
    ("PySide6/Qt/plugins/platforms/libqoffscreen.so", True),
    ("PySide6/Qt/plugins/platforms/libqvnc.so", False),
    ("PySide6/Qt/plugins/imageformats/libqsvg.so", True),
    ("PySide6/Qt/plugins/imageformats/libqpdf.so", False),
    ("PySide6/Qt/plugins/xcbglintegrations/libqxcb-glx-integration.so", True),
    ("PySide6/Qt/plugins/platformthemes/libqgtk3.so", False),
    ("PySide6/Qt/plugins/platformthemes/libqxdgdesktopportal.so", True),
    ("PySide6/Qt/plugins/printsupport/libcupsprintersupport.so", False),
    ("assets/packs/default/model.onnx", True),
    ("assets/3dmol/3Dmol-min.js", True),
])
def test_drop_rules(dest: str, kept: bool) -> None:
    assert flt.keep((dest, "/src/" + dest, "DATA")) is kept


def test_prune_keeps_what_the_roots_need_and_drops_the_rest() -> None:
    needs = {"/s/QtCore.abi3.so": ["libQt6Core.so.6"], "/s/libQt6Core.so.6": ["libicuuc.so.73"],
             "/s/libicuuc.so.73": ["libicudata.so.73"], "/s/libqgtk3.so": ["libgtk-3.so.0"],
             "/s/libsoftokn3.so": ["libnspr4.so"]}
    toc = [("PySide6/QtCore.abi3.so", "/s/QtCore.abi3.so", "EXTENSION"),
           ("PySide6/Qt/lib/libQt6Core.so.6", "/s/libQt6Core.so.6", "BINARY"),
           ("libQt6Core.so.6", "PySide6/Qt/lib/libQt6Core.so.6", "SYMLINK"),
           ("PySide6/Qt/lib/libicuuc.so.73", "/s/libicuuc.so.73", "BINARY"),
           ("PySide6/Qt/lib/libicudata.so.73", "/s/libicudata.so.73", "BINARY"),
           ("libgtk-3.so.0", "/s/libgtk-3.so.0", "BINARY"),  # only the dropped GTK theme needed it
           ("libQt6Pdf.so.6", "PySide6/Qt/lib/libQt6Pdf.so.6", "SYMLINK"),
           ("PySide6/Qt/lib/libQt6Pdf.so.6", "/s/libQt6Pdf.so.6", "BINARY"),
           ("libpython3.11.so.1.0", "/s/libpython3.11.so.1.0", "BINARY"),  # the bootloader dlopens it
           ("libsoftokn3.so", "/s/libsoftokn3.so", "BINARY"),  # NSS dlopens it
           ("libnspr4.so", "/s/libnspr4.so", "BINARY"),
           ("numpy.libs/libscipy_openblas64_.so", "/s/openblas.so", "BINARY")]  # package-private
    kept = {e[0] for e in flt.prune_unreferenced(toc, lambda src: needs.get(src, []))}
    assert kept == {"PySide6/QtCore.abi3.so", "PySide6/Qt/lib/libQt6Core.so.6", "libQt6Core.so.6",
                    "PySide6/Qt/lib/libicuuc.so.73", "PySide6/Qt/lib/libicudata.so.73",
                    "libpython3.11.so.1.0", "libsoftokn3.so", "libnspr4.so",
                    "numpy.libs/libscipy_openblas64_.so"}


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="ELF files")
def test_elf_needed_matches_readelf() -> None:
    import PySide6

    module = next(Path(PySide6.__file__).parent.glob("QtCore.abi3.so"))
    names = flt.elf_needed(str(module))
    assert "libQt6Core.so.6" in names
    assert flt.elf_needed(str(ROOT / "README.md")) == []
    if shutil.which("readelf"):
        out = subprocess.run(["readelf", "-d", str(module)], capture_output=True, text=True).stdout
        expected = [line.split("[")[1].split("]")[0] for line in out.splitlines() if "(NEEDED)" in line]
        assert names == expected


def test_links_to_dropped_files_go_too() -> None:
    binaries = [("PySide6/Qt/lib/libQt6Core.so.6", "/s/libQt6Core.so.6", "BINARY"),
                ("PySide6/QtCore.abi3.so", "/s/QtCore.abi3.so", "EXTENSION")]
    datas = [("libQt6Core.so.6", "PySide6/Qt/lib/libQt6Core.so.6", "SYMLINK"),  # PyInstaller's layout
             ("libQt6Pdf.so.6", "PySide6/Qt/lib/libQt6Pdf.so.6", "SYMLINK"),  # its library was pruned
             ("PySide6/Qt/qml/QtQml/qmldir", "/s/qmldir", "DATA")]
    needs = {"/s/QtCore.abi3.so": ["libQt6Core.so.6"]}
    kept_b, kept_d = flt.filter_toc(binaries, datas, lambda src: needs.get(src, []))
    assert kept_b == binaries and kept_d == [datas[0]]


@pytest.mark.skipif(not sys.platform.startswith("linux") or not shutil.which("strip"), reason="ELF strip")
def test_only_the_interpreter_binaries_are_stripped(tmp_path) -> None:
    import _json  # an extension module of the interpreter itself (lib-dynload)
    import numpy

    ext = Path(_json.__file__)
    wheel_lib = next(Path(numpy.__file__).parent.rglob("*.so"))  # a wheel's: never stripped
    toc = [("python3.11/lib-dynload/" + ext.name, str(ext), "EXTENSION"),
           ("numpy/" + wheel_lib.name, str(wheel_lib), "EXTENSION"),
           ("libfoo.so.1", "libbar.so.1", "SYMLINK")]
    out = flt.strip_interpreter(toc, str(tmp_path))
    assert out[1:] == toc[1:]
    if str(ext.resolve()).startswith(str(Path(sys.base_prefix).resolve())) and "site-packages" not in str(ext):
        assert out[0][0] == toc[0][0] and Path(out[0][1]).parent.parent.parent == tmp_path / "stripped"
        assert Path(out[0][1]).stat().st_size <= ext.stat().st_size
        assert flt.elf_needed(out[0][1]) == flt.elf_needed(str(ext))
