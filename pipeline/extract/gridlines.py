"""Text lines of a ruled form from its pixels, so the OCR detector can be skipped.

A 申请表 is a table: its ruling lines are long runs of dark pixels, found with two morphological openings.
Removing them leaves the text; joining the characters of each line with a short horizontal dilation —
never across a ruling line, which stays a barrier — gives one connected component per text line.  Those
boxes go straight to the recogniser (the detector, about half of a full-page OCR call, is not run).

Red seals vanish in the red channel, which is the one binarised; a page without a grid (a photo, a licence
copy) returns None and is OCR'd the usual way.
"""

from __future__ import annotations

import cv2
import numpy as np
from PIL import Image

from pipeline.models import BBox

MIN_H_LINES = 5  # long horizontal rules a page needs to count as a ruled form
MIN_V_LINES = 2


def _rules(binary: np.ndarray, length: int, axis: int) -> tuple[np.ndarray, int]:
    """Mask of the ruling lines along ``axis`` (1: horizontal) at least ``length`` long, and their count."""
    size = (length, 1) if axis == 1 else (1, length)
    mask = cv2.morphologyEx(binary, cv2.MORPH_OPEN, cv2.getStructuringElement(cv2.MORPH_RECT, size))
    profile = (mask > 0).any(axis=axis)
    count = int(np.count_nonzero(np.diff(profile.astype(np.int8)) == 1))
    return mask, count


def text_lines(img: Image.Image) -> list[BBox] | None:
    """Boxes (x0, y0, x1, y1) of the text lines of a ruled page, in reading order; None without a grid."""
    rgb = np.asarray(img.convert("RGB"))
    red = np.ascontiguousarray(rgb[:, :, 0])
    binary = cv2.threshold(red, 0, 255, cv2.THRESH_BINARY_INV | cv2.THRESH_OTSU)[1]
    height, width = binary.shape
    horiz, n_h = _rules(binary, max(60, width // 12), axis=1)
    vert, n_v = _rules(binary, max(40, height // 40), axis=0)
    if n_h < MIN_H_LINES or n_v < MIN_V_LINES:
        return None
    grid = cv2.dilate(cv2.bitwise_or(horiz, vert), np.ones((5, 5), np.uint8))
    text = cv2.bitwise_and(binary, cv2.bitwise_not(grid))
    unit = max(8, height // 120)  # about half a character's height on an A4 page
    # joins the gaps between characters (and the blank half of a full-width comma or bracket), not the
    # wider one between a label and what is written or signed after it
    joined = cv2.dilate(text, cv2.getStructuringElement(cv2.MORPH_RECT, (round(1.4 * unit), 3)))
    joined[grid > 0] = 0  # a ruling line is a barrier: a label never joins the value beside it
    n, _labels, stats, _ = cv2.connectedComponentsWithStats(joined, connectivity=8)
    boxes: list[BBox] = []
    min_h = max(6, unit // 2)
    for i in range(1, n):
        x, y, w, h, area = (int(v) for v in stats[i])
        if h < min_h or w < min_h or area < 3 * min_h * min_h:
            continue  # speckle, a stroke fragment, noise
        ink = text[y : y + h, x : x + w]
        cols = np.flatnonzero(ink.any(axis=0))
        rows = np.flatnonzero(ink.any(axis=1))
        if cols.size == 0 or rows.size == 0:
            continue
        x0, x1 = x + int(cols[0]), x + int(cols[-1]) + 1
        y0, y1 = y + int(rows[0]), y + int(rows[-1]) + 1
        pad = max(3, unit // 3)
        box = (max(0, x0 - pad), max(0, y0 - pad), min(width, x1 + pad), min(height, y1 + pad))
        boxes.append((float(box[0]), float(box[1]), float(box[2]), float(box[3])))
    boxes.sort(key=lambda b: (round((b[1] + b[3]) / 2 / unit), b[0]))
    return boxes
