"""Tick boxes read from pixels: find the squares in the category row and measure the ink inside them."""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass

import cv2
import numpy as np
from PIL import Image

from pipeline.extract.forms import BOX_GLYPHS, TextItem
from pipeline.models import BBox

INK_TICKED = 0.10  # share of dark pixels inside the square (inner 70 %) that means "ticked"


@dataclass(frozen=True)
class TickBox:
    bbox: BBox
    ink: float

    @property
    def ticked(self) -> bool:
        return self.ink >= INK_TICKED


FAINT_OUTLINE = 45  # grey levels under the paper that still draw a box's outline (a thin rule at 150 dpi)


def find_boxes(img: Image.Image, region: BBox, text_height: float, faint: bool = False) -> list[TickBox]:
    """Squares in ``region`` with the share of ink inside each, on the page's own ink threshold, or
    (``faint``) on everything clearly darker than the paper: a thin printed outline scanned at a low
    resolution is grey, lighter than the threshold that separates the text, and breaks up there."""
    x0, y0, x1, y1 = (int(max(0, v)) for v in region)
    pad = int(text_height * 0.6)
    y0, y1 = max(0, y0 - pad), min(img.height, y1 + pad)
    crop = np.asarray(img.crop((x0, y0, x1, y1)).convert("L"))  # only the region, not the page, to grey
    if crop.size == 0:
        return []
    if faint:
        paper = float(np.percentile(crop, 75))
        binary: np.ndarray = np.where(crop < paper - FAINT_OUTLINE, 255, 0).astype(np.uint8)
    else:
        binary = cv2.threshold(crop, 0, 255, cv2.THRESH_BINARY_INV | cv2.THRESH_OTSU)[1]
    return _squares(binary, (x0, y0), text_height)


def _squares(binary: np.ndarray, origin: tuple[int, int], text_height: float) -> list[TickBox]:
    x0, y0 = origin
    contours, _ = cv2.findContours(binary, cv2.RETR_LIST, cv2.CHAIN_APPROX_SIMPLE)
    # a printed □ is 0.65–0.7 of the text's height; a ☑ typed in another font is about two thirds of that
    # (13 px against 20 at 150 dpi, 17 against 25 at 200): 0.45 left it out and its option without a box
    lo, hi = text_height * 0.38, text_height * 1.4
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
    return 0.5 if ord(ch) < 0x2000 and ch not in BOX_GLYPHS else 1.0


def option_positions(items: list[TextItem], options: tuple[str, ...]) -> dict[str, tuple[float, float, float]]:
    """(expected x centre of each option's box, its line's y centre, width of one character), CJK/ASCII
    weighted.

    When OCR read the box as a glyph (□, ☑, 口 …) the box is that character's slot before the word; when
    the word starts its OCR box with no glyph, the detector's box usually began at the (unread) checkbox,
    so the checkbox is the box's first slot."""
    pos: dict[str, tuple[float, float, float]] = {}
    for it in items:
        text = it.text
        x0, y0, x1, y1 = it.bbox
        # a box the detector included but the recogniser dropped takes the first slot of the OCR box
        lead = 1.0 if text and text[0] not in BOX_GLYPHS and any(text.startswith(o) for o in options) else 0.0
        unit = (x1 - x0) / ((sum(_char_width(c) for c in text) + lead) or 1.0)
        for opt in options:
            i = _option_index(text, opt)
            if i < 0 or opt in pos:
                continue
            start = x0 + unit * (lead + sum(_char_width(c) for c in text[:i]))
            pos[opt] = (start - unit / 2, (y0 + y1) / 2, unit)
    return pos


def _option_index(text: str, opt: str) -> int:
    """Where an option is printed as an option: right after a box glyph or at a line's start, not inside
    the bracketed note of another option (``□注销（…新证书生效后…）`` holds 新 but is not 新办)."""
    best = -1
    start = 0
    while (i := text.find(opt, start)) >= 0:
        if i == 0 or text[i - 1] in BOX_GLYPHS + TICKED_GLYPHS or text[i - 1] in " \t":
            return i
        if best < 0:
            best = i
        start = i + 1
    return best


