"""RapidOCR adapter: PP-OCR ONNX models shipped inside the rapidocr wheel (offline)."""

from __future__ import annotations

import copy
import logging
import time
from typing import Any, cast

import numpy as np
from PIL import Image

from pipeline.errors import OcrUnavailable
from pipeline.extract.ocr import OcrBox, OcrPage, register
from pipeline.extract.ocr.simplified import simplified
from pipeline.models import BBox

TEXT_SCORE = 0.5  # what RapidOCR's full pipeline drops below (Global.text_score)
# longest side the detector sees on a coarse (attachment) read: their print is large; on the office corpus
# (seed 777, 48 attachment pages) 960 reads every field as 1600 does at about a quarter of the full-size
# detector's work, 736 lost two company names
COARSE_SIDE = 960
# the detector's side for the text region of a page whose text stands in a small part of it (an ID card copy:
# front and back, about 720 x 1810 px on a 200-dpi page).  On the office corpus (seed 41415, 90 ID fields)
# 1600 (no reduction), 1200, 1000 and 800 read every field, 640 lost one name; 1000 costs about 0.15 s less
# per ID page than 1600
FINE_SIDE = 1000
# the narrowest input (px, at the recogniser's 48 px height) a line is padded to.  RapidOCR pads
# every batch to 320 px, seven characters, so a two-character label cost what a seven-character line does;
# most lines of attachments and forms are short (2452 of 3458 on seed 67676's scans).  Padded to 64 px, the
# recogniser took 51 s instead of 77 s on those lines, the 710 fields read the same (709 right either way), 4 % of
# the short lines read differently — junk lines mostly, and a box glyph read into the gap of a spaced
# 姓名　杜英 (score 0.89, the name itself right).  The full-page read (``recognize``) stays RapidOCR's own.
LINE_MIN_WIDTH = 64
# lines the line recogniser reads in one model run.  RapidOCR's 6 pads every line of a batch to its widest (its
# batches are sorted by width, yet a line's padding still costs the model's time); one line a run pads none:
# 22 pages of four e2e cases read page by page as the extract stage reads them (604 lines, three rounds, least
# of each) took 3.64 s against 4.46 s (batches of 2: 3.84, of 4: 4.15).  A line's reading no longer depends
# on the lines batched with it; on 120 cases of three office corpora (3006 fields) every value read the same
LINE_BATCH = 1
SAMPLE_LINES = 4  # lines read to tell which way up a page lies
SAMPLE_CHARS = (3, 320 / 48)  # lines of three to seven characters are sampled (long enough to tell, cheap)
# a sample reading at least this well (length-weighted score) is upright: upright lines read 0.95–1.0,
# upside-down ones well under 0.9
UPRIGHT_SAMPLE = 0.9
SMALL_REGION = 0.4  # share of the page's area below which the text region is read again (ID card copies)


def _text_region(boxes: list[BBox], size: tuple[int, int]) -> tuple[int, int, int, int] | None:
    """The box around every text line found, with a margin, when it covers under SMALL_REGION of the page."""
    if not boxes:
        return None
    w, h = size
    margin = 0.03 * max(w, h)
    x0 = max(0, int(min(b[0] for b in boxes) - margin))
    y0 = max(0, int(min(b[1] for b in boxes) - margin))
    x1 = min(w, int(max(b[2] for b in boxes) + margin))
    y1 = min(h, int(max(b[3] for b in boxes) + margin))
    if (x1 - x0) * (y1 - y0) >= SMALL_REGION * w * h:
        return None
    return x0, y0, x1, y1


INK_REDUCTION = 4  # the pixel search for a small inked region runs on a copy this many times smaller
INK_SPECK = 4  # components of fewer pixels (of that copy) are speckle, not print


def _ink_region(image: Image.Image) -> tuple[int, int, int, int] | None:
    """The box, with the margin ``_text_region`` gives, around the page's print when it covers under
    SMALL_REGION of the page — found from the pixels (Otsu on a reduced copy; speckle and anything touching the
    page's edge, a scanner's shadow, left out), so that an ID card copied onto A4 is read from its region
    without the coarse detection that only found that region (about 0.13 s of a 0.4 s page).  None
    otherwise: the usual path then."""
    import cv2

    grey = np.asarray(image.convert("L").reduce(INK_REDUCTION))
    ink = cv2.threshold(grey, 0, 255, cv2.THRESH_BINARY_INV | cv2.THRESH_OTSU)[1]
    n, _labels, stats, _ = cv2.connectedComponentsWithStats(ink, connectivity=8)
    height, width = ink.shape
    boxes: list[BBox] = []
    for x, y, w, h, area in (tuple(int(v) for v in stats[i]) for i in range(1, n)):
        if area >= INK_SPECK and x > 0 and y > 0 and x + w < width and y + h < height:
            f = INK_REDUCTION
            boxes.append((float(x * f), float(y * f), float((x + w) * f), float((y + h) * f)))
    return _text_region(boxes, image.size)


