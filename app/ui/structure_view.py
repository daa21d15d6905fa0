"""3D structure viewer: 3Dmol.js in a lazily created QWebEngineView, cartoon coloured by pLDDT, with a legend."""
from __future__ import annotations

import base64
import binascii
import logging
import os
from pathlib import Path
from typing import Callable

from PySide6.QtCore import QCoreApplication, QRectF, QTemporaryDir, Qt, QUrl, Signal, Slot
from PySide6.QtGui import QColor, QFontMetrics, QGuiApplication, QImage, QPainter
from PySide6.QtWidgets import QHBoxLayout, QLabel, QStackedLayout, QVBoxLayout, QWidget

from app.ui.confidence_colors import PLDDT_BANDS
from app.ui.image_export import FG, MARGIN, Figure, figure_font, paint_title
from app.ui.structure_html import Residue, highlight_js, pdb_residues, structure_html

log = logging.getLogger(__name__)

DISABLE_ENV = "EDGEFOLD_NO_WEBENGINE"  # set to 1 to never start Qt WebEngine (tests, broken GPUs)
NO_WEB_PLATFORMS = ("offscreen", "minimal")  # Chromium cannot draw there; creating a view may abort
EMPTY_TEXT = "Fold a sequence to see its 3D structure"
# The WebGL canvas as a PNG data URL ('' until the page's viewer is ready). render() first: the
# drawing buffer is only valid in the task that drew it (no preserveDrawingBuffer).
PNG_JS = ("(function() { var v = window.edgefoldViewer; if (!v || !window.edgefoldReady) return '';"
          " v.render(); return v.pngURI(); })()")
LEGEND_TITLE = "pLDDT (per-residue confidence, 0\u2013100)"
SWATCH = 12


def image_from_data_url(url: object) -> QImage:
    """A 'data:image/png;base64,...' URL (3Dmol's pngURI) -> QImage; a null image otherwise."""
    if not isinstance(url, str) or not url.startswith("data:image/") or "," not in url:
        return QImage()
    try:
        data = base64.b64decode(url.split(",", 1)[1], validate=True)
    except (binascii.Error, ValueError):
        return QImage()
    return QImage.fromData(data)


def structure_figure(image: QImage, title: str, ratio: int = 1) -> Figure:
    """The 3D view's pixels under a title, above the pLDDT legend (band swatches with their
    ranges): a PNG-only figure (WebGL has no vector form). `ratio`: image pixels per figure
    pixel (3Dmol draws high-DPI canvases), so the PNG keeps every canvas pixel."""
    ratio = max(1, int(ratio))
    fm = QFontMetrics(figure_font())
    entries = [(band.color, band.short) for band in PLDDT_BANDS]
    legend_w = fm.horizontalAdvance(LEGEND_TITLE) + 12 + sum(
        SWATCH + 4 + fm.horizontalAdvance(text) + 14 for _, text in entries)
    img_w, img_h = image.width() / ratio, image.height() / ratio
    width = max(img_w, legend_w, fm.horizontalAdvance(title)) + 2 * MARGIN
    head = MARGIN + fm.height() + 6  # what paint_title takes
    height = head + img_h + 8 + fm.height() + MARGIN

    def paint(p: QPainter) -> None:
        y = paint_title(p, title, width)
        p.drawImage(QRectF(MARGIN, y, img_w, img_h), image)
        y += img_h + 8
        p.setPen(FG)
        x = float(MARGIN)
        p.drawText(QRectF(x, y, legend_w, fm.height()), Qt.AlignLeft | Qt.AlignVCenter, LEGEND_TITLE)
        x += fm.horizontalAdvance(LEGEND_TITLE) + 12
        for color, text in entries:
            swatch = QRectF(x, y + (fm.height() - SWATCH) / 2, SWATCH, SWATCH)
            p.fillRect(swatch, QColor(color))
            p.drawRect(swatch)
            x += SWATCH + 4
            p.drawText(QRectF(x, y, fm.horizontalAdvance(text) + 2, fm.height()), Qt.AlignLeft | Qt.AlignVCenter, text)
            x += fm.horizontalAdvance(text) + 14

    return Figure(round(width), round(height), paint, title, vector=False, png_scale=ratio)


