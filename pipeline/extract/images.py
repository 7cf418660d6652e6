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


EXIF_ORIENTATION = 0x0112


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
                # one copy of the pixels per page, not three (copy, EXIF turn, RGB): 0.1 s on a 300-dpi page
                if img.mode != "RGB":
                    frame = img.convert("RGB")
                elif n == 1:
                    img.load()
                    frame = img
                else:
                    frame = img.copy()  # the next seek reuses the decoder's frame
                try:
                    if img.getexif().get(EXIF_ORIENTATION, 1) != 1:
                        frame = ImageOps.exif_transpose(frame) or frame
                except Exception as exc:  # broken EXIF orientation: keep the frame as stored
                    log.info("ignoring unusable EXIF orientation: %s", exc)
                pages.append(frame)
            return pages
    except ImageRejected:
        raise
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as exc:
        raise ImageRejected("IMAGE_TOO_LARGE", str(exc)) from exc
    except (UnidentifiedImageError, OSError, ValueError, EOFError, SyntaxError) as exc:
        raise ImageRejected("IMAGE_CORRUPT", f"cannot decode image: {exc}") from exc


MAX_SKEW_SLOPE = math.tan(math.radians(8))  # steeper is no scanner skew


def scale_for_ocr(img: Image.Image) -> Image.Image:
    long_side = max(img.size)
    if long_side <= OCR_LONG_SIDE:
        return img
    f = OCR_LONG_SIDE / long_side
    # OpenCV's area average, the filter for a reduction: a 300-dpi A4 page in 70 ms against Pillow's Lanczos
    # 210 ms
    size = (round(img.width * f), round(img.height * f))
    pixels = np.asarray(img if img.mode in ("RGB", "L") else img.convert("RGB"))
    return Image.fromarray(cv2.resize(pixels, size, interpolation=cv2.INTER_AREA))


def estimate_skew(img: Image.Image) -> float:
    """Skew in degrees (positive = counter-clockwise) from the page's long near-horizontal rules.

    Each rule that survives a horizontal opening is one connected component; its centre line (the mean row of
    its ink per column) is fitted with a straight line.  On pages turned by known angles this is within 0.01°
    (median) where a 0.1°-step Hough search was within 0.06°, at a twelfth of the CPU."""
    grey = np.asarray(img.convert("L"))
    if img.width > 1000:  # angles survive scaling; the search is ~4x cheaper on a half-size page
        grey = cv2.resize(grey, (img.width // 2, img.height // 2), interpolation=cv2.INTER_AREA)
    binary = cv2.threshold(grey, 0, 255, cv2.THRESH_BINARY_INV | cv2.THRESH_OTSU)[1]
    # a grey or thin rule binarises into dashes on alternating rows, and tilted it steps from row to row:
    # thickened across by a pixel either way its steps overlap and its dashes join (the centre line the angle
    # is fitted to stays where it was)
    binary = cv2.dilate(binary, cv2.getStructuringElement(cv2.MORPH_RECT, (1, 3)))
    angles: list[float] = []
    # a long opening keeps only rules; a thin rule tilted by 2–3° breaks into short steps, so a shorter one
    # is tried next (its steps still touch corner to corner; text strokes that survive it are short)
    width = grey.shape[1]
    for length in (max(40, width // 20), max(12, width // 60)):
        horiz = cv2.morphologyEx(binary, cv2.MORPH_OPEN, cv2.getStructuringElement(cv2.MORPH_RECT, (length, 1)))
        angles = _rule_angles(horiz, width // 4)
        if angles:
            break
    return -float(np.median(angles)) if angles else 0.0


def _rule_angles(horiz: np.ndarray, min_width: int) -> list[float]:
    """The angle of every long, flat component of a horizontally opened page."""
    count, labels, stats, _ = cv2.connectedComponentsWithStats(horiz, connectivity=8)
    angles = []
    for i in range(1, count):
        x, y, w, h = (int(v) for v in stats[i, :4])
        if w < min_width or h > w * MAX_SKEW_SLOPE + 12:  # short, or too steep to be a skewed rule
            continue
        ys, xs = np.nonzero(labels[y : y + h, x : x + w] == i)
        ink = np.bincount(xs, minlength=w)
        cols = np.nonzero(ink)[0]
        rows = np.bincount(xs, weights=ys, minlength=w)[cols] / ink[cols]
        slope = float(np.polyfit(cols, rows, 1)[0])
        angles.append(math.degrees(math.atan(slope)))
    return angles


TEXT_SKEW_MOST = 12.0  # degrees either way the text-line search tries (a page photographed by hand)
TEXT_SKEW_SIDE = 1000  # the search runs on a copy about this long


def text_skew(img: Image.Image) -> float:
    """Skew in degrees (positive: the lines run down to the right) from the text itself, for a page whose rules
    are lost or that has none: the angle at which the ink, projected onto rows, stacks most sharply (text lines
    are rows of ink with white between them), searched in half degrees and then in tenths.  0 without ink."""
    grey = np.asarray(img.convert("L"))
    f = max(1, round(max(grey.shape) / TEXT_SKEW_SIDE))
    small = cv2.resize(grey, (grey.shape[1] // f, grey.shape[0] // f), interpolation=cv2.INTER_AREA)
    ink = cv2.adaptiveThreshold(small, 1, cv2.ADAPTIVE_THRESH_MEAN_C, cv2.THRESH_BINARY_INV, 25, 15)
    ys, xs = np.nonzero(ink)
    if len(xs) < 500:
        return 0.0
    x, y = xs - xs.mean(), ys.astype(np.float64)

    def sharpness(degrees: float) -> float:
        t = math.radians(degrees)
        rows = np.round(y * math.cos(t) - x * math.sin(t)).astype(np.int64)
        counts = np.bincount(rows - rows.min()).astype(np.float64)
        return float((counts**2).sum())

    rough = max(np.arange(-TEXT_SKEW_MOST, TEXT_SKEW_MOST + 0.01, 0.5), key=sharpness)
    return float(max(np.arange(rough - 0.5, rough + 0.51, 0.1), key=sharpness))


def straighten(img: Image.Image) -> Image.Image:
    """The page turned so that its text lines run level (``text_skew``); as it was when they nearly do."""
    angle = text_skew(img)
    return _rotate(img, angle) if abs(angle) >= 0.5 else img


def deskew(img: Image.Image) -> tuple[Image.Image, float]:
    angle = estimate_skew(img)
    if abs(angle) < 0.15:
        return img, 0.0
    return _rotate(img, -angle), angle


def _rotate(img: Image.Image, degrees: float) -> Image.Image:
    """The page turned counter-clockwise about its centre, bicubic, white where the corners come in: OpenCV's
    warp, a third of the CPU of Pillow's rotate on an A4 page at 200 dpi."""
    arr = np.asarray(img.convert("RGB"))
    centre = ((img.width - 1) / 2, (img.height - 1) / 2)
    matrix = cv2.getRotationMatrix2D(centre, degrees, 1.0)
    out = cv2.warpAffine(arr, matrix, img.size, flags=cv2.INTER_CUBIC, borderValue=(255, 255, 255))
    return Image.fromarray(out)


def prepare(img: Image.Image) -> PreparedPage:
    img = scale_for_ocr(img)
    img, skew = deskew(img)
    return PreparedPage(img, 0, skew)


def rotate_page(img: Image.Image, degrees: int) -> Image.Image:
    return img.rotate(degrees, expand=True) if degrees else img
