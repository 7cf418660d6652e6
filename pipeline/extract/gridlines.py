"""Text lines and cells of a ruled form from its pixels, so the OCR detector can be skipped.

A 申请表 is a table: its ruling lines are long runs of dark pixels, found with two morphological openings.
Removing them leaves the text; joining the characters of each line with a short horizontal dilation —
never across a ruling line, which stays a barrier — gives one connected component per text line.  Those
boxes go straight to the recogniser (the detector, about half of a full-page OCR call, is not run).

The same rules give the table's **cells**: the regions the rules enclose are the connected components of
the page without the rules (a merged or spanning cell is simply one larger region).  Regions that touch the
page's edge are outside the table.

Red seals vanish in the red channel, which is the one binarised; a page without a grid (a photo, a licence
copy) returns None and is OCR'd the usual way.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass

import cv2
import numpy as np
from PIL import Image

from pipeline.models import BBox

MIN_H_LINES = 5  # long horizontal rules a page needs to count as a ruled form
MIN_V_LINES = 2
MIN_CELLS = 6  # enclosed regions a page needs to count as a table


@dataclass(frozen=True)
class RuledPage:
    """What the pixels of a ruled page say: its text-line boxes (reading order) and its cells."""

    lines: list[BBox]
    cells: list[BBox]
    unit: int  # about half a character's height, px


def _rules(binary: np.ndarray, length: int, axis: int, gap: int = 3) -> tuple[np.ndarray, int]:
    """Mask of the ruling lines along ``axis`` (1: horizontal) at least ``length`` long, and their count."""
    size = (length, 1) if axis == 1 else (1, length)
    across, along = ((1, 3), (gap, 1)) if axis == 1 else ((3, 1), (1, gap))  # kernel sizes are (width, height)
    # a faint grey rule binarises into dashes that alternate between its two pixel rows (columns): join them
    # across the rule and over breaks along it shorter than ``gap`` before the opening asks for an unbroken run
    joined = cv2.dilate(binary, cv2.getStructuringElement(cv2.MORPH_RECT, across))
    joined = cv2.morphologyEx(joined, cv2.MORPH_CLOSE, cv2.getStructuringElement(cv2.MORPH_RECT, along))
    mask = cv2.morphologyEx(joined, cv2.MORPH_OPEN, cv2.getStructuringElement(cv2.MORPH_RECT, size))
    profile = (mask > 0).any(axis=axis)
    count = int(np.count_nonzero(np.diff(profile.astype(np.int8)) == 1))
    return mask, count


def _faint_continued(
    vert: np.ndarray, lenient: np.ndarray, binary: np.ndarray, horiz: np.ndarray, unit: int
) -> np.ndarray:
    """The vertical rules, with the stretches of them that only a laxer search finds: a rule as grey as the
    page's ink threshold binarises into dashes with gaps of several pixels, and between two horizontal rules
    it can be lost whole (seed 13131's stack: two label cells ran into their values).  A stretch the laxer
    search adds is kept only in a column that holds a rule found the strict way, only as thin as such a
    rule, and only with paper beside it (``_stroked``): the laxer search alone also joins stroke fragments
    of 150-dpi text into runs, and a bold label wrapped over two lines under a rule's column stacks its
    strokes into one (seed 34343's 服务类密码设备商用密码产品 / 认证证书编号 cut in two)."""
    n, _labels, stats, _ = cv2.connectedComponentsWithStats(vert, connectivity=8)
    if n <= 1:
        return vert
    thin = int(np.median(stats[1:, 2])) + 1
    ruled = (vert > 0).any(axis=0).astype(np.uint8).reshape(1, -1)
    columns = np.asarray(cv2.dilate(ruled, np.ones((1, 3), np.uint8))).reshape(-1) > 0  # and one pixel either side
    added = np.where(columns[None, :], lenient, 0).astype(np.uint8)
    # only where the strict rule has a gap: beside it the paler binary would merely widen it by its grey rim
    added[cv2.dilate(vert, np.ones((1, 3), np.uint8)) > 0] = 0
    m, labels, stats, _ = cv2.connectedComponentsWithStats(added, connectivity=8)
    keep = np.zeros(m, dtype=np.uint8)
    keep[1:] = np.where(stats[1:, 2] <= thin, 255, 0)
    if not keep.any():
        return vert
    crossing, ink = _crossings(horiz), binary > 0
    for i in np.flatnonzero(keep):
        if _stroked(ink, crossing, tuple(int(v) for v in stats[i, :4]), unit):
            keep[i] = 0
    return cv2.bitwise_or(vert, keep[labels])


def _crossings(horiz: np.ndarray) -> np.ndarray:
    """Where the horizontal rules cross a vertical run, with a margin (``_stroked`` looks away from them)."""
    return np.asarray(cv2.dilate(horiz, np.ones((7, 7), np.uint8))) > 0


def _stroked(ink: np.ndarray, crossing: np.ndarray, box: tuple[int, ...], unit: int) -> bool:
    """Whether a vertical run is written strokes rather than a rule: ink beside it on both sides (within
    half a character, ``unit // 2`` px) in more than a fifth of its rows away from where horizontal rules
    cross, or on one side in more than half of them and the other in more than a tenth.  A ruling line has
    blank paper on both sides; a run of stacked strokes has the rest of its characters there."""
    x, y, w, h = box
    band = max(3, unit // 2)
    rows = ~crossing[y : y + h, x : x + w].any(axis=1)
    if np.count_nonzero(rows) < band:
        return False
    width = ink.shape[1]
    left = ink[y : y + h, max(0, x - 2 - band) : max(0, x - 2)]
    right = ink[y : y + h, min(width, x + w + 2) : min(width, x + w + 2 + band)]
    if left.shape[1] == 0 or right.shape[1] == 0:
        return False
    inked = sorted((left[rows].any(axis=1).mean(), right[rows].any(axis=1).mean()))
    # or ink beside it on one side in most rows and some on the other: the strokes of 州, 子 and 司 of a name
    # wrapped over three tight lines (seed 29292) have their own character's rest on one side in 65 % of
    # rows and the gap to the next character on the other, with ink in 18 %
    return bool(inked[0] > 0.2 or (inked[1] > 0.5 and inked[0] > 0.1))


def _paler_ink(red: np.ndarray, ink_level: float) -> np.ndarray:
    """The page binarised halfway between its ink threshold (Otsu's) and its paper: a thin grey rule drawn
    one pixel wide and smeared over two by the scan sits right at the ink threshold, so that the strict
    binary holds only every other pixel of it (seed 99001's stack, untuned: a rule of grey 152–187 under a
    threshold of 159 was lost between 法定代表人's name and 联系电话 over two rows, and the name read
    宋桂华联系电话).  Only the laxer search for vertical rules uses it, in columns that already hold a rule."""
    hist = np.bincount(red.reshape(-1), minlength=256)
    start = int(ink_level) + 1
    # the commonest level lighter than ink, pure white left out: the white a deskew turns in at the corners,
    # or a copier's clipped margin, can outnumber each level of a grey, speckled paper — on seed 69696's
    # 150-dpi copy (paper about 208, threshold 165) "paper" came out 255, half the paper's speckle fell under
    # the halfway level, and the laxer search drew a rule through 申请类别 (no category read)
    light = hist[start:255]
    paper = start + int(np.argmax(light)) if start < 255 and light.any() else 255
    return cv2.threshold(red, (ink_level + paper) / 2, 255, cv2.THRESH_BINARY_INV)[1]


def _meeting(mask: np.ndarray, other: np.ndarray) -> np.ndarray:
    """The parts of ``mask`` (connected components) that touch ``other``."""
    n, labels = cv2.connectedComponents(mask, connectivity=8)
    if n <= 1:
        return mask
    near = cv2.dilate(other, np.ones((7, 7), np.uint8)) > 0
    keep = np.zeros(n, dtype=np.uint8)
    keep[np.unique(labels[near & (labels > 0)])] = 255
    keep[0] = 0
    return keep[labels]


def _spanning(vert: np.ndarray, horiz: np.ndarray, reach: int) -> np.ndarray:
    """The vertical rules cut to where they run from one horizontal rule to another.  Characters set on a
    rule — a photographed form whose text sits at the bottom of its cells, a label wrapped over three lines
    in a narrow cell, a heading on the rule above — stack their vertical strokes into runs as long as a short
    rule, alone or prolonging a real one; kept as rules they would cut the labels into single characters.
    A run that meets fewer than two horizontal rules goes; a run that meets several keeps the part between
    the first and the last it crosses."""
    n, labels, stats, _ = cv2.connectedComponentsWithStats(vert, connectivity=8)
    if n <= 1:
        return vert
    near = cv2.dilate(horiz, np.ones((2 * reach + 1, 2 * reach + 1), np.uint8)) > 0
    out = np.zeros_like(vert)
    for i in range(1, n):
        x, y, w, h = (int(v) for v in stats[i, :4])
        own = labels[y : y + h, x : x + w] == i
        rows = np.flatnonzero((own & near[y : y + h, x : x + w]).any(axis=1))
        if rows.size == 0:
            continue
        bands = np.split(rows, np.flatnonzero(np.diff(rows) > 1) + 1)  # one band per rule met
        if len(bands) < 2:
            continue
        # an end that stops at a rule is kept whole (no gap may open between the two rules); an end that
        # runs on past its rule is cut at the rule
        top = 0 if bands[0][0] == 0 else int(np.median(bands[0]))
        bottom = h - 1 if bands[-1][-1] == h - 1 else int(np.median(bands[-1]))
        out[y + top : y + bottom + 1, x : x + w][own[top : bottom + 1]] = 255
    return out


def _written(vert: np.ndarray, horiz: np.ndarray, binary: np.ndarray, unit: int) -> np.ndarray:
    """The vertical rules without the runs that are written strokes.  At 150 dpi a value wrapped over two
    lines fills its cell from rule to rule, and the strokes of characters set one above the other (建 over
    股) join into a run that meets both rules: kept, it cuts the value cell in two and half the value is
    lost.  A ruling line has blank paper on both sides between the rules it joins; a run of stacked strokes
    has the rest of its characters on both sides, row after row.  A run with ink beside it on both sides in
    more than a fifth of its rows (away from where the horizontal rules cross) is not a rule."""
    n, labels, stats, _ = cv2.connectedComponentsWithStats(vert, connectivity=8)
    if n <= 1:
        return vert
    crossing, ink = _crossings(horiz), binary > 0
    out = vert.copy()
    for i in range(1, n):
        if _stroked(ink, crossing, tuple(int(v) for v in stats[i, :4]), unit):
            out[labels == i] = 0
    return out


def _count(mask: np.ndarray, axis: int) -> int:
    profile = (mask > 0).any(axis=axis)
    return int(np.count_nonzero(np.diff(profile.astype(np.int8)) == 1))


def _bridge(mask: np.ndarray, gap: int, axis: int) -> np.ndarray:
    """Close short breaks along a rule (a photocopied line fades at places) so cells stay enclosed."""
    size = (gap, 1) if axis == 1 else (1, gap)
    return cv2.morphologyEx(mask, cv2.MORPH_CLOSE, cv2.getStructuringElement(cv2.MORPH_RECT, size))


def _closed(horiz: np.ndarray, vert: np.ndarray, unit: int) -> np.ndarray:
    """The rules with their short breaks closed and thickened: the walls the cells are the rooms of."""
    closed = cv2.bitwise_or(_bridge(horiz, 2 * unit, axis=1), _bridge(vert, 2 * unit, axis=0))
    return np.asarray(cv2.dilate(closed, np.ones((5, 5), np.uint8)))


def _cells(grid: np.ndarray, unit: int) -> list[BBox]:
    """Regions enclosed by the rules: connected components of the non-rule pixels not touching the edge."""
    height, width = grid.shape
    free = cv2.bitwise_not(grid)
    n, _labels, stats, _ = cv2.connectedComponentsWithStats(free, connectivity=4)
    out: list[BBox] = []
    min_side = 2 * unit
    for i in range(1, n):
        x, y, w, h, area = (int(v) for v in stats[i])
        if x <= 0 or y <= 0 or x + w >= width or y + h >= height:
            continue  # outside the table
        if w < min_side or h < min_side or area < 0.5 * w * h:
            continue  # a sliver between two close rules, or a ragged non-cell region
        out.append((float(x), float(y), float(x + w), float(y + h)))
    return out


def _line_boxes(text: np.ndarray, grid: np.ndarray, unit: int) -> list[BBox]:
    height, width = text.shape
    # joins the gaps between characters (and the blank half of a full-width comma or bracket), not the
    # wider one between a label and what is written or signed after it
    joined = cv2.dilate(text, cv2.getStructuringElement(cv2.MORPH_RECT, (round(1.4 * unit), 3)))
    joined[grid > 0] = 0  # a ruling line is a barrier: a label never joins the value beside it
    n, labels, stats, _ = cv2.connectedComponentsWithStats(joined, connectivity=8)
    spans: list[tuple[int, int, int, int, int]] = []
    min_h = max(6, unit // 2)
    for i in range(1, n):
        x, y, w, h, area = (int(v) for v in stats[i])
        if h < min_h or w < min_h or area < 3 * min_h * min_h:
            continue  # speckle, a stroke fragment, noise
        spans.append((i, x, y, w, h))
    if not spans:
        return []
    line_h = float(np.median([h for _i, _x, _y, _w, h in spans]))
    boxes: list[BBox] = []
    pad = max(3, unit // 3)
    for i, x, y, w, h in spans:
        own = np.where(labels[y : y + h, x : x + w] == i, text[y : y + h, x : x + w], 0)  # this line's ink only
        for y0, y1 in _split_rows(own, line_h):
            ink = own[y0:y1]
            cols = np.flatnonzero(ink.any(axis=0))
            rows = np.flatnonzero(ink.any(axis=1))
            if cols.size == 0 or rows.size == 0:
                continue
            bx0, bx1 = x + int(cols[0]), x + int(cols[-1]) + 1
            by0, by1 = y + y0 + int(rows[0]), y + y0 + int(rows[-1]) + 1
            if by1 - by0 < min_h // 2:
                continue
            box = (max(0, bx0 - pad), max(0, by0 - pad), min(width, bx1 + pad), min(height, by1 + pad))
            boxes.append((float(box[0]), float(box[1]), float(box[2]), float(box[3])))
    boxes.sort(key=lambda b: (round((b[1] + b[3]) / 2 / unit), b[0]))
    return boxes


def _split_rows(ink: np.ndarray, line_h: float) -> list[tuple[int, int]]:
    """Row ranges of the text lines inside one component.  Lines set close together (a label wrapped in a
    narrow cell, a value above a printed hint) touch after the dilation; they are cut at the emptiest rows
    between them, so each line reaches the recogniser on its own."""
    h = ink.shape[0]
    count = round(h / line_h) if line_h > 0 else 1
    if count < 2 or h < 1.6 * line_h:
        return [(0, h)]
    profile = (ink > 0).sum(axis=1).astype(np.float64)
    cuts: list[int] = []
    for k in range(1, count):
        centre = round(k * h / count)
        lo, hi = max(1, centre - round(0.35 * line_h)), min(h - 1, centre + round(0.35 * line_h))
        if hi <= lo:
            continue
        window = profile[lo:hi]
        if window.min() > 0.15 * profile.max():
            continue  # no gap between lines here: one tall line (a title in a big font)
        cuts.append(lo + int(np.argmin(window)))
    edges = [0, *sorted(set(cuts)), h]
    return [(a, b) for a, b in itertools.pairwise(edges) if b - a > 0]


SIDEWAYS_RULES = 8  # rules across most of a landscape page's height: a form's rows, the form on its side


def on_its_side(img: Image.Image) -> bool:
    """Whether a page wider than tall is a portrait form lying on its side: at least SIDEWAYS_RULES vertical
    rules of 0.6 of its height or more (its rows' rules; a form on its side showed 13 in local stacks, a
    licence's double frame 4, an invoice 2, an ID or certificate copy 0).  0.02 s a page."""
    if img.width <= img.height:
        return False
    _red, _level, binary = _ink(img)
    return _rules(binary, int(0.6 * img.height), axis=0)[1] >= SIDEWAYS_RULES


def _ink(img: Image.Image) -> tuple[np.ndarray, float, np.ndarray]:
    """The page's red channel (red seals vanish, black and blue ink stay), its Otsu ink level and the ink
    binary under it."""
    red = np.ascontiguousarray(np.asarray(img.convert("RGB"))[:, :, 0])
    ink_level, binary = cv2.threshold(red, 0, 255, cv2.THRESH_BINARY_INV | cv2.THRESH_OTSU)
    return red, float(ink_level), binary


def analyse(img: Image.Image) -> RuledPage | None:
    """Text lines and cells of a ruled page; None when the page has no table grid."""
    red, ink_level, binary = _ink(img)
    found = _grid(binary, binary, red, ink_level)
    if isinstance(found, np.ndarray) and _grey_rules(red, found, ink_level):
        # long rules, too few of them meeting to enclose a table's cells, and the rules no darker than the
        # ink threshold: a page photographed small and scaled up to A4 has rules of grey 173–190 under a
        # threshold of 181, which binarise into dashes that no opening keeps (seed 42424, untuned).  The
        # rules are looked for again on the page binarised halfway to its paper; the text stays the strict
        # binary's.  The frames and strokes of a licence, ID card or invoice copy are darker (22–97 levels
        # under the threshold against 9–10): those pages are not searched twice
        found = _grid(_paler_ink(red, ink_level), binary, red, ink_level)
    return found if isinstance(found, RuledPage) else None


GREY_RULE = 16  # grey levels under the ink threshold that a rule's darkest pixels stay within when grey


def _grey_rules(red: np.ndarray, horiz: np.ndarray, ink_level: float) -> bool:
    """Whether the long horizontal rules found are as grey as the ink threshold: the median, over the
    rules' pixels, of the darkest grey within two pixels across the rule."""
    core = cv2.erode(red, np.ones((5, 1), np.uint8))
    return bool(float(np.median(core[horiz > 0])) > ink_level - GREY_RULE)


def _grid(
    rules_from: np.ndarray, binary: np.ndarray, red: np.ndarray, ink_level: float
) -> RuledPage | np.ndarray | None:
    """The ruled page with its rules found on ``rules_from`` and its text on ``binary``; the mask of the
    long horizontal rules when there are enough of them but too few meet to enclose a table; None when
    there are too few long rules (most copies of a licence, ID card or certificate) or no table."""
    height, width = binary.shape
    horiz, found = _rules(rules_from, max(60, width // 12), axis=1)
    if found < MIN_H_LINES:
        return None
    vert, found = _rules(rules_from, max(40, height // 40), axis=0)
    if found < MIN_V_LINES:
        return horiz
    # decided before the costlier passes below (0.08–0.1 s a page): the long strokes of an ID card's or an
    # invoice's print meet too few vertical runs for a table, and a licence's or certificate's frame (with a
    # QR code's box) meets its sides but encloses one or two regions, not a table's cells.  The laxer search
    # only continues rules in columns that already hold one: it rarely adds a meeting, and a cell or two at
    # most — hence half of MIN_CELLS here
    met = _meeting(horiz, vert)
    unit = max(8, height // 120)  # about half a character's height on an A4 page
    if _count(met, axis=1) < MIN_H_LINES:
        return horiz
    if len(_cells(_closed(met, _meeting(vert, met), unit), unit)) < MIN_CELLS // 2:
        return horiz
    lenient = _rules(_paler_ink(red, ink_level), max(40, height // 40), axis=0, gap=5)[0]
    vert = _faint_continued(vert, lenient, binary, horiz, unit)
    # a table's rules meet each other; a stroke of a big bold title, or an underline, meets none
    horiz, vert = _meeting(horiz, vert), _meeting(vert, horiz)
    vert = _written(_spanning(vert, horiz, max(6, unit // 2)), horiz, binary, unit)
    n_h, n_v = _count(horiz, axis=1), _count(vert, axis=0)
    if n_h < MIN_H_LINES or n_v < MIN_V_LINES:
        return None
    grid = cv2.dilate(cv2.bitwise_or(horiz, vert), np.ones((5, 5), np.uint8))
    text = cv2.bitwise_and(binary, cv2.bitwise_not(grid))
    cells = _cells(_closed(horiz, vert, unit), unit)
    if len(cells) < MIN_CELLS:
        return None
    return RuledPage(_line_boxes(text, grid, unit), cells, unit)


def text_lines(img: Image.Image) -> list[BBox] | None:
    """Boxes (x0, y0, x1, y1) of the text lines of a ruled page, in reading order; None without a grid."""
    page = analyse(img)
    return page.lines if page is not None else None