TICKED_GLYPHS = "☑☒⊠⌧■√✓✔×✗✘"


def _reading_key(box: TickBox, line_h: float) -> tuple[int, float]:
    return (round(((box.bbox[1] + box.bbox[3]) / 2) / max(line_h, 1.0)), box.bbox[0])


def ticked_options(
    img: Image.Image, region: BBox, items: list[TextItem], options: tuple[str, ...]
) -> tuple[list[str], list[TickBox], float] | None:
    """(ticked options, boxes, confidence) or None when the boxes cannot be paired with the options.

    Options may stand on several lines (杭州: 新办 and 注销 on one, 更新 on the next); boxes and options
    are paired in reading order, or each option with the nearest box on its own line."""
    if not items:
        return None
    text_h = float(np.median([it.bbox[3] - it.bbox[1] for it in items]))
    boxes = find_boxes(img, region, text_h)
    pos = option_positions(items, options)
    if not pos:
        return None
    paired = _pair_by_slot(boxes, items, options) if boxes else None
    again: dict[str, TickBox | None] | None = None
    if paired is None or None in paired.values():  # an option without its square: faint outlines?
        faint = find_boxes(img, region, text_h, faint=True)
        again = _pair_by_slot(faint, items, options) if faint else None
        if again is not None and (paired is None or _lost(again) < _lost(paired)):
            boxes, paired, again = faint, again, None
    if not boxes:
        return None
    if paired is not None:
        found = [(opt, b) for opt, b in paired.items() if b is not None]
        lost = [opt for opt, b in paired.items() if b is None]
        if not lost:
            margin = min(abs(b.ink - INK_TICKED) for _opt, b in found)
            return [opt for opt, b in found if b.ticked], boxes, min(1.0, 0.8 + margin * 2)
        if len(lost) == 1 and found and not any(b.ticked for _opt, b in found):
            # every other box is clean and empty; the one whose outline is broken is the one a pen crossed —
            # sure when the pen's ink is in that box's middle and in no other's (a thin 150-dpi tick leaves
            # too little there for slot_ticks alone: 0.13 against 0.0 twice), in doubt otherwise
            margin = min(abs(b.ink - INK_TICKED) for _opt, b in found)
            # or when the box, found on what is clearly darker than the paper (a small ☑ in a grey photo,
            # whose tick merged with its outline on the page's threshold), is full of ink
            faint_box = again.get(lost[0]) if again is not None else None
            empty = {opt for opt, _b in found if empty_box_at_slot(boxes, items, options, opt)}
            crossed = _crossed_slot(img, items, options, lost[0], empty) or (
                faint_box is not None and faint_box.ink >= FAINT_TICKED
            )
            return lost, boxes, CROSSED_CONFIDENCE if crossed else min(0.9, 0.75 + margin)
        inked = [opt for opt, b in found if b.ticked]
        if len(inked) == 1 and _empty_without_outline(img, items, options, lost):
            # one box found ticked; the ones whose thin outline broke up (a phone photo) the OCR read as empty
            # boxes and hold no ink inside: never more sure than the threshold, three witnesses agreeing
            margin = min(abs(b.ink - INK_TICKED) for _opt, b in found)
            return inked, boxes, min(0.9, 0.8 + margin * 2)
        return None  # the positions are known and do not fit the squares: do not guess
    ticked: list[str] = []
    margins: list[float] = []
    # printed checkboxes all have one size; glyphs such as 口 or 日 inside the text are a little smaller
    widest = max(b.bbox[2] - b.bbox[0] for b in boxes)
    printed = [b for b in boxes if b.bbox[2] - b.bbox[0] >= 0.88 * widest]
    if len(printed) == len(options) == len(pos):
        by_reading = sorted(pos, key=lambda o: (round(pos[o][1] / max(text_h, 1.0)), pos[o][0]))
        for opt, b in zip(by_reading, sorted(printed, key=lambda b: _reading_key(b, text_h)), strict=True):
            if b.ticked:
                ticked.append(opt)
            margins.append(abs(b.ink - INK_TICKED))
        return ticked, boxes, min(1.0, 0.8 + min(margins) * 2)
    used: set[int] = set()
    for opt, (target, line_y, unit) in pos.items():
        free = [i for i in range(len(boxes)) if i not in used]
        if not free:
            return None

        def distance(i: int, target: float = target, line_y: float = line_y) -> float:
            cx = (boxes[i].bbox[0] + boxes[i].bbox[2]) / 2
            cy = (boxes[i].bbox[1] + boxes[i].bbox[3]) / 2
            return abs(cx - target) + 3 * abs(cy - line_y)

        best = min(free, key=distance)
        if distance(best) > max(unit, text_h) * 1.5:
            return None
        used.add(best)
        b = boxes[best]
        if b.ticked:
            ticked.append(opt)
        margins.append(abs(b.ink - INK_TICKED))
    confidence = min(1.0, 0.8 + min(margins) * 2) if margins else 0.0
    return ticked, boxes, confidence


