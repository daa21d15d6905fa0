"""What build_installer.spec leaves out of the bundle: path rules, and shared libraries nothing kept
links to (pure Python, no PyInstaller import, so tests can check it on synthetic file lists).

PyInstaller's PySide6 hooks collect every QML plugin (and through them Qt 3D, Charts, Multimedia,
Quick Controls, PDF ...), every Qt translation and the WebEngine developer tools, and its binary
analysis then adds each plugin's system libraries (GTK for the GTK theme, CUPS for printing). The
app uses none of them: DROP removes them by destination path, then `prune_unreferenced` removes
the shared libraries that no kept binary needs any more (ELF DT_NEEDED, read here directly).
"""
from __future__ import annotations

import os
import re
import shutil
import struct
import subprocess
import sys
from typing import Callable, Iterable, Sequence

Entry = tuple  # PyInstaller TOC entry: (dest_name, src_name, typecode)

DROP = (
    r"PySide6/Qt/qml/",  # QML imports: the app has no QML (WebEngine's internal Quick use needs none)
    r"PySide6/Qt/translations/(?!qtwebengine_locales/)",  # Qt dialog translations: the UI is English
    r"PySide6/Qt/translations/qtwebengine_locales/(?!en-US\.pak$)",  # Chromium falls back to en-US
    r"PySide6/Qt/resources/qtwebengine_devtools_resources\.pak$",  # developer tools, never opened
    # plugins: keep platforms xcb/wayland/offscreen/minimal, image formats, input methods, themes
    r"PySide6/Qt/plugins/(qmltooling|position|networkinformation|printsupport|sqldrivers|multimedia|"
    r"sceneparsers|geometryloaders|renderers|renderplugins|canbus|sensors|texttospeech|webview|generic|"
    r"egldeviceintegrations|tls|designer|assetimporters|qmllint|scxmldatamodel)/",
    r"PySide6/Qt/plugins/platforms/libq(eglfs|linuxfb|minimalegl|vnc|vkkhrdisplay)\.so$",
    r"PySide6/Qt/plugins/imageformats/libq(pdf|tiff|webp|icns|tga|wbmp)\.so$",
    r"PySide6/Qt/plugins/platforminputcontexts/libqtvirtualkeyboardplugin\.so$",
    r"PySide6/Qt/plugins/platformthemes/libqgtk3\.so$",  # GTK theme: drags GTK's stack; portal stays
)
DROP_RE = re.compile("|".join(f"(?:{d})" for d in DROP))

# Loaded with dlopen (no DT_NEEDED points at them): Python itself (by PyInstaller's bootloader) and
# NSS's crypto modules (by WebEngine).
DLOPENED = re.compile(r"^lib(python3|softokn3|freebl3|freeblpriv3|nssckbi|nssdbm3)[.\d]*\.so")


def dest(entry: Entry) -> str:
    return str(entry[0]).replace(os.sep, "/")


def keep(entry: Entry) -> bool:
    """False for a TOC entry whose destination matches DROP."""
    return DROP_RE.search(dest(entry)) is None


