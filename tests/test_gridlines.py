"""Ruled forms are read without the OCR detector: line boxes from the table's pixels, recogniser only."""

from __future__ import annotations

from pathlib import Path

import pytest
from conftest import REPO, SAMPLES, truth

from pipeline.extract import extract_case, images
from pipeline.extract.gridlines import text_lines
from pipeline.extract.ocr import get_engine
from pipeline.profiles import load_profiles

FORM_SCANS = [
    SAMPLES / "xiamen-new-scan" / "申请表.jpg",
    *sorted((REPO / "samples" / "forms" / "hangzhou-scan").glob("*.jpg")),
    *sorted((REPO / "samples" / "forms" / "netca-scan").glob("*.jpg")),
]


def _page(path: Path):  # type: ignore[no-untyped-def]
    return images.prepare(images.load_pages(path.read_bytes())[0]).image


def test_the_three_forms_have_a_grid_and_the_licence_copy_has_none() -> None:
    assert len(FORM_SCANS) == 3
    for path in FORM_SCANS:
        lines = text_lines(_page(path))
        assert lines is not None and len(lines) >= 25, path
        page = _page(path)
        for x0, y0, x1, y1 in lines:
            assert 0 <= x0 < x1 <= page.width and 0 <= y0 < y1 <= page.height
    assert text_lines(_page(SAMPLES / "xiamen-new-scan" / "营业执照.jpg")) is None


class Counting:
    def __init__(self) -> None:
        self.engine = get_engine("rapidocr")
        self.name = self.engine.name
        self.full = self.lines = 0

    def recognize(self, image):  # type: ignore[no-untyped-def]
        self.full += 1
        return self.engine.recognize(image)

    def recognize_lines(self, image, lines):  # type: ignore[no-untyped-def]
        self.lines += 1
        return self.engine.recognize_lines(image, lines)


@pytest.mark.slow
def test_form_page_is_read_by_lines_only_and_every_field_matches() -> None:
    path = SAMPLES / "xiamen-new-scan" / "申请表.jpg"
    counting = Counting()
    profiles = load_profiles(REPO / "forms")
    _p, result, _docs = extract_case(
        [(path.name, "sha", path.read_bytes())], profiles, "xiamen-eport", lambda: counting
    )
    assert counting.lines == 1 and counting.full == 0  # no detector pass on the form page
    expected = truth("xiamen-new-scan")
    for key, value in expected.items():
        if key in result.fields:
            assert result.fields[key].value == value, key
    assert sum(1 for k in expected if k in result.fields) >= 12
    assert result.fields["signature_present"].value == "是" and result.fields["seal_present"].value == "是"
