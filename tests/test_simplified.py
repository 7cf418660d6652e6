"""Traditional forms the recogniser returns become the simplified forms mainland documents print."""

import pytest

from pipeline.extract.ocr.simplified import simplified


@pytest.mark.parametrize(
    ("read", "printed"),
    [
        ("廈门市思明区", "厦门市思明区"),  # PP-OCR returned 廈 on a licence's 住所
        ("郭強琪", "郭强琪"),  # and 強 in an ID copy's name
        ("蘇州鍾氏有限公司", "苏州钟氏有限公司"),
    ],
)
def test_traditional_forms_are_mapped(read: str, printed: str) -> None:
    assert simplified(read) == printed


@pytest.mark.parametrize(
    "text",
    [
        "於立新",  # 於 is a surname in GB 2312 (OpenCC would make it 于)
        "乾坤科技",  # simplified text is never changed
        "王喆堃",  # rare characters outside GB 2312 that are no traditional form stay as read
        "91350200614518365T",
        "GM003312220221913",
        "",
    ],
)
def test_simplified_text_is_left_alone(text: str) -> None:
    assert simplified(text) == text
