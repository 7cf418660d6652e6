"""PaddleOCR adapter (optional extra ``cert-intake[paddle]``).

It never downloads: the detection and recognition model directories must be given in the config
(``paddle_det_model_dir``, ``paddle_rec_model_dir``) and exist, or it fails with a message naming them.
"""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np
from PIL import Image

from pipeline.errors import OcrUnavailable
from pipeline.extract.ocr import OcrBox, OcrPage, register
from pipeline.extract.ocr.simplified import simplified

REQUIRED = ("paddle_det_model_dir", "paddle_rec_model_dir")


class PaddleOcrEngine:
    name = "paddleocr"

    def __init__(self, options: dict[str, str]) -> None:
        missing = [k for k in REQUIRED if not options.get(k) or not Path(options[k]).is_dir()]
        if missing:
            raise OcrUnavailable(
                "PaddleOCR needs local model directories (no download at run time); missing or not found: "
                + ", ".join(f"{k}={options.get(k)!r}" for k in missing)
            )
        try:
            from paddleocr import PaddleOCR
        except ImportError as exc:
            raise OcrUnavailable("paddleocr is not installed: pip install 'cert-intake[paddle]'") from exc
        self._engine = PaddleOCR(
            text_detection_model_dir=options["paddle_det_model_dir"],
            text_recognition_model_dir=options["paddle_rec_model_dir"],
            use_doc_orientation_classify=False,
            use_doc_unwarping=False,
            use_textline_orientation=False,
        )

    def recognize(self, image: Image.Image) -> OcrPage:
        start = time.perf_counter()
        result = self._engine.predict(np.asarray(image.convert("RGB")))
        seconds = time.perf_counter() - start
        boxes: list[OcrBox] = []
        for page in result:
            for text, score, poly in zip(page["rec_texts"], page["rec_scores"], page["rec_polys"], strict=False):
                xs = [float(p[0]) for p in poly]
                ys = [float(p[1]) for p in poly]
                boxes.append(OcrBox(simplified(str(text)), float(score), (min(xs), min(ys), max(xs), max(ys))))
        return OcrPage(image.width, image.height, tuple(boxes), seconds, self.name)


register("paddleocr", PaddleOcrEngine)
