"""Contact map (L x L probabilities from the ESM-2 contact head) as a greyscale image with a caption."""
from __future__ import annotations

import numpy as np
from PySide6.QtCore import Qt
from PySide6.QtGui import QImage, QPixmap
from PySide6.QtWidgets import QLabel, QSizePolicy, QVBoxLayout, QWidget

from app.ui.colorbar import ColorScale, gradient_image
from app.ui.image_export import Figure
from app.ui.matrix_figure import matrix_figure

CONTACT_TITLE = "Contact probability"


def contact_rgb(contacts: np.ndarray) -> np.ndarray:
    """Probabilities in [0, 1], any shape -> shape + (3,) uint8: white 0, black 1 (NaN light grey)."""
    p = np.clip(np.nan_to_num(np.asarray(contacts, dtype=np.float64), nan=0.2), 0.0, 1.0)
    grey = np.rint(255.0 * (1.0 - p)).astype(np.uint8)
    return np.ascontiguousarray(np.repeat(grey[..., None], 3, axis=-1))


def contact_scale() -> ColorScale:
    """Black (probability 1) at the top to white (0) at the bottom."""
    image = gradient_image(contact_rgb(np.linspace(1.0, 0.0, 256)))
    labels = tuple((v, f"{v:g}") for v in (1.0, 0.75, 0.5, 0.25, 0.0))
    return ColorScale(image, 1.0, 0.0, labels, CONTACT_TITLE)


class ContactView(QWidget):
    """Hidden until `set_contacts`; scales the map to its size, keeping it square."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.image_label = QLabel()
        self.image_label.setAlignment(Qt.AlignCenter)
        self.image_label.setMinimumSize(100, 100)
        self.image_label.setSizePolicy(QSizePolicy.Ignored, QSizePolicy.Ignored)
        self.caption = QLabel()
        self.caption.setWordWrap(True)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.image_label, 1)
        layout.addWidget(self.caption)
        self._image = QImage()
        self._record_id = ""
        self.setVisible(False)

    def set_contacts(self, contacts: np.ndarray, record_id: str) -> None:
        rgb = contact_rgb(contacts)
        n = rgb.shape[0]
        self._image = QImage(rgb.data, n, n, 3 * n, QImage.Format_RGB888).copy()
        self._record_id = record_id
        self.caption.setText(f"Contacts of {record_id} ({n} aa)")
        self.setToolTip(f"ESM-2 contact head: contact probability of each residue pair of {record_id} "
                        f"({n} x {n}); white 0, black 1.")
        self._rescale()
        self.setVisible(True)

    def image(self) -> QImage:
        return self._image

    def record_id(self) -> str:
        return self._record_id

    def figure(self, title: str = "") -> Figure | None:
        """The map with residue axes and its colour bar, for PNG / SVG; None before any contacts."""
        if self._image.isNull():
            return None
        n = self._image.width()
        title = title or f"{self._record_id} — ESM-2 contact map ({n} aa)"
        return matrix_figure(n, self._image, contact_scale(), "Residue-pair contacts", title)

    def _rescale(self) -> None:
        if not self._image.isNull():
            side = max(1, min(self.image_label.width(), self.image_label.height()))
            self.image_label.setPixmap(QPixmap.fromImage(self._image).scaled(side, side, Qt.KeepAspectRatio))

    def resizeEvent(self, event) -> None:  # noqa: N802
        super().resizeEvent(event)
        self._rescale()
