"""A value nothing else on file vouches for is read twice.

The e-mail address on the 申请表 is where the certificate and the notice are sent, and no other document
prints it: a code has its check digit and the licence's or the ID card's copy, a name the CSR's subject.
In a typewriter face ``1`` and ``l`` differ by a serif, and the recogniser reads one for the other at 0.99
(``ca18`` as ``cal8``, ``it11`` as ``itll``) — while the same line cut with a little more paper around it
reads the other way.  So the line is read again with two wider margins; a reading that differs from the
first by such swapped characters is a doubt a person settles against the scan (``EMAIL_UNSURE``), never a
guess between them.
"""

from __future__ import annotations

from typing import cast

from PIL import Image

from pipeline.extract.cellform import pick_value
from pipeline.extract.forms import TextItem
from pipeline.extract.ocr import LineRecognizer, OcrEngine, reads_lines
from pipeline.glyphs import alike
from pipeline.models import BBox, Field, Finding, warning

MARGINS = (0.3, 0.45)  # of the line's height, added on every side for the readings again
UNSURE = 0.6  # confidence of a value whose readings differ


def _swapped(first: str, again: str) -> bool:
    """Whether ``again`` is ``first`` with confusable characters swapped (no other change): the glyph's own
    ambiguity.  A reading that drops or adds characters is a worse cut of the line (``qq.com`` read ``q.com``
    with a wide margin), no doubt about the first reading."""
    return first != again and alike(first, again)


def _inside(box: BBox, area: BBox) -> bool:
    cx, cy = (box[0] + box[2]) / 2, (box[1] + box[3]) / 2
    return area[0] <= cx <= area[2] and area[1] <= cy <= area[3]


def _line(fld: Field, shape: str, items: list[TextItem]) -> TextItem | None:
    """The one OCR line the value was read from (a value put together from several lines is left alone)."""
    ev = fld.evidence
    if ev is None or ev.bbox is None:
        return None
    lines = [
        it
        for it in items
        if it.page == ev.page and _inside(it.bbox, ev.bbox) and pick_value(shape, it.text) == fld.value
    ]
    return lines[0] if len(lines) == 1 else None


def email_read_twice(
    fld: Field, items: list[TextItem], image: Image.Image | None, engine: OcrEngine
) -> tuple[Field, Finding | None]:
    """The e-mail field, and a finding when its line read again with wider margins says otherwise."""
    line = _line(fld, "email", items)
    if line is None or image is None or not reads_lines(engine):  # paddleocr reads whole pages only
        return fld, None
    x0, y0, x1, y1 = line.bbox
    width, height = float(image.width), float(image.height)
    boxes = []
    for margin in MARGINS:
        pad = max(4.0, margin * (y1 - y0))
        boxes.append((max(0.0, x0 - pad), max(0.0, y0 - pad), min(width, x1 + pad), min(height, y1 + pad)))
    again = cast(LineRecognizer, engine).recognize_lines(image, boxes)
    others = {o for o in (pick_value("email", b.text) for b in again.boxes) if _swapped(fld.value, o)}
    if not others:
        return fld, None
    second = "”/“".join(sorted(others))
    doubt = warning(
        "EMAIL_UNSURE",
        "email",
        f"电子邮箱重新识别的结果不一致（“{fld.value}” / “{second}”），请对照原件核对",
        fld.evidence,
    )
    return Field(fld.value, min(fld.confidence, UNSURE), fld.evidence), doubt


NAME_MARGINS = (0.2, 0.3, 0.45)  # of the line's height: the name on an ID copy read again


def name_read_again(
    fld: Field, form_name: str, items: list[TextItem], image: Image.Image | None, engine: OcrEngine
) -> Field:
    """An ID copy's name read under the threshold and unlike the form's name for the same ID number, read
    again with more paper around it: a reading that is the form's name is taken (seed 97979, untuned: a
    stack's 高磊宇 read 高磊字 at 0.85 on a tight cut, 高磊宇 at 0.94–0.99 on every wider one).  No reading
    is made to agree: one that is not exactly the form's name leaves the first one, and the mismatch, as
    they were."""
    ev = fld.evidence
    if ev is None or ev.bbox is None or image is None or not reads_lines(engine):
        return fld
    line = next((it for it in items if it.page == ev.page and it.bbox == ev.bbox), None)
    if line is None or line.text.strip() != fld.value:
        return fld  # a name cut out of a longer line (姓名 高磊宇): its own cut is not known
    x0, y0, x1, y1 = line.bbox
    boxes = []
    for margin in NAME_MARGINS:
        pad = max(3.0, margin * (y1 - y0))
        boxes.append((max(0.0, x0 - pad), max(0.0, y0 - pad), min(image.width, x1 + pad), min(image.height, y1 + pad)))
    again = cast(LineRecognizer, engine).recognize_lines(image, boxes)
    agreeing = [b.score for b in again.boxes if b.text.strip() == form_name]
    if not agreeing:
        return fld
    return Field(form_name, max(agreeing), ev)
