"""Seal (red 公章) and handwritten signature presence on a scanned 申请表, from pixels."""

from __future__ import annotations

import re

import cv2
import numpy as np
from PIL import Image

from pipeline.extract.forms import TextItem, norm_label
from pipeline.models import BBox, Evidence, Field

SEAL_MIN_SHARE = 0.0015  # red pixels / page pixels
INK_MIN_SHARE = 0.004  # dark pixels / signature area (a thin pen signature covers under 1 %)


def red_mask(img: Image.Image) -> np.ndarray:
    """Red ink: red above 140 and above green and blue by more than 50 (differences saturate at 0)."""
    import cv2

    arr = np.asarray(img.convert("RGB"))
    r, g, b = arr[:, :, 0], arr[:, :, 1], arr[:, :, 2]
    return np.asarray((r > 140) & (cv2.subtract(r, g) > 50) & (cv2.subtract(r, b) > 50))


GREY_SEAL_SCALE = 4  # the circle search runs on a copy this many times smaller (a seal is large)


def seal_field(img: Image.Image, document: str, page: int) -> Field:
    mask = red_mask(img)
    share = float(mask.mean())
    if share < SEAL_MIN_SHARE:
        grey = np.asarray(img.convert("L"))
        circles = grey_circles(img, grey)
        if circles:  # a seal that is not red: a black-and-white scan or photocopy of the original
            # sure only when an unbroken inked ring is there (a seal's rim); any other round shape a person checks
            ink = grey < max(0, _median(grey) - RING_CONTRAST)
            ring, found = max(rim(ink, c) for c in circles)
            return Field("是", 0.95 if ring >= RING_SHARE else 0.6, Evidence(document, page, found))
        return Field("否", min(1.0, 0.9 + (SEAL_MIN_SHARE - share) / SEAL_MIN_SHARE * 0.1), Evidence(document, page))
    ys, xs = np.nonzero(mask)
    bbox: BBox = (float(xs.min()), float(ys.min()), float(xs.max()), float(ys.max()))
    w, h = bbox[2] - bbox[0], bbox[3] - bbox[1]
    roundish = 0.6 < (w / h if h else 0) < 1.6
    return Field("是", 0.97 if roundish else 0.7, Evidence(document, page, bbox))


GREY_CIRCLES = 3  # the strongest circles tried as a seal's rim