def _slot_positions(items: list[TextItem], options: tuple[str, ...]) -> dict[str, tuple[float, float, float]]:
    """(x centre of each option's box slot, its line's y centre, one character's width).

    A CJK character is about as wide as its line is tall, so the unit comes from the line's height, not
    from its width (the blanks typed between options would stretch a width-based unit).  An option at the
    start of its OCR line has its box at the line's left edge; one further in is counted back from the
    line's right end, which has no such blanks."""
    pos: dict[str, tuple[float, float, float]] = {}
    for it in items:
        text = it.text
        x0, y0, x1, y1 = it.bbox
        unit = max(1.0, (y1 - y0) * 0.8)
        for opt in options:
            i = _option_index(text, opt)
            if i < 0 or opt in pos:
                continue
            glyph = i > 0 and text[i - 1] in BOX_GLYPHS + TICKED_GLYPHS
            if i == 0 or (i == 1 and glyph):  # the line box starts at the box, read or not
                centre = x0 + unit * 0.5
            elif glyph and all(c in BOX_GLYPHS + TICKED_GLYPHS for c in text[: i - 1]):
                # a tick typed before the box at the line's start (``√□新办``): counted from the left, the
                # blanks after the option would put the slot too far right counted from the line's end
                centre = x0 + unit * (sum(_glyph_width(c) for c in text[: i - 1]) + 0.5)
            else:
                after = sum(_char_width(c) for c in text[i:])
                centre = x1 - unit * (after + 0.5)
            pos[opt] = (centre, (y0 + y1) / 2, unit)
    return pos


FAINT_TICKED = 0.3  # share of ink inside a box found only on the faint pass that is surely a tick


def _glyph_width(ch: str) -> float:
    """A tick typed as a character is narrower than a box or a CJK character."""
    return 0.6 if ch in TICK_MARKS else 1.0


TICK_MARKS = "√✓✔×✗✘"
ON_LINE = 0.5  # of a character's width: a box further above or below an option's line is another line's box


def empty_box_at_slot(boxes: list[TickBox], items: list[TextItem], options: tuple[str, ...], option: str) -> bool:
    """Whether a square found around ``option``'s slot centre holds no ink inside: ink the slot measure saw
    there is that box's outline (a box smaller than the character cell the slot window assumes)."""
    pos = _slot_positions(items, options)
    if option not in pos:
        return False
    cx, cy, _unit = pos[option]
    return any(b.bbox[0] <= cx <= b.bbox[2] and b.bbox[1] <= cy <= b.bbox[3] and b.ink < EMPTY_BOX for b in boxes)


EMPTY_BOX = 0.02  # share of ink inside a square that is surely empty


def _lost(paired: dict[str, TickBox | None]) -> int:
    return sum(b is None for b in paired.values())