def elf_needed(path: str) -> list[str]:
    """DT_NEEDED names of a 64-bit little-endian ELF file ([] for anything else)."""
    try:
        with open(path, "rb") as f:
            data = f.read()
    except OSError:
        return []
    if data[:4] != b"\x7fELF" or data[4] != 2 or data[5] != 1:
        return []
    shoff, = struct.unpack_from("<Q", data, 0x28)
    shentsize, shnum = struct.unpack_from("<HH", data, 0x3A)
    sections = [struct.unpack_from("<IIQQQQIIQQ", data, shoff + k * shentsize) for k in range(shnum)]
    names: list[str] = []
    for _name, sh_type, _flags, _addr, offset, size, link, _info, _align, entsize in sections:
        if sh_type != 6 or not entsize:  # SHT_DYNAMIC
            continue
        strtab = sections[link][4]
        for k in range(size // entsize):
            tag, value = struct.unpack_from("<qQ", data, offset + k * entsize)
            if tag == 0:  # DT_NULL
                break
            if tag == 1:  # DT_NEEDED
                end = data.index(b"\0", strtab + value)
                names.append(data[strtab + value:end].decode())
    return names


def is_shared_lib(d: str) -> bool:
    """A library placed for the dynamic linker (bundle root or Qt's lib folder), not a Python
    extension, a plugin or a package's private library: only those can become unreferenced."""
    name = d.rsplit("/", 1)[-1]
    return (("/" not in d) or d.startswith("PySide6/Qt/lib/")) and ".so" in name and \
        not name.endswith((".abi3.so",)) and ".cpython-" not in name


def prune_unreferenced(binaries: Sequence[Entry],
                       needed: Callable[[str], Iterable[str]] = elf_needed) -> list[Entry]:
    """Drop shared libraries no kept binary needs (transitively from the roots: extensions,
    plugins, executables, package-private libraries, dlopen'ed NSS modules). Symbolic links
    (typecode 'SYMLINK') follow their library."""
    by_name: dict[str, list[Entry]] = {}
    for e in binaries:
        by_name.setdefault(dest(e).rsplit("/", 1)[-1], []).append(e)
    roots = [e for e in binaries if not is_shared_lib(dest(e)) or DLOPENED.match(dest(e).rsplit("/", 1)[-1])]
    reached: set[str] = set()
    stack = [e for e in roots if e[2] != "SYMLINK"]
    while stack:
        e = stack.pop()
        for lib in needed(str(e[1])):
            if lib in reached:
                continue
            reached.add(lib)
            stack.extend(x for x in by_name.get(lib, []) if x[2] != "SYMLINK")
    return [e for e in binaries if e in roots or dest(e).rsplit("/", 1)[-1] in reached]


def link_target(entry: Entry) -> str:
    """Where a SYMLINK entry points, as a bundle path (its src_name is relative to its folder)."""
    return os.path.normpath(os.path.join(os.path.dirname(dest(entry)), str(entry[1]))).replace(os.sep, "/")


def filter_toc(binaries: Sequence[Entry], datas: Sequence[Entry],
               needed: Callable[[str], Iterable[str]] = elf_needed) -> tuple[list[Entry], list[Entry]]:
    """(binaries, datas) without DROP matches, without libraries left unreferenced, and without
    symbolic links (PyInstaller lists some among the datas) to anything dropped."""
    binaries = prune_unreferenced([e for e in binaries if keep(e)], needed)
    datas = [e for e in datas if keep(e)]
    present = {dest(e) for e in (*binaries, *datas) if e[2] != "SYMLINK"}

    def live(e: Entry) -> bool:
        return e[2] != "SYMLINK" or link_target(e) in present

    return [e for e in binaries if live(e)], [e for e in datas if live(e)]


def strip_interpreter(binaries: Sequence[Entry], work_dir: str) -> list[Entry]:
    """Point the interpreter's own binaries (libpython, lib-dynload modules: built from source,
    with debug symbols, 23 MB for libpython alone) at stripped copies in work_dir. Only those:
    `strip` breaks auditwheel-patched wheel libraries (numpy's OpenBLAS: "ELF load command
    address/offset not page-aligned"), which wheels ship stripped anyway."""
    strip = shutil.which("strip")
    base = os.path.realpath(sys.base_prefix) + os.sep
    if strip is None or not sys.platform.startswith("linux"):
        return list(binaries)
    out = []
    for e in binaries:
        src = os.path.realpath(str(e[1]))
        if e[2] == "SYMLINK" or not src.startswith(base) or "site-packages" in src or ".so" not in src:
            out.append(e)
            continue
        copy = os.path.join(work_dir, "stripped", dest(e))
        os.makedirs(os.path.dirname(copy), exist_ok=True)
        shutil.copy2(src, copy)
        done = subprocess.run([strip, "--strip-unneeded", copy], capture_output=True).returncode == 0
        out.append((e[0], copy, e[2]) if done else e)
    return out