def _inside(quads: list[Any], size: tuple[int, int], gap: float = 2.0) -> bool:
    """Whether every line detected on a region's crop of ``size`` stays clear of its edges (a line running
    into an edge was cut: the region found from pixels missed part of the print, pale labels of a photo)."""
    width, height = size
    for quad in quads:
        x0, y0, x1, y1 = _bbox(quad)
        if x0 < gap or y0 < gap or x1 > width - gap or y1 > height - gap:
            return False
    return True


def _on_its_side(quads: list[Any]) -> bool:
    """Whether the detected lines are mostly taller than wide: the page (or card) lies on its side."""
    sides = [_bbox(q) for q in quads]
    tall = sum(b[3] - b[1] for b in sides if b[3] - b[1] > 1.5 * (b[2] - b[0]))
    wide = sum(b[2] - b[0] for b in sides if b[3] - b[1] <= 1.5 * (b[2] - b[0]))
    return tall > wide


def _turned_point(x: float, y: float, turn: int, size: tuple[int, int]) -> tuple[float, float]:
    """Where a point of a ``size`` image lands when the image is turned ``turn`` degrees counter-clockwise
    (a multiple of 90, expanded as Pillow's ``rotate(turn, expand=True)`` does)."""
    w, h = size
    if turn == 90:
        return y, w - x
    if turn == 180:
        return w - x, h - y
    if turn == 270:
        return h - y, x
    return x, y


def _turned_lines(quads: list[Any], turn: int, size: tuple[int, int]) -> list[Any]:
    """Detected quadrilaterals as they lie on the page turned ``turn`` degrees: corners again in RapidOCR's
    order (top-left first, clockwise — turning keeps the clockwise order, so they are only rolled), and the
    lines sorted as its detector sorts its own (rows top to bottom, left to right)."""
    from rapidocr.ch_ppocr_det.main import TextDetector

    turned = []
    for quad in quads:
        points = np.array([_turned_point(float(x), float(y), turn, size) for x, y in quad], dtype=np.float32)
        turned.append(np.roll(points, -int(np.argmin(points.sum(axis=1))), axis=0))
    return list(TextDetector.sorted_boxes(np.array(turned))) if turned else []


def _turned_box(box: tuple[int, int, int, int], turn: int, size: tuple[int, int]) -> tuple[int, int, int, int]:
    (ax, ay), (bx, by) = (_turned_point(box[0], box[1], turn, size), _turned_point(box[2], box[3], turn, size))
    return int(min(ax, bx)), int(min(ay, by)), int(max(ax, bx)), int(max(ay, by))


def _quality(readings: Any) -> float:
    """Length-weighted recogniser score of (text, score) readings; 0 for none."""
    pairs = [(str(t), float(sc)) for t, sc in readings if str(t).strip()]
    return sum(sc * len(t) for t, sc in pairs) / max(1, sum(len(t) for t, _sc in pairs))


def _bgr(image: Image.Image) -> np.ndarray:
    """The image as OpenCV (and RapidOCR) take it: BGR, contiguous."""
    import cv2

    return np.asarray(cv2.cvtColor(np.asarray(image.convert("RGB")), cv2.COLOR_RGB2BGR))


def _bbox(quad: Any) -> BBox:
    xs = [float(p[0]) for p in quad]
    ys = [float(p[1]) for p in quad]
    return (min(xs), min(ys), max(xs), max(ys))


def _rotate_crop(arr: np.ndarray, quad: np.ndarray) -> np.ndarray:
    from rapidocr.utils.process_img import get_rotate_crop_image

    return cast(np.ndarray, get_rotate_crop_image(arr, quad))