def _pair_by_slot(
    boxes: list[TickBox], items: list[TextItem], options: tuple[str, ...]
) -> dict[str, TickBox | None] | None:
    """Each option with the square nearest its box slot, or None for an option with no square near it (a
    square-looking character elsewhere on the line, such as 口 in 号, is never an option's box).  None when
    an option's slot cannot be placed."""
    pos = _slot_positions(items, options)
    if len(pos) != len(options):
        return None
    # the nearest option-square pairs first, over all options: taken option by option, 新办 (whose crossed ☒
    # made no clean square) took 更新's square on the line below, 32 px off, before 更新 at 3 px could
    near = sorted(
        (distance, opt, i)
        for opt, (cx, cy, unit) in pos.items()
        for i, b in enumerate(boxes)
        if (distance := float(np.hypot((b.bbox[0] + b.bbox[2]) / 2 - cx, (b.bbox[1] + b.bbox[3]) / 2 - cy)))
        <= 0.9 * unit
        and abs((b.bbox[1] + b.bbox[3]) / 2 - cy) <= ON_LINE * unit
    )
    out: dict[str, TickBox | None] = dict.fromkeys(pos)
    used: set[int] = set()
    for _distance, opt, i in near:
        if out[opt] is None and i not in used:
            out[opt] = boxes[i]
            used.add(i)
    return out


def _slot_inks(img: Image.Image, pos: dict[str, tuple[float, float, float]], dark: float = 128.0) -> dict[str, float]:
    """Share of pixels darker than ``dark`` in the middle of each option's box slot (only those windows turned
    grey, not the page: the category is weighed with it up to three times)."""
    inks: dict[str, float] = {}
    for opt, (cx, cy, unit) in pos.items():
        half = 0.25 * unit  # inside the box: an empty box has no ink there, its outline stays outside
        x0, x1 = int(max(0, cx - half)), int(min(img.width, cx + half))
        y0, y1 = int(max(0, cy - half)), int(min(img.height, cy + half))
        if x1 <= x0 or y1 <= y0:
            inks[opt] = 0.0
            continue
        region = np.asarray(img.crop((x0, y0, x1, y1)).convert("L")) < dark
        inks[opt] = float(region.mean())
    return inks


EMPTY_GLYPHS = "□☐"  # what the recogniser reads for a box with nothing in it
EMPTY_SLOT = 0.03  # at most this share of ink in the middle of a box the OCR read as empty


CROSSED_SLOT = 0.08  # at least this share of ink in the middle of the box a pen crossed
CROSSED_CONFIDENCE = 0.95


def _crossed_slot(
    img: Image.Image, items: list[TextItem], options: tuple[str, ...], option: str, empty: Collection[str] = ()
) -> bool:
    """Whether ``option``'s box slot holds a pen's ink in its middle and every other option's is blank — or
    is in ``empty``: its square was found clean and empty, so the ink the slot window holds is that square's
    outline (a box smaller than the character cell: seed 84848's 18-px □ in a 34-px cell, 0.20 ink)."""
    pos = _slot_positions(items, options)
    if len(pos) != len(options):
        return False
    if _crossed(_blank(_slot_inks(img, pos), empty), options, option, CROSSED_SLOT, EMPTY_SLOT):
        return True
    # a grey photo's pen or small ☑ is lighter than the black threshold: measured on what is clearly darker
    # than the paper, where the blurred outlines of empty boxes reach into their middles too, the ticked slot
    # must stand out the more
    grey = _blank(_slot_inks(img, pos, _paper(img, pos) - FAINT_OUTLINE), empty)
    return _crossed(grey, options, option, 3 * CROSSED_SLOT, 2 * EMPTY_SLOT)


def _blank(inks: dict[str, float], empty: Collection[str]) -> dict[str, float]:
    return {opt: 0.0 if opt in empty else ink for opt, ink in inks.items()}


def _crossed(inks: dict[str, float], options: tuple[str, ...], option: str, inked: float, empty: float) -> bool:
    return inks[option] >= inked and all(inks[o] <= empty for o in options if o != option)


def _paper(img: Image.Image, pos: dict[str, tuple[float, float, float]]) -> float:
    """The paper's grey around the option slots (the 75th percentile of the area spanning them)."""
    xs = [cx for cx, _cy, _u in pos.values()]
    ys = [cy for _cx, cy, _u in pos.values()]
    unit = max(u for _cx, _cy, u in pos.values())
    box = (int(max(0, min(xs) - unit)), int(max(0, min(ys) - unit)), int(max(xs) + unit), int(max(ys) + unit))
    return float(np.percentile(np.asarray(img.crop(box).convert("L")), 75))