def prepare_webengine() -> None:
    """Call before QApplication exists: WebEngine needs OpenGL contexts shared across windows,
    and Chromium reads its (offline) flags once, at start."""
    QCoreApplication.setAttribute(Qt.AA_ShareOpenGLContexts, True)
    try:
        from app.ui.web_privacy import set_chromium_flags  # noqa: PLC0415 (WebEngine may be missing)
    except ImportError:
        return
    set_chromium_flags()


def webengine_unavailable_reason() -> str:
    """'' when a QWebEngineView can be created here, else why not (shown in place of the view)."""
    if os.environ.get(DISABLE_ENV, "") not in ("", "0"):
        return f"3D view disabled ({DISABLE_ENV} is set)"
    platform = QGuiApplication.platformName()
    if platform in NO_WEB_PLATFORMS:
        return f"3D view unavailable on the '{platform}' Qt platform"
    try:
        import PySide6.QtWebEngineWidgets  # noqa: F401, PLC0415 (lazy: heavy, and may be missing)
    except ImportError as e:
        return f"3D view unavailable: Qt WebEngine is not installed ({e})"
    return ""


class PlddtLegend(QWidget):
    """One swatch and label per pLDDT band, highest first (AlphaFold DB's legend)."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        row = QHBoxLayout(self)
        row.setContentsMargins(4, 2, 4, 2)
        row.setSpacing(4)
        row.addWidget(QLabel("pLDDT:"))
        for band in PLDDT_BANDS:
            swatch = QLabel()
            swatch.setFixedSize(12, 12)
            swatch.setStyleSheet(f"background-color: {band.color}; border: 1px solid #555;")
            text = QLabel(band.short)
            for w in (swatch, text):
                w.setToolTip(band.label)
                row.addWidget(w)
            row.addSpacing(6)
        row.addStretch(1)
        self.setToolTip("Cartoon coloured by predicted lDDT (per-residue confidence, 0-100), "
                        "AlphaFold's colour bands")


class StructureView(QWidget):
    """Shows one PDB structure; `highlight_residue(i)` marks the i-th residue (0-based, file order)."""

    residueHighlighted = Signal(int)  # 0-based index, -1 when cleared

    def __init__(self, parent: QWidget | None = None, use_webengine: bool | None = None) -> None:
        super().__init__(parent)
        self._reason = "" if use_webengine else "3D view disabled"
        if use_webengine is None:
            self._reason = webengine_unavailable_reason()
        self._web = None  # QWebEngineView, created on the first structure
        self._tmp: QTemporaryDir | None = None
        self._loaded = False
        self._pending_js = ""
        self._serial = 0
        self._html = ""
        self._residues: list[Residue] = []
        self._highlighted = -1
        self.last_js = ""  # the last highlight script sent (or queued) to the page
        self.placeholder = QLabel(EMPTY_TEXT if not self._reason else f"{EMPTY_TEXT}\n({self._reason})")
        self.placeholder.setAlignment(Qt.AlignCenter)
        self.placeholder.setWordWrap(True)
        self.legend = PlddtLegend()
        self._stack = QStackedLayout()
        self._stack.addWidget(self.placeholder)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addLayout(self._stack, 1)
        layout.addWidget(self.legend)

    # ---- state --------------------------------------------------------------------------
    def html(self) -> str:
        return self._html

    def residues(self) -> list[Residue]:
        return list(self._residues)

    def highlighted(self) -> int:
        return self._highlighted

    def web_view(self):
        """The QWebEngineView, or None where WebEngine is unavailable or nothing was shown yet."""
        return self._web

    def unavailable_reason(self) -> str:
        return self._reason

    def is_showing(self) -> bool:
        """True once a structure page has loaded in the WebEngine view (its pixels can be saved)."""
        return self._web is not None and self._loaded and bool(self._html)

    def request_image(self, callback: Callable[[QImage], None]) -> bool:
        """Ask the page for its WebGL canvas (3Dmol's pngURI); `callback(image)` runs later, with
        the widget's grab() when the page gives nothing (pass image.width() // self.width() as
        structure_figure's ratio). False (no call) when nothing is shown."""
        if not self.is_showing():
            return False
        web = self._web

        def done(result: object) -> None:
            image = image_from_data_url(result)
            callback(image if not image.isNull() else web.grab().toImage())

        web.page().runJavaScript(PNG_JS, 0, done)
        return True

    # ---- content ------------------------------------------------------------------------
    def set_structure(self, pdb_text: str) -> None:
        """Show pdb_text (pLDDT in the B-factor column) as a cartoon; clears any highlight."""
        self._residues = pdb_residues(pdb_text)
        self._html = structure_html(pdb_text)
        self._highlighted, self.last_js = -1, ""
        if self._reason:
            self.placeholder.setText(f"{len(self._residues)} residues loaded\n({self._reason})")
            return
        self._ensure_web()
        self._serial += 1  # a new file name per structure: no stale page from the cache
        page = Path(self._tmp.path()) / f"structure-{self._serial}.html"
        page.write_text(self._html, encoding="utf-8")
        self._loaded, self._pending_js = False, ""
        self._web.load(QUrl.fromLocalFile(str(page)))  # file:// page: 3Dmol.js loads from disk
        self._stack.setCurrentWidget(self._web)

    def clear(self) -> None:
        self._residues, self._html, self._highlighted, self.last_js = [], "", -1, ""
        self.placeholder.setText(EMPTY_TEXT if not self._reason else f"{EMPTY_TEXT}\n({self._reason})")
        self._stack.setCurrentWidget(self.placeholder)

    @Slot(int)
    def highlight_residue(self, index0: int) -> None:
        """Colour residue index0 (0-based, file order) magenta, show its side chain and label; -1 clears."""
        residue = self._residues[index0] if 0 <= index0 < len(self._residues) else None
        if residue is None and index0 != -1:
            log.info("residue %d is outside the structure (%d residues)", index0, len(self._residues))
        self._highlighted = index0 if residue is not None else -1
        self.last_js = highlight_js(residue)
        self._run_js(self.last_js)
        self.residueHighlighted.emit(self._highlighted)

    # ---- web view -----------------------------------------------------------------------
    def _ensure_web(self) -> None:
        if self._web is not None:
            return
        from PySide6.QtWebEngineCore import QWebEnginePage  # noqa: PLC0415 (lazy on purpose)
        from PySide6.QtWebEngineWidgets import QWebEngineView  # noqa: PLC0415

        from app.ui.web_privacy import offline_profile  # noqa: PLC0415

        self._tmp = QTemporaryDir()
        self._web = QWebEngineView(self)
        self._profile = offline_profile(self)  # outlives the page (deleted after the view)
        self._web.setPage(QWebEnginePage(self._profile, self._web))
        self._web.setContextMenuPolicy(Qt.NoContextMenu)  # right clicks reach this widget's menu
        self._web.loadFinished.connect(self._on_load_finished)
        self._stack.addWidget(self._web)

    def _run_js(self, script: str) -> None:
        if self._web is None:
            return
        if self._loaded:
            self._web.page().runJavaScript(script)
        else:  # the page script queues calls until 3Dmol.js is ready; Qt must wait for the page
            self._pending_js = script

    @Slot(bool)
    def _on_load_finished(self, ok: bool) -> None:
        self._loaded = ok
        if not ok:
            log.error("structure page failed to load")
            return
        if self._pending_js:
            self._web.page().runJavaScript(self._pending_js)
            self._pending_js = ""