def _crop(arr: np.ndarray, quad: np.ndarray) -> np.ndarray:
    """The line under a detected quadrilateral: cut out when the quadrilateral is an upright rectangle, as it
    is on a deskewed page (the same pixels without a warp); straightened otherwise by RapidOCR's own crop,
    run on the quadrilateral's surroundings only."""
    q = np.asarray(quad, dtype=np.float32)
    height, width = arr.shape[:2]
    left, top = (int(v) for v in np.floor(q.min(axis=0)))
    right, bottom = (int(v) for v in np.ceil(q.max(axis=0)))
    upright = abs(q[0, 1] - q[1, 1]) < 1 and abs(q[3, 1] - q[2, 1]) < 1 and abs(q[0, 0] - q[3, 0]) < 1
    if upright and q[1, 0] > q[0, 0] and q[3, 1] > q[0, 1]:
        out = arr[max(0, top) : max(0, bottom), max(0, left) : max(0, right)]
        if out.size and out.shape[0] < 1.5 * out.shape[1]:
            return np.ascontiguousarray(out)
    x0, y0 = max(0, left - 2), max(0, top - 2)
    x1, y1 = min(width, right + 2), min(height, bottom + 2)
    if x1 <= x0 or y1 <= y0:
        return np.empty((0, 0, 3), np.uint8)
    local = np.ascontiguousarray(arr[y0:y1, x0:x1])
    return _rotate_crop(local, q - np.array([x0, y0], dtype=np.float32))


