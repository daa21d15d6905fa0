"""Help > About: version, credits and licenses of the app, its components and the chosen pack."""
from __future__ import annotations

import html
from importlib import metadata

from PySide6 import __version__ as pyside_version
from PySide6.QtWidgets import QMessageBox, QWidget

from app.core.pack import PackError, PackInfo, read_manifest

CREDITS = [
    ("ESM-2 protein language models", "Lin et al., Science 2023; Meta AI (fair-esm)", "MIT"),
    ("PTQ4Protein post-training quantization", "Peng et al., 2023 (method reimplemented)", "\u2014"),
    ("Qt for Python (PySide6 " + pyside_version + ")", "The Qt Company", "LGPL-3.0"),
    ("ONNX Runtime", "Microsoft", "MIT"),
    ("NumPy", "NumPy developers", "BSD-3-Clause"),
    ("Calibration sequences", "UniProtKB/Swiss-Prot, The UniProt Consortium", "CC BY 4.0"),
]


def app_version() -> str:
    try:
        return metadata.version("edgefold")
    except metadata.PackageNotFoundError:
        return "0.1.0 (source checkout)"


def pack_credits(info: PackInfo | None) -> str:
    """HTML paragraph with the selected pack's license and credits from its manifest."""
    if info is None:
        return "<p>No model pack selected.</p>"
    try:
        manifest = read_manifest(info.path)
    except PackError as e:
        return f"<p>Model pack: {html.escape(str(e))}</p>"
    from app.ui.model_picker import accuracy_summary, benchmark_summary  # noqa: PLC0415

    lic = html.escape(str(manifest.get("license", "not stated")))
    cred = html.escape(str(manifest.get("credits", "not stated")))
    return (f"<p><b>Model pack {html.escape(info.name)}</b> ({html.escape(info.scheme)})<br>"
            f"Quality: {html.escape(benchmark_summary(info.benchmark))}<br>"
            f"Quantization: {html.escape(accuracy_summary(info.accuracy))} (agreement with its own "
            f"float model, not a quality measure)<br>"
            f"License: {lic}<br>Credits: {cred}</p>")


def about_html(info: PackInfo | None) -> str:
    rows = "".join(f"<tr><td>{html.escape(a)}</td><td>{html.escape(b)}</td>"
                   f"<td>{html.escape(c)}</td></tr>" for a, b, c in CREDITS)
    return (f"<h3>EdgeFold {html.escape(app_version())}</h3>"
            "<p>Protein language models running privately on your CPU: nothing you type leaves "
            "this computer. EdgeFold is MIT-licensed.</p>"
            f"<table cellspacing='6'><tr><th align='left'>Component</th><th align='left'>By"
            f"</th><th align='left'>License</th></tr>{rows}</table>" + pack_credits(info))


def show_about(parent: QWidget, info: PackInfo | None) -> None:
    QMessageBox.about(parent, "About EdgeFold", about_html(info))