def _empty_without_outline(img: Image.Image, items: list[TextItem], options: tuple[str, ...], lost: list[str]) -> bool:
    """Whether every option in ``lost`` (no square found for it) was read by the OCR with an empty box glyph
    just before it, and its box slot is blank in the middle (a pen tick across it would leave ink there)."""
    read_empty = set()
    for it in items:
        for opt in lost:
            i = _option_index(it.text, opt)
            if i > 0 and it.text[i - 1] in EMPTY_GLYPHS:
                read_empty.add(opt)
    if read_empty != set(lost):
        return False
    pos = _slot_positions(items, options)
    if any(opt not in pos for opt in lost):
        return False
    inks = _slot_inks(img, {opt: pos[opt] for opt in lost})
    return all(inks[opt] <= EMPTY_SLOT for opt in lost)


def slot_ticks(img: Image.Image, items: list[TextItem], options: tuple[str, ...]) -> tuple[list[str], float] | None:
    """Ticked options from the ink at each option's box slot, compared with the other options' slots.

    A pen tick rarely stays inside its box: it crosses the outline (so the box is no longer a clean square
    contour) or stands just beside it.  Each option's slot — the character cell before its word, widened a
    little — is measured, and the option whose slot holds clearly more ink than the others is the ticked
    one.  None when an option's position is unknown."""
    pos = _slot_positions(items, options)
    if len(pos) != len(options):
        return None
    inks = _slot_inks(img, pos)
    ranked = sorted(inks, key=lambda o: inks[o], reverse=True)
    top = inks[ranked[0]]
    base = float(np.median([inks[o] for o in ranked[1:]])) if len(ranked) > 1 else 0.0
    if top < 0.15 or top < 2 * base + 0.05:
        return [], 0.5
    second = inks[ranked[1]] if len(ranked) > 1 else 0.0
    if second >= 2 * base + 0.05 and second >= 0.15 and second > 0.7 * top:
        return ranked[:2], 0.5  # two slots inked alike: two ticks, or a stray stroke
    margin = (top - max(second, base)) / max(top, 1e-6)
    return [ranked[0]], min(0.99, 0.75 + margin * 0.4)


BESIDE_INK = 0.06  # share of dark pixels in the character cell before a box that a written tick leaves there
BESIDE_GREY = 160  # darker is ink (a photographed pen stroke is grey, not black)


def beside_tick(
    img: Image.Image, items: list[TextItem], options: tuple[str, ...], chosen: str, cell: BBox | None
) -> bool:
    """Whether the pixels show a tick set just before the chosen option's empty box (``√□新办``): ink in the
    character cell before that box, and at most half as much before any other option's box.  The cell's own
    rules are not ink: the measured area stays inside the options' cell (``cell``), and columns inked over
    its whole height are left out."""
    pos = _slot_positions(items, options)
    if len(pos) != len(options) or chosen not in pos:
        return False
    grey = np.asarray(img.convert("L"))
    left = max(0.0, cell[0]) if cell is not None else 0.0

    def ink(cx: float, cy: float, unit: float) -> float:
        # the character cell before the box: from 1.6 units before the slot's centre to the box's left edge
        x0, x1 = int(max(left + 0.2 * unit, cx - 1.6 * unit)), int(min(img.width, cx - 0.45 * unit))
        y0, y1 = int(max(0, cy - 0.4 * unit)), int(min(img.height, cy + 0.4 * unit))
        region = grey[y0:y1, x0:x1] < BESIDE_GREY
        if not region.size:
            return 0.0
        strokes = region[:, region.mean(axis=0) < 0.9]  # without a rule crossing the cell from top to bottom
        return float(strokes.sum()) / region.size

    mine = ink(*pos[chosen])
    return mine >= BESIDE_INK and all(ink(*pos[o]) <= 0.5 * mine for o in options if o != chosen)
