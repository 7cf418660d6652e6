"""RapidOCR adapter: PP-OCR ONNX models shipped inside the rapidocr wheel (offline)."""

from __future__ import annotations

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
FINE_SIDE = 1600  # the detector's side for the text region of a page whose text stands in a small part of it
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
        logging.getLogger("RapidOCR").setLevel(logging.WARNING)

    def recognize(self, image: Image.Image) -> OcrPage:
        return self._run(self._engine, image)

    def _run(self, engine: Any, image: Image.Image) -> OcrPage:
        arr = np.ascontiguousarray(np.asarray(image.convert("RGB"))[:, :, ::-1])  # BGR, as cv2 has it
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

    def recognize_coarse(self, image: Image.Image) -> OcrPage:
        """Detector on a copy at most COARSE_SIDE px long, recogniser on full-resolution crops: for pages
        whose text is large (licence, certificate, invoice copies) a fraction of the detector's work at the
        same readings.  When the text stands in a small part of the page (an ID card copied onto A4, whose
        pale printed labels fade on the reduced copy), only that part is read — with the detector at up to
        FINE_SIDE px, a small region, so little work — and the lines of the reduced copy are never
        recognised."""
        arr = np.ascontiguousarray(np.asarray(image.convert("RGB"))[:, :, ::-1])
        start = time.perf_counter()
        det: Any = self._coarse_engine("_coarse_det", COARSE_SIDE)(arr, use_det=True, use_cls=False, use_rec=False)
        quads = list(det.boxes) if getattr(det, "boxes", None) is not None else []
        region = _text_region([_bbox(q) for q in quads], image.size)
        if region is None:
            boxes = self._read_quads(arr, quads)
            return OcrPage(image.width, image.height, boxes, time.perf_counter() - start, self.name)
        x0, y0 = region[0], region[1]
        again = self._run(self._coarse_engine("_fine", FINE_SIDE), image.crop(region))
        boxes = tuple(
            OcrBox(b.text, b.score, (b.bbox[0] + x0, b.bbox[1] + y0, b.bbox[2] + x0, b.bbox[3] + y0))
            for b in again.boxes
        )
        return OcrPage(image.width, image.height, boxes, time.perf_counter() - start, self.name)

    def _read_quads(self, arr: np.ndarray, quads: list[Any]) -> tuple[OcrBox, ...]:
        """Recognise the lines under detected quadrilaterals: one batched recogniser call, the lines that
        read empty or below TEXT_SCORE dropped as RapidOCR's full pipeline drops them."""
        crops = [_crop(arr, q) for q in quads]
        keep = [(q, c) for q, c in zip(quads, crops, strict=True) if c.size]
        if not keep:
            return ()
        out: Any = self._engine.recognize_txt([c for _q, c in keep])
        boxes = []
        for (quad, _c), text, score in zip(keep, out.txts or (), out.scores or (), strict=False):
            if str(text).strip() and float(score) >= TEXT_SCORE:
                boxes.append(OcrBox(simplified(str(text)), float(score), _bbox(quad)))
        return tuple(boxes)

    def _coarse_engine(self, attr: str, side: int) -> Any:
        if getattr(self, attr) is None:
            from rapidocr import RapidOCR

            params = {**self._params, "Det.limit_type": "max", "Det.limit_side_len": side}
            setattr(self, attr, RapidOCR(params=params))
        return getattr(self, attr)

    def recognize_lines(self, image: Image.Image, lines: list[BBox]) -> OcrPage:
        """Recognise given text-line boxes only (the detector is not run): one batched recogniser call."""
        arr = np.asarray(image.convert("RGB"))[:, :, ::-1]
        start = time.perf_counter()
        crops = [np.ascontiguousarray(arr[int(y0) : int(y1), int(x0) : int(x1)]) for x0, y0, x1, y1 in lines]
        keep = [(box, crop) for box, crop in zip(lines, crops, strict=True) if crop.size]
        boxes: list[OcrBox] = []
        if keep:
            out: Any = self._engine.recognize_txt([crop for _box, crop in keep])
            for (box, _crop), text, score in zip(keep, out.txts or (), out.scores or (), strict=False):
                if str(text).strip() and float(score) >= TEXT_SCORE:
                    boxes.append(OcrBox(simplified(str(text)), float(score), box))
        return OcrPage(image.width, image.height, tuple(boxes), time.perf_counter() - start, self.name)


register("rapidocr", RapidOcrEngine)