def _median(grey: np.ndarray) -> int:
    """The median grey level of a page (as np.median gives it on whole levels), from its histogram."""
    counts = np.cumsum(np.bincount(grey.ravel(), minlength=256))
    n = int(counts[-1])
    low = int(np.searchsorted(counts, (n - 1) // 2 + 1))  # the lower and upper middle values
    high = int(np.searchsorted(counts, n // 2 + 1))
    return int((low + high) / 2)


def grey_circles(img: Image.Image, grey: np.ndarray) -> list[BBox]:
    """Large circles in the lower half of a page that has no colour at all (searched on a reduced copy)."""
    import cv2

    r, g, b = cv2.split(np.asarray(img.convert("RGB")))
    spread = cv2.subtract(cv2.max(cv2.max(r, g), b), cv2.min(cv2.min(r, g), b))  # numpy's max over axis 2: 0.08 s
    if float(spread.mean()) > 12:
        return []  # a colour scan without red: no seal
    top = grey.shape[0] // 2
    lower = grey[top:]
    f = GREY_SEAL_SCALE
    small = cv2.resize(lower, (max(1, lower.shape[1] // f), max(1, lower.shape[0] // f)), interpolation=cv2.INTER_AREA)
    small = cv2.medianBlur(small, 3)
    size = min(img.size) / f
    circles = cv2.HoughCircles(
        small,
        cv2.HOUGH_GRADIENT,
        dp=1.2,
        minDist=size / 4,
        param1=120,
        param2=30,
        minRadius=int(size / 20),
        maxRadius=int(size / 7),
    )
    if circles is None:
        return []
    found = [(float(x) * f, float(y) * f, float(r) * f) for x, y, r in np.asarray(circles).reshape(-1, 3)]
    return [(x - r, top + y - r, x + r, top + y + r) for x, y, r in found[:GREY_CIRCLES]]


RING_SHARE = 0.9  # share of directions around a grey circle in which its rim carries ink (a seal: all of them)
RING_TEXT = 0.35  # share of directions in which the band inside the rim holds ink (the seal's name)
RING_CONTRAST = 40  # a rim pixel is ink when this much darker than the paper (a faint photocopied seal too)
_ANGLES = np.radians(np.arange(0, 360, 3))


def _shares(ink: np.ndarray, xs: np.ndarray, ys: np.ndarray, radii: np.ndarray) -> np.ndarray:
    """For each centre (xs[i], ys[i]) with its radii (radii[i, :]), the share of the 120 directions in which
    any of those radii lands on ink."""
    cos, sin = np.cos(_ANGLES)[None, :, None], np.sin(_ANGLES)[None, :, None]
    px = np.clip((xs[:, None, None] + radii[:, None, :] * cos).astype(int), 0, ink.shape[1] - 1)
    py = np.clip((ys[:, None, None] + radii[:, None, :] * sin).astype(int), 0, ink.shape[0] - 1)
    return np.asarray(ink[py, px].any(axis=2).mean(axis=1))


def rim(ink: np.ndarray, circle: BBox) -> tuple[float, BBox]:
    """How surely a grey circle is a seal: the share of 120 directions from the centre in which a thin circle
    (±3 % of the radius) holds ink, for the best centre and radius near the one found on the reduced copy —
    a seal's rim is one unbroken ring, so some circle close by is inked all round, while rules, text or a
    signature cover a part of any circle only — when the band inside the rim holds ink in enough directions
    (a seal's name runs along it; a drawn circle is empty).  ``ink``: the page's ink mask.  With it, the box
    of that best circle: the circle found on the reduced copy can lie a few pixels off the rim."""
    x0, y0, x1, y1 = circle
    cx, cy, r = (x0 + x1) / 2, (y0 + y1) / 2, (x1 - x0) / 2
    if r < 8:
        return 0.0, circle
    # every candidate rim at once, in the order radius, dx, dy (the first best one wins)
    radius, dx, dy = np.meshgrid(
        r * np.arange(0.85, 1.16, 0.025),
        r * np.arange(-0.08, 0.081, 0.02),
        r * np.arange(-0.08, 0.081, 0.02),
        indexing="ij",
    )
    xs, ys, rad = (cx + dx).ravel(), (cy + dy).ravel(), radius.ravel()
    rims = _shares(ink, xs, ys, rad[:, None] * np.linspace(0.97, 1.03, 5)[None, :])
    best = int(np.argmax(rims))
    if rims[best] <= 0.0:
        best_share, (x, y, at) = 0.0, (cx, cy, r)
    else:
        best_share, (x, y, at) = float(rims[best]), (float(xs[best]), float(ys[best]), float(rad[best]))
    band = at * np.linspace(0.65, 0.9, 11)  # a seal's name runs along about 2/3 of it
    inside = float(_shares(ink, np.array([x]), np.array([y]), band[None, :])[0])
    found = (x - at, y - at, x + at, y + at)
    return (best_share if inside >= RING_TEXT else min(best_share, inside)), found


SIGNATURE_INK = 140  # grey level below which a pixel is pen ink (a thin or blue-black signature included)


STROKE_CONFIDENCE = 0.95
STROKE_INK = 180  # a stroke is followed through its paler parts: a thin pen line greys where it thins
# on white paper a stroke's pixel may be paler: this much under the paper's level, up to this grey (a speckled
# or grey copy keeps STROKE_INK)
STROKE_CONTRAST, STROKE_INK_MOST = 45, 205


def _strokes(grey: np.ndarray, seal: np.ndarray, line_h: float) -> list[tuple[int, int, int, int, float]]:
    """The connected written strokes in the area (its grey levels, the seal's pixels in it) at least two line
    heights wide and half a line high (a scribbled signature), each as x, y, width, height and its flatness:
    the most ink one pixel row holds over the stroke's width.  A printed underline is flat or too low; photocopy
    speckle and dust are small and apart; the separate characters of a written date stay apart.  A pixel is
    the pen's below STROKE_INK, or on white paper below the paper less STROKE_CONTRAST (at most
    STROKE_INK_MOST): a thin pale pen line of a 150-dpi copy greys to 165–185 on paper of 249."""
    level = max(STROKE_INK, min(STROKE_INK_MOST, _median(grey) - STROKE_CONTRAST))
    ink = ((grey < level) & ~seal).astype(np.uint8)
    joined = cv2.dilate(ink, np.ones((3, 3), np.uint8))  # a thin line breaks at places
    n, labels, stats, _ = cv2.connectedComponentsWithStats(joined, connectivity=8)
    found = []
    for i in range(1, n):
        x, y, w, hh = (int(v) for v in stats[i, :4])
        if w >= 2 * line_h and hh >= 0.5 * line_h:
            rows = (labels[y : y + hh, x : x + w] == i).sum(axis=1)
            found.append((x, y, w, hh, float(rows.max()) / w))
    return found


FLAT = 0.5  # a row inked over half a stroke's width: a rule, or a rule's corner, not a pen's zigzag


def _scribbled(strokes: list[tuple[int, int, int, int, float]], line_h: float) -> bool:
    """Whether a stroke is a scribble written on the label's own line (the area starts one line above it):
    centred within ¾ of a line of it, and nowhere flat like a rule."""
    return any(abs(y + hh / 2 - 1.5 * line_h) <= 0.75 * line_h and flat < FLAT for _x, y, _w, hh, flat in strokes)


def _char_width(items: list[TextItem], page: int, default: float) -> float:
    """The width of one character on the page: the median over its lines of four characters or more."""
    widths = [(it.bbox[2] - it.bbox[0]) / len(it.text) for it in items if it.page == page and len(it.text) >= 4]
    return float(np.median(widths)) if widths else default


SIGN_LABEL = re.compile(r"签\s*字")  # as typed or as read with a blank between (``签 字``)


SEAL_MARGIN = 1.1  # a seal's disk, its rim's blur and a stamp's smudge within a tenth of its radius more
SEAL_EDGE = 0.25  # line heights around red pixels that are the seal's darker or paler rim edge


def _not_seal(crop: Image.Image, box: tuple[int, int, int, int], seal: BBox | None, line_h: float) -> np.ndarray:
    """Pixels of the crop (at ``box`` on the page) that are not the seal's: its red pixels, the dark or pale
    edge beside them that is not red enough, and — for a seal found as a round shape (``seal``: its box on the
    page) with no red in the area, as a photocopied seal has none — all of its disk (a pen on it is not told
    from the seal's own name and star, as dark in a grey copy).  A seal stamped across the signature line
    leaves ink there, a rim as long and as curved as a scribble (unsigned forms of seeds 61616 and 72727: 11
    of 51 signed at ≥ 0.95 before)."""
    red = red_mask(crop)
    k = max(3, int(SEAL_EDGE * line_h) | 1)
    keep = ~cv2.dilate(red.astype(np.uint8), np.ones((k, k), np.uint8)).astype(bool)
    if seal is not None and not red.any():  # a red seal is its red and the edge beside it: a name across it stays
        x0, y0, x1, y1 = seal
        w, h = x1 - x0, y1 - y0
        if h > 0 and 0.8 < w / h < 1.25:  # a round seal, not the box of red scattered over the page
            cx, cy, r = (x0 + x1) / 2 - box[0], (y0 + y1) / 2 - box[1], (w + h) / 4 * SEAL_MARGIN
            ys, xs = np.ogrid[: keep.shape[0], : keep.shape[1]]
            keep &= (xs - cx) ** 2 + (ys - cy) ** 2 > r * r
    return np.asarray(keep)


def signature_field(
    img: Image.Image, items: list[TextItem], document: str, page: int, seal: BBox | None = None
) -> Field | None:
    """Ink to the right of the 签字 label that is not the seal's (``seal``: where the seal was found, if it
    was).  The OCR line may run on past the label (``签字：许欣``): the area starts where 签字 ends inside it."""
    label = next((it for it in items if it.page == page and "签字" in norm_label(it.text)), None)
    if label is None:
        return None
    x0, y0, x1, y1 = label.bbox
    text = norm_label(label.text)
    h = y1 - y0
    # where 签字 ends: proportionally inside the line box, but no further than the label's own characters
    # reach (about one line height each), since the box may run on over a scribble touching the colon — a
    # scribble that also makes the box taller, so a character is no wider than the page's lines say
    proportional = x0 + (x1 - x0) * (text.index("签字") + 2) / len(text)
    at = SIGN_LABEL.search(label.text)
    chars = at.end() if at else len(label.text)  # the raw text's characters up to the label's end
    x1 = min(proportional, x0 + chars * min(h, _char_width(items, page, h)))
    box = (int(x1), int(max(0, y0 - h)), int(min(img.width, x1 + 12 * h)), int(min(img.height, y1 + h)))
    crop = img.convert("RGB").crop(box)
    grey, seal_ink = np.asarray(crop.convert("L")), ~_not_seal(crop, box, seal, h)
    ink = (grey < SIGNATURE_INK) & ~seal_ink
    share = float(ink.mean()) if ink.size else 0.0
    strokes = _strokes(grey, seal_ink, h)
    value = "是" if share >= INK_MIN_SHARE else "否"
    # sure of a signature from twice the least ink a signature leaves, or from one long written stroke: a
    # thin pen scribble in a wide space leaves little ink; fainter, thinner or scattered ink, or a small
    # name, is one a person looks at (the validator routes an unsure 是 to review)
    conf = min(0.99, 0.8 + abs(share - INK_MIN_SHARE) / INK_MIN_SHARE * 0.1)
    if value == "是" and strokes:
        conf = max(conf, STROKE_CONFIDENCE)
    elif value == "否" and _scribbled(strokes, h):
        # a thin pale scribble of a 150-dpi scan keeps under the least dark ink a signature leaves (seed
        # 40404: 0.72 of it), yet its zigzag runs on unbroken through its paler pixels on the label's line
        value, conf = "是", STROKE_CONFIDENCE
    return Field(value, conf, Evidence(document, page, tuple(float(v) for v in box)))  # type: ignore[arg-type]


SIGNED_NAME_CONFIDENCE = 0.95


def signed_name(items: list[TextItem], page: int) -> str | None:
    """The name the OCR reads on the 签字 line after the label (blanks dropped: a hand spaces its
    characters) — in the label's own line box, or in a box of its own beginning on the line within the
    signature area (a name written on a seal is read apart: seed 62626, 杨怡勇 inside a grey seal's disk) —
    or None when there is none or it is no name (2–4 Chinese characters)."""
    label = next((it for it in items if it.page == page and "签字" in norm_label(it.text)), None)
    if label is None:
        return None
    at = SIGN_LABEL.search(label.text)
    if at is None:
        return None
    own = _name(label.text[at.end() :])
    if own:
        return own
    _x0, y0, x1, y1 = label.bbox
    h = y1 - y0
    beside = [
        it
        for it in items
        if it.page == page
        and it is not label
        and y0 <= (it.bbox[1] + it.bbox[3]) / 2 <= y1
        and x1 - h <= it.bbox[0] <= x1 + 12 * h
    ]
    first = min(beside, key=lambda it: it.bbox[0], default=None)
    return _name(first.text) if first is not None else None


def _name(text: str) -> str | None:
    """The text as a written name: blanks and a leading colon dropped, 2–4 Chinese characters, else None."""
    name = re.sub(r"\s", "", text).lstrip(":：")
    return name if re.fullmatch(r"[\u4e00-\u9fff]{2,4}", name) else None
