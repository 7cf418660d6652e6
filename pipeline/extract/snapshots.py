"""Page images for reviewers: each page as extraction saw it, so evidence boxes land where they belong.

OCR'd pages are saved after deskew and orientation fixing (the OCR boxes are in their pixels);
text-layer PDF pages are rendered (their word boxes are in PDF points).  ``scale`` converts an evidence
box to the saved image's pixels.
"""

from __future__ import annotations

import io
import logging
from typing import TYPE_CHECKING

import cv2
import numpy as np
from PIL import Image

from pipeline.extract.textlayer import render_page
from pipeline.models import TextSource

if TYPE_CHECKING:
    from pipeline.extract import ReadDocument

log = logging.getLogger(__name__)
MAX_WIDTH = 1240  # pixels: sharp enough on a screen, ~200 KB a page
MAX_PAGES = 20  # per document
PDF_SCALE = 2.0  # pixels per PDF point (144 dpi)

Snapshot = tuple[str, int, bytes, int, int, float]  # document, page, JPEG, width, height, scale


def _jpeg(img: Image.Image, scale: float) -> tuple[bytes, int, int, float]:
    if img.width > MAX_WIDTH:
        ratio = MAX_WIDTH / img.width
        # OpenCV's area average: what a downscale wants, at a third of the CPU of Pillow's bicubic resize on
        # a 200-dpi A4 page (23 ms against 55), with a slightly smaller JPEG
        size = (MAX_WIDTH, max(1, round(img.height * ratio)))
        img = Image.fromarray(cv2.resize(np.asarray(img.convert("RGB")), size, interpolation=cv2.INTER_AREA))
        scale *= ratio
    buf = io.BytesIO()
    img.convert("RGB").save(buf, "JPEG", quality=80, optimize=True)
    return buf.getvalue(), img.width, img.height, scale


def snapshots(files: list[tuple[str, str, bytes]], docs: list[ReadDocument]) -> list[Snapshot]:
    out: list[Snapshot] = []
    for (name, _sha, data), doc in zip(files, docs, strict=True):
        for page, img in sorted(doc.page_images.items())[:MAX_PAGES]:
            out.append((name, page, *_jpeg(img, 1.0)))
        if doc.text_source != TextSource.PDF_TEXT:
            continue
        for page in range(1, min(doc.pages, MAX_PAGES) + 1):
            if page in doc.page_images:
                continue
            try:
                img = render_page(data, page - 1, PDF_SCALE)
            except Exception as exc:  # a page that will not render is shown without an image
                log.warning("%s page %d: cannot render for review: %s", name, page, exc)
                continue
            out.append((name, page, *_jpeg(img, PDF_SCALE)))
    return out
