"""Tick boxes read from pixels: find the squares in the category row and measure the ink inside them."""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np
from PIL import Image

from pipeline.extract.forms import TextItem
from pipeline.models import BBox

INK_TICKED = 0.10  # share of dark pixels inside the square (inner 70 %) that means "ticked"


@dataclass(frozen=True)
class TickBox:
    bbox: BBox
    ink: float

    @property
    def ticked(self) -> bool:
        return self.ink >= INK_TICKED


def find_boxes(img: Image.Image, region: BBox, text_height: float) -> list[TickBox]:
    x0, y0, x1, y1 = (int(max(0, v)) for v in region)
    pad = int(text_height * 0.6)
    y0, y1 = max(0, y0 - pad), min(img.height, y1 + pad)
    crop = np.asarray(img.convert("L").crop((x0, y0, x1, y1)))
    if crop.size == 0:
        return []
    binary = cv2.threshold(crop, 0, 255, cv2.THRESH_BINARY_INV | cv2.THRESH_OTSU)[1]
    contours, _ = cv2.findContours(binary, cv2.RETR_LIST, cv2.CHAIN_APPROX_SIMPLE)
    lo, hi = text_height * 0.45, text_height * 1.4
    boxes: list[TickBox] = []
    for c in contours:
        x, y, w, h = cv2.boundingRect(c)
        if not (lo <= w <= hi and lo <= h <= hi and 0.75 <= w / h <= 1.33):
            continue
        # the outline must be a near-rectangle (a filled glyph such as 口 inside text is rejected below)
        peri = cv2.arcLength(c, True)
        approx = cv2.approxPolyDP(c, 0.06 * peri, True)
        if len(approx) != 4:
            continue
        inner = binary[y + int(h * 0.18) : y + h - int(h * 0.18), x + int(w * 0.18) : x + w - int(w * 0.18)]
        ink = float((inner > 0).mean()) if inner.size else 0.0
        bb = (float(x0 + x), float(y0 + y), float(x0 + x + w), float(y0 + y + h))
        dup = next(
            (i for i, b in enumerate(boxes) if abs(bb[0] - b.bbox[0]) < w * 0.5 and abs(bb[1] - b.bbox[1]) < h * 0.5),
            None,
        )
        if dup is None:
            boxes.append(TickBox(bb, ink))
        elif w > boxes[dup].bbox[2] - boxes[dup].bbox[0]:  # outer and inner contour of one square
            boxes[dup] = TickBox(bb, ink)
    return sorted(boxes, key=lambda b: b.bbox[0])


def _char_width(ch: str) -> float:
    """Relative advance: CJK and full-width forms are square, ASCII about half as wide."""
    return 0.5 if ord(ch) < 0x2000 and ch not in "□☐☑☒■" else 1.0


BOX_GLYPHS = "□☐☑☒■口"


def option_positions(items: list[TextItem], options: tuple[str, ...]) -> dict[str, tuple[float, float]]:
    """(expected x centre of each option's box, width of one character), CJK/ASCII weighted.

    When OCR read the box as a glyph (□, ☑, 口 …) the box is that character's slot before the word; when
    the word starts its OCR box with no glyph, the detector's box usually began at the (unread) checkbox,
    so the checkbox is the box's first slot."""
    pos: dict[str, tuple[float, float]] = {}
    for it in items:
        text = it.text
        x0, _, x1, _ = it.bbox
        # a box the detector included but the recogniser dropped takes the first slot of the OCR box
        lead = 1.0 if text and text[0] not in BOX_GLYPHS and any(text.startswith(o) for o in options) else 0.0
        unit = (x1 - x0) / ((sum(_char_width(c) for c in text) + lead) or 1.0)
        for opt in options:
            i = text.find(opt)
            if i < 0 or opt in pos:
                continue
            start = x0 + unit * (lead + sum(_char_width(c) for c in text[:i]))
            pos[opt] = (start - unit / 2, unit)
    return pos


def ticked_options(
    img: Image.Image, region: BBox, items: list[TextItem], options: tuple[str, ...]
) -> tuple[list[str], list[TickBox], float] | None:
    """(ticked options, boxes, confidence) or None when the boxes cannot be paired with the options."""
    if not items:
        return None
    text_h = float(np.median([it.bbox[3] - it.bbox[1] for it in items]))
    boxes = find_boxes(img, region, text_h)
    pos = option_positions(items, options)
    if not boxes or not pos:
        return None
    ticked: list[str] = []
    margins: list[float] = []
    # printed checkboxes all have one size; glyphs such as 口 or 日 inside the text are a little smaller
    widest = max(b.bbox[2] - b.bbox[0] for b in boxes)
    printed = [b for b in boxes if b.bbox[2] - b.bbox[0] >= 0.88 * widest]
    if len(printed) == len(options) == len(pos):
        for opt, b in zip(sorted(pos, key=lambda o: pos[o][0]), printed, strict=True):
            if b.ticked:
                ticked.append(opt)
            margins.append(abs(b.ink - INK_TICKED))
        return ticked, boxes, min(1.0, 0.8 + min(margins) * 2)
    used: set[int] = set()
    for opt, (target, unit) in pos.items():
        free = [i for i in range(len(boxes)) if i not in used]
        if not free:
            return None
        best = min(free, key=lambda i: abs((boxes[i].bbox[0] + boxes[i].bbox[2]) / 2 - target))
        if abs((boxes[best].bbox[0] + boxes[best].bbox[2]) / 2 - target) > max(unit, text_h) * 1.5:
            return None
        used.add(best)
        b = boxes[best]
        if b.ticked:
            ticked.append(opt)
        margins.append(abs(b.ink - INK_TICKED))
    confidence = min(1.0, 0.8 + min(margins) * 2) if margins else 0.0
    return ticked, boxes, confidence
