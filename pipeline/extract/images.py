"""Image preparation with Pillow (and OpenCV, which rapidocr already depends on).

Safe loading (pixel limits against decompression bombs, EXIF orientation, multi-page TIFF), small
skew correction from the table's horizontal lines, and 90°/180° page rotation detection.
"""

from __future__ import annotations

import io
import logging
import math
import warnings
from dataclasses import dataclass

import cv2
import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

MAX_PIXELS = 60_000_000  # ~ A3 at 600 dpi; anything larger is refused, not decoded
MAX_PAGES = 50
OCR_LONG_SIDE = 2400  # images are scaled down to this before OCR (≈ A4 at 200 dpi)

Image.MAX_IMAGE_PIXELS = MAX_PIXELS
log = logging.getLogger(__name__)


class ImageRejected(ValueError):
    """The file is not an image we may decode (bomb, corrupt, unsupported)."""

    def __init__(self, code: str, reason: str) -> None:
        super().__init__(reason)
        self.code = code
        self.reason = reason


@dataclass(frozen=True)
class PreparedPage:
    image: Image.Image
    rotation: int  # degrees applied to upright the page (0/90/180/270)
    skew: float  # degrees of deskew applied


def load_pages(data: bytes) -> list[Image.Image]:
    """Decode every frame of an image file into RGB pages, refusing bombs and junk."""
    if not data:
        raise ImageRejected("FILE_EMPTY", "empty file")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            img = Image.open(io.BytesIO(data))
            w, h = img.size
            if w * h > MAX_PIXELS:
                raise ImageRejected("IMAGE_TOO_LARGE", f"{w}x{h} pixels exceeds the limit of {MAX_PIXELS}")
            n = getattr(img, "n_frames", 1)
            if n < 1:
                raise ImageRejected("IMAGE_NO_FRAMES", "image has no frames")
            pages = []
            for i in range(min(n, MAX_PAGES)):
                img.seek(i)
                frame = img.copy()
                try:
                    frame = ImageOps.exif_transpose(frame) or frame
                except Exception as exc:  # broken EXIF orientation: keep the frame as stored
                    log.info("ignoring unusable EXIF orientation: %s", exc)
                pages.append(frame.convert("RGB"))
            return pages
    except ImageRejected:
        raise
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as exc:
        raise ImageRejected("IMAGE_TOO_LARGE", str(exc)) from exc
    except (UnidentifiedImageError, OSError, ValueError, EOFError, SyntaxError) as exc:
        raise ImageRejected("IMAGE_CORRUPT", f"cannot decode image: {exc}") from exc


def scale_for_ocr(img: Image.Image) -> Image.Image:
    long_side = max(img.size)
    if long_side <= OCR_LONG_SIDE:
        return img
    f = OCR_LONG_SIDE / long_side
    return img.resize((round(img.width * f), round(img.height * f)), Image.Resampling.LANCZOS)


def estimate_skew(img: Image.Image) -> float:
    """Skew in degrees (positive = counter-clockwise) from long near-horizontal lines."""
    if img.width > 1000:  # angles survive scaling; the line search is ~4x cheaper on a half-size page
        img = img.resize((img.width // 2, img.height // 2), Image.Resampling.BILINEAR)
    grey = np.asarray(img.convert("L"))
    binary = cv2.threshold(grey, 0, 255, cv2.THRESH_BINARY_INV | cv2.THRESH_OTSU)[1]
    lines = None
    # a long opening keeps only rules; a thin rule tilted by 2–3° breaks into short steps, so a shorter one
    # is tried next (text strokes that survive it are too short for the Hough minimum length)
    for length in (max(40, img.width // 20), max(12, img.width // 60)):
        horiz = cv2.morphologyEx(binary, cv2.MORPH_OPEN, cv2.getStructuringElement(cv2.MORPH_RECT, (length, 1)))
        lines = cv2.HoughLinesP(horiz, 1, math.pi / 1800, threshold=200, minLineLength=img.width // 4, maxLineGap=20)
        if lines is not None:
            break
    if lines is None:
        return 0.0
    angles = []
    for x1, y1, x2, y2 in np.asarray(lines).reshape(-1, 4):
        if x2 == x1:
            continue
        a = math.degrees(math.atan2(y2 - y1, x2 - x1))
        if abs(a) < 8:
            angles.append(a)
    if not angles:
        return 0.0
    return -float(np.median(angles))


def deskew(img: Image.Image) -> tuple[Image.Image, float]:
    angle = estimate_skew(img)
    if abs(angle) < 0.15:
        return img, 0.0
    return img.rotate(-angle, resample=Image.Resampling.BICUBIC, expand=False, fillcolor="white"), angle


def prepare(img: Image.Image) -> PreparedPage:
    img = scale_for_ocr(img)
    img, skew = deskew(img)
    return PreparedPage(img, 0, skew)


def rotate_page(img: Image.Image, degrees: int) -> Image.Image:
    return img.rotate(degrees, expand=True) if degrees else img
