"""RapidOCR adapter: PP-OCR ONNX models shipped inside the rapidocr wheel (offline)."""

from __future__ import annotations

import logging
import time
from typing import Any

import numpy as np
from PIL import Image

from pipeline.errors import OcrUnavailable
from pipeline.extract.ocr import OcrBox, OcrPage, register
from pipeline.models import BBox

TEXT_SCORE = 0.5  # what RapidOCR's full pipeline drops below (Global.text_score)
COARSE_SIDE = 1600  # longest side the detector sees on a coarse (attachment) read (1280 misread 干 as 千)


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
        self._coarse: Any = None
        logging.getLogger("RapidOCR").setLevel(logging.WARNING)

    def recognize(self, image: Image.Image) -> OcrPage:
        return self._run(self._engine, image)

    def _run(self, engine: Any, image: Image.Image) -> OcrPage:
        arr = np.asarray(image.convert("RGB"))[:, :, ::-1]  # RapidOCR expects BGR like cv2
        start = time.perf_counter()
        out: Any = engine(arr, use_cls=False)  # page orientation is handled per page (extract)
        seconds = time.perf_counter() - start
        boxes: list[OcrBox] = []
        if out.boxes is not None and out.txts is not None:
            for quad, text, score in zip(out.boxes, out.txts, out.scores or [], strict=False):
                xs = [float(p[0]) for p in quad]
                ys = [float(p[1]) for p in quad]
                boxes.append(OcrBox(str(text), float(score), (min(xs), min(ys), max(xs), max(ys))))
        return OcrPage(image.width, image.height, tuple(boxes), seconds, self.name)

    def recognize_coarse(self, image: Image.Image) -> OcrPage:
        """Detector on a copy at most COARSE_SIDE px long, recogniser on full-resolution crops: for pages
        whose text is large (licence, ID card, certificate, invoice copies), about half the detector's work
        at the same readings."""
        if self._coarse is None:
            from rapidocr import RapidOCR

            params = {**self._params, "Det.limit_type": "max", "Det.limit_side_len": COARSE_SIDE}
            self._coarse = RapidOCR(params=params)
        return self._run(self._coarse, image)

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
                    boxes.append(OcrBox(str(text), float(score), box))
        return OcrPage(image.width, image.height, tuple(boxes), time.perf_counter() - start, self.name)


register("rapidocr", RapidOcrEngine)
