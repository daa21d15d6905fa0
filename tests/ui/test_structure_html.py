"""The 3D viewer's page: offline 3Dmol.js, pLDDT band colouring, residue highlight script."""
from __future__ import annotations

import json
import re
from pathlib import Path
from urllib.parse import unquote, urlparse

import pytest

from app.ui.confidence_colors import PLDDT_BANDS
from app.ui.structure_html import (band_styles, highlight_js, local_3dmol_path, pdb_residues,
                                   structure_html)


def atom(serial: int, name: str, resn: str, chain: str, resi: int, b: float, x: float = 0.0) -> str:
    """One PDB ATOM line in the fixed columns of the format (B-factor in 61-66)."""
    return (f"ATOM  {serial:>5} {name:<4} {resn:>3} {chain}{resi:>4}    "
            f"{x:>8.3f}{0.0:>8.3f}{0.0:>8.3f}{1.0:>6.2f}{b:>6.2f}           {name[0]}  ")


def pdb_with_plddt(plddts: list[float], chain: str = "A", first: int = 1) -> str:
    """N and CA per residue; N carries a wrong B-factor so only the CA's can pass the tests."""
    lines = []
    for k, p in enumerate(plddts):
        lines.append(atom(2 * k + 1, "N", "LYS", chain, first + k, 0.0, x=3.8 * k))
        lines.append(atom(2 * k + 2, "CA", "LYS", chain, first + k, p, x=3.8 * k + 1.4))
    return "\n".join(lines + ["END", ""])


def test_page_loads_only_the_vendored_3dmol_from_a_file_uri() -> None:
    html = structure_html(pdb_with_plddt([95.0, 40.0]))
    assert not re.search(r"https?://", html), "the page must work offline (no CDN, no http(s) URL)"
    scripts = re.findall(r"loadScriptAsync\('([^']+)'\)", html)
    assert len(scripts) == 1
    uri = urlparse(scripts[0])
    assert uri.scheme == "file"
    assert Path(unquote(uri.path)) == local_3dmol_path()
    assert local_3dmol_path().stat().st_size > 100_000  # the real minified library, not a stub


def test_residues_take_the_ca_b_factor_in_file_order() -> None:
    text = pdb_with_plddt([91.5, 12.25, 70.0], chain="B", first=40)
    res = pdb_residues(text)
    assert [(r.chain, r.resi, r.plddt) for r in res] == [("B", 40, 91.5), ("B", 41, 12.25), ("B", 42, 70.0)]
    assert res[0].label == "K40"


def test_only_the_first_model_is_read() -> None:
    model = pdb_with_plddt([80.0, 80.0])
    text = "MODEL        1\n" + model + "ENDMDL\nMODEL        2\n" + pdb_with_plddt([10.0] * 5) + "ENDMDL\n"
    assert len(pdb_residues(text)) == 2


@pytest.mark.parametrize("plddt, band", [(100.0, 0), (90.0, 0), (89.99, 1), (70.0, 1), (69.9, 2),
                                         (50.0, 2), (49.9, 3), (0.0, 3)])
def test_band_edges_follow_alphafold(plddt: float, band: int) -> None:
    styles = band_styles(pdb_residues(pdb_with_plddt([plddt])))
    assert styles == [({"chain": "A", "resi": [1]}, {"cartoon": {"color": PLDDT_BANDS[band].color}})]


def test_page_colours_every_residue_by_its_band() -> None:
    plddts = [95.0, 80.0, 60.0, 30.0, 91.0]
    html = structure_html(pdb_with_plddt(plddts))
    base = json.loads(re.search(r"var base = (\[.*?\]);\n", html).group(1))
    colour_of = {resi: style["cartoon"]["color"] for sel, style in base for resi in sel["resi"]}
    assert colour_of == {1: "#0053D6", 2: "#65CBF3", 3: "#FFDB13", 4: "#FF7D45", 5: "#0053D6"}
    assert html.count('setStyle({"chain": "A", "resi": [1, 5]},{"cartoon": {"color": "#0053D6"}})') == 1


def test_structure_text_cannot_close_the_script() -> None:
    text = "REMARK </script><script>alert(1)</script>\n" + pdb_with_plddt([90.0])
    html = structure_html(text)
    assert "</script><script>alert(1)" not in html
    assert html.count("</script>") == 2  # py3Dmol's script and the highlight controller, nothing else


def test_highlight_script_selects_the_indexed_residue_by_its_file_numbering() -> None:
    res = pdb_residues(pdb_with_plddt([90.0] * 4, chain="C", first=100))
    js = highlight_js(res[2])
    assert js == 'window.edgefoldHighlight({"chain": "C", "resi": 102}, "K102");'
    assert highlight_js(None) == "window.edgefoldHighlight(null, '');"


def test_blank_chain_ids_are_left_out_of_selections() -> None:
    res = pdb_residues(pdb_with_plddt([90.0], chain=" "))
    assert res[0].selection() == {"resi": 1}
    assert band_styles(res)[0][0] == {"resi": [1]}
