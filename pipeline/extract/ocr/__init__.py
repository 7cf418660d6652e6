"""OCR engines behind one protocol and a registry; models load lazily, once per process."""

from __future__ import annotations

import os
import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol

from PIL import Image

from pipeline.errors import OcrUnavailable
from pipeline.models import BBox


@dataclass(frozen=True)
class OcrBox:
    text: str
    score: float
    bbox: BBox  # axis-aligned box around the detected quadrilateral, image pixels


@dataclass(frozen=True)
class OcrPage:
    width: int
    height: int
    boxes: tuple[OcrBox, ...]
    seconds: float
    engine: str
    # set only by a coarse read asked to orient itself whose sample of lines reads better turned: the page
    # was read turned this many degrees counter-clockwise, and the boxes lie on the page turned so
    turn: int = 0


class OcrEngine(Protocol):
    name: str

    def recognize(self, image: Image.Image) -> OcrPage: ...


class LineRecognizer(Protocol):
    """An engine that can also recognise given text-line boxes without running its detector."""

    name: str

    def recognize(self, image: Image.Image) -> OcrPage: ...

    def recognize_lines(self, image: Image.Image, lines: list[BBox]) -> OcrPage: ...


def coarse(engine: OcrEngine, image: Image.Image, orient: bool = False) -> OcrPage:
    """A full read that may detect on a reduced copy (engines that offer it); a plain read otherwise.  With
    ``orient`` such an engine may read the page turned the way it asks (``OcrPage.turn``)."""
    method = getattr(engine, "recognize_coarse", None)
    return method(image, orient) if callable(method) else engine.recognize(image)


def reads_lines(engine: OcrEngine) -> bool:
    """Whether the engine recognises given line boxes (``LimitedEngine`` says so for the engine it wraps)."""
    return bool(getattr(engine, "reads_lines", hasattr(engine, "recognize_lines")))


_FACTORIES: dict[str, Callable[[dict[str, str]], OcrEngine]] = {}
_INSTANCES: dict[str, OcrEngine] = {}
_LOCK = threading.Lock()


def register(name: str, factory: Callable[[dict[str, str]], OcrEngine]) -> None:
    _FACTORIES[name] = factory


def get_engine(name: str = "rapidocr", options: dict[str, str] | None = None) -> OcrEngine:
    """The process-wide engine ``name`` (created on first use)."""
    with _LOCK:
        if name not in _INSTANCES:
            _load_builtin(name)
            if name not in _FACTORIES:
                raise OcrUnavailable(f"unknown OCR engine {name!r}; known: {sorted(_FACTORIES)}")
            _INSTANCES[name] = _FACTORIES[name](options or {})
        return _INSTANCES[name]


def _load_builtin(name: str) -> None:
    if name == "rapidocr":
        from pipeline.extract.ocr import rapid  # noqa: F401  (registers itself)
    elif name == "paddleocr":
        from pipeline.extract.ocr import paddle  # noqa: F401


class LimitedEngine:
    """An engine whose calls wait for a process-wide slot: the watcher, the scheduled batch and the review
    app's worker may all OCR at once in one process, and each ONNX call already uses several cores."""

    def __init__(self, engine: OcrEngine, slots: threading.BoundedSemaphore) -> None:
        self.engine = engine
        self.name = engine.name
        self._slots = slots

    def recognize(self, image: Image.Image) -> OcrPage:
        with self._slots:
            return self.engine.recognize(image)

    def recognize_lines(self, image: Image.Image, lines: list[BBox]) -> OcrPage:
        with self._slots:
            return self.engine.recognize_lines(image, lines)  # type: ignore[attr-defined]

    def recognize_coarse(self, image: Image.Image, orient: bool = False) -> OcrPage:
        with self._slots:
            return coarse(self.engine, image, orient)

    @property
    def reads_lines(self) -> bool:
        return hasattr(self.engine, "recognize_lines")


_SLOTS: list[threading.BoundedSemaphore] = []


def ocr_slots(concurrency: int = 0) -> int:
    """OCR calls allowed at once: ``concurrency`` or half the CPUs (at least 1)."""
    return concurrency if concurrency > 0 else max(1, (os.cpu_count() or 2) // 2)


def limited_engine(name: str, options: dict[str, str] | None, concurrency: int = 0) -> OcrEngine:
    """The process-wide engine behind the process-wide OCR limit (sized on first use)."""
    engine = get_engine(name, options)
    with _LOCK:
        if not _SLOTS:
            _SLOTS.append(threading.BoundedSemaphore(ocr_slots(concurrency)))
    return LimitedEngine(engine, _SLOTS[0])