class RapidOcrEngine:
    name = "rapidocr"

    def __init__(self, options: dict[str, str]) -> None:
        try:
            from rapidocr import RapidOCR
        except ImportError as exc:  # pragma: no cover - a hard dependency
            raise OcrUnavailable("rapidocr is not installed") from exc
        logging.getLogger("RapidOCR").setLevel(logging.WARNING)
        params = {"Global.log_level": "warning"}
        params.update({k: v for k, v in options.items() if k.startswith(("Global.", "Det.", "Rec.", "Cls."))})
        try:
            self._engine = RapidOCR(params=params)
        except Exception as exc:
            raise OcrUnavailable(f"RapidOCR failed to load its bundled models: {exc}") from exc
        self._params = params
        self._coarse_det: Any = None  # detector only: its instance always runs with use_rec=False
        self._fine: Any = None
        self._lines: Any = None
        logging.getLogger("RapidOCR").setLevel(logging.WARNING)

    def recognize(self, image: Image.Image) -> OcrPage:
        return self._run(self._engine, image)

    def _run(self, engine: Any, image: Image.Image) -> OcrPage:
        arr = _bgr(image)
        start = time.perf_counter()
        out: Any = engine(arr, use_cls=False)  # page orientation is handled per page (extract)
        seconds = time.perf_counter() - start
        boxes: list[OcrBox] = []
        if out.boxes is not None and out.txts is not None:
            for quad, text, score in zip(out.boxes, out.txts, out.scores or [], strict=False):
                xs = [float(p[0]) for p in quad]
                ys = [float(p[1]) for p in quad]
                boxes.append(OcrBox(simplified(str(text)), float(score), (min(xs), min(ys), max(xs), max(ys))))
        return OcrPage(image.width, image.height, tuple(boxes), seconds, self.name)

    def recognize_coarse(self, image: Image.Image, orient: bool = False) -> OcrPage:
        """Detector on a copy at most COARSE_SIDE px long, recogniser on full-resolution crops: for pages
        whose text is large (licence, certificate, invoice copies) a fraction of the detector's work at the
        same readings.  When the text stands in a small part of the page (an ID card copied onto A4, whose
        pale printed labels fade on the reduced copy), only that part is read — with the detector at up to
        FINE_SIDE px, a small region, so little work — and the lines of the reduced copy are never
        recognised.  That part is found from the pixels first (``_ink_region``), and by the reduced copy's
        detection only when the pixels show no small part, or its lines lie on their side or run into its
        edge.

        With ``orient``, a few short lines are read first: when they read well upright the page is read on
        (their readings kept); otherwise the lines' shape (tall: the page lies on its side) and the same
        lines read the other way round tell which quarter turn the page wants, and the page is read turned
        that way (``OcrPage.turn``; boxes on the turned page) — from the lines already found when it was
        upside down, from a second detection of the turned page when it lay on its side — one read instead
        of up to four."""
        start = time.perf_counter()
        found = _ink_region(image)
        if found is not None:
            lines = self._region_lines(image, found)
            if lines and not _on_its_side(lines) and _inside(lines, (found[2] - found[0], found[3] - found[1])):
                return self._read_region(image, found, lines, orient, 0, start)
        arr = _bgr(image)
        quads, region = self._coarse_lines(arr, image.size)
        known: dict[int, tuple[str, float]] = {}
        turn = 0
        if orient and quads:
            turn, known = self._turn(arr, quads, region is not None)
        if turn == 180:  # the page turned as it asks, and the lines found on it as it lay: no second detection
            size = image.size
            image = image.rotate(turn, expand=True)
            quads = _turned_lines(quads, turn, size)
            region = None if region is None else _turned_box(region, turn, size)
        elif turn:
            # a page on its side is detected again upright: on its side the detector reads a spaced label's
            # characters as a column and can miss one (住 of 住　所 kept, 所 lost: a sideways licence in seed
            # 67676's stack, untuned, lost its address) — a second detection on that page only
            image = image.rotate(turn, expand=True)
            arr = _bgr(image)
            quads, region = self._coarse_lines(arr, image.size)
        if region is None:
            boxes = self._read_quads(_bgr(image) if turn == 180 else arr, quads, known)
            return OcrPage(image.width, image.height, boxes, time.perf_counter() - start, self.name, turn)
        return self._read_region(image, region, self._region_lines(image, region), orient and not turn, turn, start)

    def _region_lines(self, image: Image.Image, region: tuple[int, int, int, int]) -> list[Any]:
        """The lines of a small text region of the page, detected at up to FINE_SIDE px (region pixels)."""
        det: Any = self._coarse_engine("_fine", FINE_SIDE)(
            _bgr(image.crop(region)), use_det=True, use_cls=False, use_rec=False
        )
        return list(det.boxes) if getattr(det, "boxes", None) is not None else []

    def _read_region(
        self,
        image: Image.Image,
        region: tuple[int, int, int, int],
        quads: list[Any],
        orient: bool,
        turn: int,
        start: float,
    ) -> OcrPage:
        """A small text region read from its lines (``quads``: region pixels), turned half round first when
        ``orient`` and its lines read better so; the boxes on the page as turned (``turn`` already made)."""
        image, region, arr, quads, known, flip = self._fine_region(image, region, quads, orient)
        x0, y0 = region[0], region[1]
        boxes = tuple(
            OcrBox(b.text, b.score, (b.bbox[0] + x0, b.bbox[1] + y0, b.bbox[2] + x0, b.bbox[3] + y0))
            for b in self._read_quads(arr, quads, known)
        )
        return OcrPage(image.width, image.height, boxes, time.perf_counter() - start, self.name, (turn + flip) % 360)

    def _coarse_lines(
        self, arr: np.ndarray, size: tuple[int, int]
    ) -> tuple[list[Any], tuple[int, int, int, int] | None]:
        """The lines the detector finds on a copy at most COARSE_SIDE px long, and the small region they stand
        in (None when they cover most of the page)."""
        det: Any = self._coarse_engine("_coarse_det", COARSE_SIDE)(arr, use_det=True, use_cls=False, use_rec=False)
        quads = list(det.boxes) if getattr(det, "boxes", None) is not None else []
        return quads, _text_region([_bbox(q) for q in quads], size)

    def _fine_region(
        self, image: Image.Image, region: tuple[int, int, int, int], quads: list[Any], orient: bool
    ) -> tuple[Image.Image, tuple[int, int, int, int], np.ndarray, list[Any], dict[int, tuple[str, float]], int]:
        """A small text region and its lines (``_region_lines``).  With ``orient`` a few of them are read first
        (kept when the region stands upright), so a card copy fed upside down is turned here rather than read
        twice; returns the page, the region, its pixels and its lines as the page is to be read, the readings
        already made and the turn made (0 or 180)."""
        arr = _bgr(image.crop(region))
        flip, known = self._turn(arr, quads, False) if orient and quads else (0, {})
        if flip not in (0, 180):  # the page's shape was judged on the coarse lines: only a half turn here
            flip, known = 0, {}
        if flip:
            quads = _turned_lines(quads, flip, (arr.shape[1], arr.shape[0]))
            region = _turned_box(region, flip, image.size)
            image = image.rotate(flip, expand=True)
            arr = np.ascontiguousarray(arr[::-1, ::-1])  # the region turned half round is the turned page's
        return image, region, arr, quads, known, flip

    def _turn(self, arr: np.ndarray, quads: list[Any], region: bool) -> tuple[int, dict[int, tuple[str, float]]]:
        """The quarter turn (counter-clockwise degrees) a page wants, from a few of its lines read as they
        stand and upside down, and those lines' readings where the page stands upright (index into
        ``quads`` → text, score) so that they are not read twice.

        Lines of three to seven characters are sampled (SAMPLE_CHARS): long enough to tell, short enough to
        cost little, and their readings are kept when the page stands upright.  A page whose text stands in a small
        region (an ID card copy) is read from a finer detection, where the sample is not reused: there only
        a page on its side is turned here, and one upside down is left to the finer detection's own lines
        (``_fine_region``)."""
        sides = [_bbox(q) for q in quads]
        # a tall line's crop comes out turned a quarter counter-clockwise (RapidOCR's crop), as the page
        # turned by 90° would show it
        as_cropped = 90 if _on_its_side(quads) else 0
        if as_cropped == 0 and region:
            return 0, {}

        def chars(i: int) -> float:
            b = sides[i]
            return max(b[2] - b[0], b[3] - b[1]) / max(1.0, min(b[2] - b[0], b[3] - b[1]))

        fewest, most = SAMPLE_CHARS
        order = sorted(range(len(quads)), key=lambda i: (not fewest <= chars(i) <= most, -chars(i)))
        sample = [(i, c) for i, c in ((i, _crop(arr, quads[i])) for i in order[:SAMPLE_LINES]) if c.size]
        if not sample:
            return 0, {}
        out: Any = self._recognise([c for _i, c in sample])
        pairs = zip(sample, out.txts or (), out.scores or (), strict=False)
        read = {i: (str(t), float(sc)) for (i, _c), t, sc in pairs}
        if as_cropped == 0 and _quality(read.values()) >= UPRIGHT_SAMPLE:
            return 0, read
        back: Any = self._recognise([np.ascontiguousarray(np.rot90(c, 2)) for _i, c in sample])
        flipped = _quality(zip(back.txts or (), back.scores or (), strict=False))
        turn = as_cropped if _quality(read.values()) >= flipped else (as_cropped + 180) % 360
        return turn, read if turn == 0 else {}

    def _read_quads(
        self, arr: np.ndarray, quads: list[Any], known: dict[int, tuple[str, float]] | None = None
    ) -> tuple[OcrBox, ...]:
        """Recognise the lines under detected quadrilaterals: one recogniser call (lines already
        read are not read again), the lines that read empty or below TEXT_SCORE dropped as RapidOCR's full
        pipeline drops them."""
        readings = dict(known or {})
        crops = [(i, _crop(arr, quads[i])) for i in range(len(quads)) if i not in readings]
        crops = [(i, c) for i, c in crops if c.size]
        if crops:
            out: Any = self._recognise([c for _i, c in crops])
            for (i, _c), text, score in zip(crops, out.txts or (), out.scores or (), strict=False):
                readings[i] = (str(text), float(score))
        boxes = []
        for i in sorted(readings):
            text, score = readings[i]
            if text.strip() and score >= TEXT_SCORE:
                boxes.append(OcrBox(simplified(text), score, _bbox(quads[i])))
        return tuple(boxes)

    def _line_recogniser(self) -> Any:
        """RapidOCR's recogniser with batches padded only to LINE_MIN_WIDTH: a copy sharing the model session
        of the full-page read's recogniser (a second session held ~190 MB more once used)."""
        if self._lines is None:
            self._engine.recognize_txt([np.full((48, 48, 3), 255, np.uint8)])  # loads the recogniser
            lines: Any = copy.copy(self._engine.text_rec)
            lines.rec_image_shape = [3, 48, LINE_MIN_WIDTH]  # the copy's own; the full-page read keeps 320
            lines.rec_batch_num = LINE_BATCH
            self._lines = lines
        return self._lines

    def _recognise(self, crops: list[np.ndarray]) -> Any:
        """Line crops read by the line recogniser, in one call (LINE_BATCH lines a model run)."""
        from rapidocr.ch_ppocr_rec import TextRecInput

        return self._line_recogniser()(TextRecInput(img=crops))

    def _coarse_engine(self, attr: str, side: int) -> Any:
        if getattr(self, attr) is None:
            from rapidocr import RapidOCR

            params = {**self._params, "Det.limit_type": "max", "Det.limit_side_len": side}
            setattr(self, attr, RapidOCR(params=params))
        return getattr(self, attr)

    def recognize_lines(self, image: Image.Image, lines: list[BBox]) -> OcrPage:
        """Recognise given text-line boxes only (the detector is not run): one recogniser call."""
        arr = np.asarray(image.convert("RGB"))[:, :, ::-1]
        start = time.perf_counter()
        crops = [np.ascontiguousarray(arr[int(y0) : int(y1), int(x0) : int(x1)]) for x0, y0, x1, y1 in lines]
        keep = [(box, crop) for box, crop in zip(lines, crops, strict=True) if crop.size]
        boxes: list[OcrBox] = []
        if keep:
            out: Any = self._recognise([crop for _box, crop in keep])
            for (box, _crop), text, score in zip(keep, out.txts or (), out.scores or (), strict=False):
                if str(text).strip() and float(score) >= TEXT_SCORE:
                    boxes.append(OcrBox(simplified(str(text)), float(score), box))
        return OcrPage(image.width, image.height, tuple(boxes), time.perf_counter() - start, self.name)


register("rapidocr", RapidOcrEngine)
