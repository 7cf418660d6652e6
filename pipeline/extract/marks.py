"""Seal (red 公章) and handwritten signature presence on a scanned 申请表, from pixels."""

from __future__ import annotations

import numpy as np
from PIL import Image

from pipeline.extract.forms import TextItem, norm_label
from pipeline.models import BBox, Evidence, Field

SEAL_MIN_SHARE = 0.0015  # red pixels / page pixels
INK_MIN_SHARE = 0.004  # dark pixels / signature area (a thin pen signature covers under 1 %)


def red_mask(img: Image.Image) -> np.ndarray:
    arr = np.asarray(img.convert("RGB")).astype(np.int16)
    r, g, b = arr[:, :, 0], arr[:, :, 1], arr[:, :, 2]
    return (r > 140) & (r - g > 50) & (r - b > 50)


GREY_SEAL_SCALE = 4  # the circle search runs on a copy this many times smaller (a seal is large)


def seal_field(img: Image.Image, document: str, page: int) -> Field:
    mask = red_mask(img)
    share = float(mask.mean())
    if share < SEAL_MIN_SHARE:
        circles = grey_circles(img)
        if circles:  # a seal that is not red: a black-and-white scan or photocopy of the original
            # sure only when an unbroken inked ring is there (a seal's rim); any other round shape a person checks
            ring, found = max((ring_share(img, c), c) for c in circles)
            return Field("是", 0.95 if ring >= RING_SHARE else 0.6, Evidence(document, page, found))
        return Field("否", min(1.0, 0.9 + (SEAL_MIN_SHARE - share) / SEAL_MIN_SHARE * 0.1), Evidence(document, page))
    ys, xs = np.nonzero(mask)
    bbox: BBox = (float(xs.min()), float(ys.min()), float(xs.max()), float(ys.max()))
    w, h = bbox[2] - bbox[0], bbox[3] - bbox[1]
    roundish = 0.6 < (w / h if h else 0) < 1.6
    return Field("是", 0.97 if roundish else 0.7, Evidence(document, page, bbox))


GREY_CIRCLES = 3  # the strongest circles tried as a seal's rim


def grey_circles(img: Image.Image) -> list[BBox]:
    """Large circles in the lower half of a page that has no colour at all (searched on a reduced copy)."""
    import cv2

    arr = np.asarray(img.convert("RGB")).astype(np.int16)
    if float((arr.max(axis=2) - arr.min(axis=2)).mean()) > 12:
        return []  # a colour scan without red: no seal
    grey = np.asarray(img.convert("L"))
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


def ring_share(img: Image.Image, circle: BBox) -> float:
    """How surely a grey circle is a seal: the share of 120 directions from the centre in which a thin circle
    (±3 % of the radius) holds ink, for the best centre and radius near the one found on the reduced copy —
    a seal's rim is one unbroken ring, so some circle close by is inked all round, while rules, text or a
    signature cover a part of any circle only — when the band inside the rim holds ink in enough directions
    (a seal's name runs along it; a drawn circle is empty)."""
    grey = np.asarray(img.convert("L")).astype(np.int16)
    x0, y0, x1, y1 = circle
    cx, cy, r = (x0 + x1) / 2, (y0 + y1) / 2, (x1 - x0) / 2
    if r < 8:
        return 0.0
    ink = grey < int(np.median(grey)) - RING_CONTRAST
    angles = np.radians(np.arange(0, 360, 3))
    cos, sin = np.cos(angles)[:, None], np.sin(angles)[:, None]

    def share(x: float, y: float, radii: np.ndarray) -> float:
        xs = np.clip((x + radii * cos).astype(int), 0, ink.shape[1] - 1)
        ys = np.clip((y + radii * sin).astype(int), 0, ink.shape[0] - 1)
        return float(ink[ys, xs].any(axis=1).mean())

    best, at = 0.0, (cx, cy, r)
    for radius in r * np.arange(0.85, 1.16, 0.025):
        for dx in r * np.arange(-0.08, 0.081, 0.02):
            for dy in r * np.arange(-0.08, 0.081, 0.02):
                rim = share(cx + dx, cy + dy, radius * np.linspace(0.97, 1.03, 5))
                if rim > best:
                    best, at = rim, (cx + dx, cy + dy, radius)
    x, y, radius = at
    inside = share(x, y, radius * np.linspace(0.65, 0.9, 11))  # a seal's name runs along about 2/3 of it
    return best if inside >= RING_TEXT else min(best, inside)


SIGNATURE_INK = 140  # grey level below which a pixel is pen ink (a thin or blue-black signature included)


def signature_field(img: Image.Image, items: list[TextItem], document: str, page: int) -> Field | None:
    """Ink to the right of the 签字 label (red seal pixels are not ink).  The OCR line may run on past the
    label (``签字：许欣``): the area starts where 签字 ends inside it."""
    label = next((it for it in items if it.page == page and "签字" in norm_label(it.text)), None)
    if label is None:
        return None
    x0, y0, x1, y1 = label.bbox
    text = norm_label(label.text)
    h = y1 - y0
    # where 签字 ends: proportionally inside the line box, but no further than the label's own characters
    # reach (about one line height each), since the box may run on over a scribble touching the colon
    proportional = x0 + (x1 - x0) * (text.index("签字") + 2) / len(text)
    x1 = min(proportional, x0 + (label.text.index("签字") + 2) * h)
    box = (int(x1), int(max(0, y0 - h)), int(min(img.width, x1 + 12 * h)), int(min(img.height, y1 + h)))
    crop = img.convert("RGB").crop(box)
    grey = np.asarray(crop.convert("L"))
    ink = (grey < SIGNATURE_INK) & ~red_mask(crop)
    share = float(ink.mean()) if ink.size else 0.0
    value = "是" if share >= INK_MIN_SHARE else "否"
    conf = min(0.99, 0.8 + abs(share - INK_MIN_SHARE) * 10)
    return Field(value, conf, Evidence(document, page, tuple(float(v) for v in box)))  # type: ignore[arg-type]
