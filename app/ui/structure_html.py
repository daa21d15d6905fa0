"""HTML and JavaScript for the 3D viewer: py3Dmol's page with the vendored 3Dmol.js (pure, no Qt)."""
from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import py3Dmol

from app.ui.confidence_colors import PLDDT_BANDS, plddt_band_index

HIGHLIGHT_COLOR = "#E0119D"  # magenta: distinct from every pLDDT band
DATA_PLACEHOLDER = "__EDGEFOLD_STRUCTURE_DATA__"
_ONE_LETTER = {"ALA": "A", "ARG": "R", "ASN": "N", "ASP": "D", "CYS": "C", "GLN": "Q", "GLU": "E",
               "GLY": "G", "HIS": "H", "ILE": "I", "LEU": "L", "LYS": "K", "MET": "M", "PHE": "F",
               "PRO": "P", "SER": "S", "THR": "T", "TRP": "W", "TYR": "Y", "VAL": "V", "MSE": "M"}


def local_3dmol_path() -> Path:
    """The vendored 3Dmol.js: `<repo>/assets/3dmol/3Dmol-min.js` (the app never loads it from a CDN)."""
    import app  # resolved at call time so an installed app finds its own assets

    return Path(app.__file__).resolve().parents[1] / "assets" / "3dmol" / "3Dmol-min.js"


@dataclass(frozen=True)
class Residue:
    """One residue of a structure file, in file order; plddt is its CA B-factor."""

    chain: str
    resi: int
    icode: str
    name: str  # three-letter code
    plddt: float

    @property
    def label(self) -> str:
        """e.g. 'K40' (one-letter code and residue number, insertion code appended)."""
        return f"{_ONE_LETTER.get(self.name, 'X')}{self.resi}{self.icode}"

    def selection(self) -> dict:
        """A 3Dmol.js AtomSelectionSpec for this residue (no chain key when the chain id is blank)."""
        return {"chain": self.chain, "resi": self.resi} if self.chain.strip() else {"resi": self.resi}


def pdb_residues(pdb_text: str) -> list[Residue]:
    """Residues of the first model's ATOM records; columns per the PDB format (resSeq 23-26, B 61-66)."""
    residues: list[Residue] = []
    seen: dict[tuple[str, int, str], int] = {}
    for n, line in enumerate(pdb_text.splitlines(), 1):
        if line.startswith("ENDMDL"):
            break
        if not line.startswith("ATOM  ") or len(line) < 54:
            continue
        try:
            key = (line[21], int(line[22:26]), line[26:27].strip())
            b = float(line[60:66]) if len(line) >= 66 and line[60:66].strip() else float("nan")
        except ValueError as e:
            raise ValueError(f"PDB line {n}: bad residue number or B-factor ({e}): {line!r}") from None
        atom = line[12:16].strip()
        if key not in seen:
            seen[key] = len(residues)
            residues.append(Residue(key[0], key[1], key[2], line[17:20].strip(), b))
        elif atom == "CA":  # prefer the CA's B-factor (pLDDT of the residue in AlphaFold files)
            r = residues[seen[key]]
            residues[seen[key]] = Residue(r.chain, r.resi, r.icode, r.name, b)
    return residues


def band_styles(residues: list[Residue]) -> list[tuple[dict, dict]]:
    """(selection, style) pairs colouring each residue's cartoon by its pLDDT band."""
    if not residues:
        return []
    bands = plddt_band_index(np.array([r.plddt for r in residues]))
    out = []
    for k, band in enumerate(PLDDT_BANDS):
        by_chain: dict[str, list[int]] = {}
        for r, b in zip(residues, bands):
            if b == k:
                by_chain.setdefault(r.chain, []).append(r.resi)
        for chain, resi in by_chain.items():
            sel = {"chain": chain, "resi": resi} if chain.strip() else {"resi": resi}
            out.append((sel, {"cartoon": {"color": band.color}}))
    return out


def _controller_js(uid: str, styles: list[tuple[dict, dict]]) -> str:
    """A page script: `edgefoldHighlight(selection, label)` works before and after 3Dmol.js loads."""
    return f"""<script>
window.edgefoldPending = null;
window.edgefoldReady = false;
window.edgefoldHighlight = function(sel, text) {{ window.edgefoldPending = [sel, text]; }};
$3Dmolpromise.then(function() {{
  var v = viewer_{uid};
  var base = {json.dumps(styles)};
  window.edgefoldViewer = v;
  window.edgefoldHighlight = function(sel, text) {{
    v.removeAllLabels();
    v.setStyle({{}}, {{}});
    base.forEach(function(b) {{ v.setStyle(b[0], b[1]); }});
    if (sel) {{
      v.setStyle(sel, {{cartoon: {{color: "{HIGHLIGHT_COLOR}"}},
                        stick: {{color: "{HIGHLIGHT_COLOR}", radius: 0.3}},
                        sphere: {{color: "{HIGHLIGHT_COLOR}", radius: 0.9}}}});
      v.addLabel(text, {{backgroundColor: "black", backgroundOpacity: 0.75, fontColor: "white",
                         fontSize: 13, alignment: "bottomCenter"}}, sel);
      v.center(sel, 400);
    }}
    v.render();
  }};
  window.edgefoldReady = true;
  if (window.edgefoldPending) {{ window.edgefoldHighlight.apply(null, window.edgefoldPending); }}
}});
</script>"""


def structure_html(pdb_text: str, js_uri: str | None = None, background: str = "white") -> str:
    """A full HTML page showing pdb_text as a cartoon coloured by pLDDT band, loading 3Dmol.js from js_uri."""
    js_uri = js_uri or local_3dmol_path().as_uri()
    residues = pdb_residues(pdb_text)
    styles = band_styles(residues)
    view = py3Dmol.view(width="100%", height="100vh", js=js_uri)
    view.setBackgroundColor(background)
    view.addModel(DATA_PLACEHOLDER, "pdb")
    view.setStyle({}, {})  # hide everything (waters, ligands) ...
    for sel, style in styles:  # ... then show the chain as a cartoon, coloured by band
        view.setStyle(sel, style)
    view.zoomTo()
    view.zoom(1.25)  # zoomTo fits the bounding sphere: a little closer still shows an elongated chain whole
    body = view.write_html()  # public API: the HTML fragment, viewer named viewer_<uniqueid>
    # the structure goes in as a JSON string; "</" escaped so a file cannot close the <script>
    data = json.dumps(pdb_text).replace("</", "<\\/")
    body = body.replace(json.dumps(DATA_PLACEHOLDER), data, 1)
    return ("<!DOCTYPE html>\n<html><head><meta charset=\"utf-8\"><title>EdgeFold structure</title>"
            "<style>html, body { margin: 0; padding: 0; overflow: hidden; }</style></head>\n"
            f"<body>\n{body}\n{_controller_js(view.uniqueid, styles)}\n</body></html>\n")


def highlight_js(residue: Residue | None) -> str:
    """The JavaScript the view runs to highlight one residue (None clears the highlight)."""
    if residue is None:
        return "window.edgefoldHighlight(null, '');"
    return f"window.edgefoldHighlight({json.dumps(residue.selection())}, {json.dumps(residue.label)});"
