"""Ruled forms are read without the OCR detector: line boxes from the table's pixels, recogniser only."""

from __future__ import annotations

from pathlib import Path

import pytest
from conftest import REPO, SAMPLES, extract_file, truth
from PIL import Image

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
    # no detector pass on the form page: its lines in two recogniser calls (a sample spread over the page,
    # then the rest), the e-mail's line read again
    assert counting.lines == 3 and counting.full == 0
    expected = truth("xiamen-new-scan")
    for key, value in expected.items():
        if key in result.fields:
            assert result.fields[key].value == value, key
    assert sum(1 for k in expected if k in result.fields) >= 12
    assert result.fields["signature_present"].value == "是" and result.fields["seal_present"].value == "是"


class LineCounting(Counting):
    def __init__(self) -> None:
        super().__init__()
        self.calls: list[int] = []

    def recognize_lines(self, image, lines):  # type: ignore[no-untyped-def]
        self.calls.append(len(lines))
        return super().recognize_lines(image, lines)


@pytest.mark.slow
def test_a_form_fed_upside_down_is_given_up_after_a_sample_of_its_lines() -> None:
    """Read as it lies, an upside-down form reads badly: a sample of its lines says so, and the page is
    turned without recognising the rest (before: every line, some 60, read for nothing)."""
    import io

    from pipeline.extract import LINE_SAMPLE, gridlines, images

    path = SAMPLES / "xiamen-new-scan" / "申请表.jpg"
    upright = Image.open(path).convert("RGB")
    buf = io.BytesIO()
    upright.rotate(180).save(buf, "JPEG", quality=92)
    lines = gridlines.analyse(images.prepare(upright).image)
    assert lines is not None and len(lines.lines) > 2 * LINE_SAMPLE
    counting = LineCounting()
    _p, result, _docs = extract_case(
        [("scan0001.jpg", "sha", buf.getvalue())], load_profiles(REPO / "forms"), "xiamen-eport", lambda: counting
    )
    # upside down: the sample only; turned: the sample and the rest; then the e-mail's line
    assert counting.calls[0] <= LINE_SAMPLE + 1 and counting.full == 0
    assert sum(counting.calls[1:3]) >= len(lines.lines) - 2
    expected = truth("xiamen-new-scan")
    for key in ("applicant_name", "org_code", "legal_rep_name", "email", "common_name"):
        assert result.fields[key].value == expected[key], key


def _ruled_page(rule_grey: int = 0) -> Image.Image:
    """A blank A4 page at 200 dpi with a 6-row, 3-column table (rules 2 px); ``rule_grey`` for the inner
    vertical rule (a faint photocopied line)."""
    from PIL import ImageDraw

    page = Image.new("RGB", (1654, 2339), "white")
    d = ImageDraw.Draw(page)
    top, row, left, right = 300, 90, 150, 1500
    for r in range(7):
        d.rectangle([left, top + r * row, right, top + r * row + 1], fill=(0, 0, 0))
    for x in (left, right):
        d.rectangle([x, top, x + 1, top + 6 * row], fill=(0, 0, 0))
    d.rectangle([500, top, 501, top + 6 * row], fill=(0, 0, 0))
    d.rectangle([1000, top, 1001, top + 6 * row], fill=(rule_grey,) * 3)
    return page


@pytest.mark.parametrize("degrees", [-2.4, -1.1, -0.3, 0.4, 1.7, 2.5])
def test_skew_is_read_from_the_rules_to_a_twentieth_of_a_degree(degrees: float) -> None:
    from pipeline.extract.images import estimate_skew

    page = _ruled_page().rotate(degrees, resample=Image.Resampling.BICUBIC, fillcolor="white")
    assert abs(estimate_skew(page) - degrees) < 0.05
    assert estimate_skew(Image.new("RGB", (1654, 2339), "white")) == 0.0  # nothing to measure: no turn


GREY_RULES_SKEWED = REPO / "tests" / "data" / "form-grey-rules-skewed-150dpi.jpg"  # office renderer, seed 17171


@pytest.mark.parametrize("more", [-3.0, -1.5, 1.5, 3.0])
def test_the_skew_of_a_form_with_grey_rules_is_read_when_it_is_turned_further(more: float) -> None:
    """A 150-dpi 杭州 form (top half) scanned 1.7° askew, its rules grey: they binarise into dashes on
    alternating rows, and turned another ±1.5–3° (a page fed by hand) no opening kept a run long enough —
    no skew was found, so no grid: 10 of the form's 18 fields missing or wrong (seed 17171's scans turned
    3° more: 96.2 % of 264 fields, two names read sure and wrong).  Thickened across, its steps join."""
    from pipeline.extract.images import estimate_skew, scale_for_ocr

    page = scale_for_ocr(Image.open(GREY_RULES_SKEWED).convert("RGB"))
    base = estimate_skew(page)
    assert 1.4 < base < 2.0
    turned = page.rotate(more, expand=True, resample=Image.Resampling.BICUBIC, fillcolor="white")
    assert abs(estimate_skew(turned) - (base + more)) < 0.2


def test_a_faint_rule_that_binarises_into_dashes_still_closes_its_cells() -> None:
    import numpy as np

    from pipeline.extract.gridlines import analyse

    page = _ruled_page(rule_grey=110)
    arr = np.asarray(page).copy()
    # photocopy: the faint rule's dark pixels alternate between its two columns, and it fades at places
    rng = np.random.default_rng(7)
    left = rng.random(arr.shape[0]) < 0.5
    arr[left, 1001] = 200
    arr[~left, 1000] = 200
    arr[300 + 7 :: 41, 1000:1002] = 200  # one-pixel breaks
    arr[:, :, :] = np.clip(arr.astype(int) + rng.integers(-3, 4, arr.shape[:2])[..., None], 0, 255)
    ruled = analyse(Image.fromarray(arr.astype("uint8")))
    assert ruled is not None and len(ruled.cells) == 18  # 6 rows x 3 columns: the faint rule splits every row


def test_a_rule_broken_into_dashes_in_one_row_still_splits_that_row() -> None:
    """A rule as grey as the page's ink threshold (seed 13131's stack): within one row it binarises into
    dashes with gaps of four pixels, and a strict search loses that stretch whole, so the row's two cells
    become one.  A laxer search continues the rule found in the other rows, in its column and as thin."""
    import numpy as np

    from pipeline.extract.gridlines import analyse

    arr = np.asarray(_ruled_page()).copy()
    top, row = 300, 90
    for y in range(top + 2 * row + 2, top + 3 * row):  # the third row: 3 px of rule, 4 px of paper
        if (y - top) % 7 >= 3:
            arr[y, 1000:1002] = 255
    ruled = analyse(Image.fromarray(arr))
    assert ruled is not None and len(ruled.cells) == 18  # 6 rows x 3 columns


def test_a_rule_grey_at_the_ink_threshold_still_splits_its_rows() -> None:
    """Seed 99001's stack (untuned): a thin rule scanned grey (152–187 under an ink threshold of 159) was
    held by the strict binary only as dashes with long gaps, over two rows; neither search kept it and a
    name ran into the next label (宋桂华联系电话).  The laxer search reads the page binarised halfway
    between ink and paper."""
    import numpy as np

    from pipeline.extract.gridlines import analyse

    arr = np.asarray(_ruled_page()).copy()
    top, row = 300, 90
    rng = np.random.default_rng(3)
    arr[:, :, :] = np.clip(arr.astype(int) + rng.integers(-12, 13, arr.shape[:2])[..., None], 0, 255)
    for y in range(top + 2 * row + 2, top + 4 * row):  # rows three and four: 2 px of ink, 8 px of pale grey
        arr[y, 1000:1002] = 100 if (y - top) % 10 < 2 else 175
    ruled = analyse(Image.fromarray(arr))
    assert ruled is not None and len(ruled.cells) == 18  # 6 rows x 3 columns (16 when the two rows merge)


def test_a_laxer_stretch_with_writing_beside_it_does_not_continue_a_rule() -> None:
    """Seed 34343 (a 150-dpi scan): the bold label 服务类密码设备商用密码产品 / 认证证书编号, wrapped under the
    column of the rule above it, stacks its strokes into a run the paler binary joins; a stretch the laxer
    search adds must have paper beside it, as a rule has."""
    import numpy as np

    from pipeline.extract.gridlines import _faint_continued

    horiz = np.zeros((400, 400), np.uint8)
    for y in (0, 100, 200, 300):
        horiz[y : y + 2, :] = 255
    vert = np.zeros_like(horiz)
    vert[0:102, 100:102] = 255  # two rules found the strict way in the first row
    vert[0:102, 250:252] = 255
    lenient = vert.copy()
    lenient[100:302, 100:102] = 255  # below: a stroke stack under the first rule's column
    lenient[100:302, 250:252] = 255  # and the second rule, pale, continued over two rows
    binary = vert.copy()
    binary[105:295:3, 90:98] = 255  # the label's characters on both sides of the stack
    binary[105:295:3, 104:112] = 255
    out = _faint_continued(vert, lenient, binary, horiz, 14)  # band 7 px, as in _written's test
    assert not out[110:290, 100:102].any()
    assert out[100:302, 250].all()


def test_strokes_stacked_on_a_rule_are_no_rule_and_a_rule_prolonged_by_text_is_cut_at_the_table() -> None:
    import numpy as np

    from pipeline.extract.gridlines import _spanning

    horiz = np.zeros((400, 300), np.uint8)
    horiz[100:102, :] = 255
    horiz[200:202, :] = 255
    vert = np.zeros_like(horiz)
    vert[60:202, 50:52] = 255  # a real rule from 100 to 200, prolonged 40 px above by a heading's strokes
    vert[150:215, 120:122] = 255  # characters sitting on the rule at 200: meets one rule only
    kept = _spanning(vert, horiz, 6)
    assert kept[100:200, 50].all() and not kept[60:95, 50].any()
    assert not kept[:, 120].any()


def test_a_run_with_writing_on_both_sides_is_no_rule_and_a_rule_beside_one_text_stays() -> None:
    import numpy as np

    from pipeline.extract.gridlines import _written

    horiz = np.zeros((400, 400), np.uint8)
    horiz[100:102, :] = 255
    horiz[200:202, :] = 255
    vert = np.zeros_like(horiz)
    vert[100:202, 50:52] = 255  # a ruling line, blank paper on both sides
    vert[100:202, 150:152] = 255  # a ruling line with a value written up to it on its left only
    vert[100:202, 300:301] = 255  # strokes of characters stacked from rule to rule inside a wrapped value
    binary = vert.copy()
    binary[110:190:6, 138:147] = 255  # the value's strokes beside the rule at 150, every sixth row
    binary[110:190:3, 290:298] = 255  # the rest of the stacked characters, both sides of the run at 300
    binary[110:190:3, 303:311] = 255
    kept = _written(vert, horiz, binary, 14)
    assert kept[100:202, 50].all() and kept[100:202, 150].all()
    assert not kept[:, 300].any()


VALUE_FILLS_CELL = REPO / "tests" / "data" / "value-wrapped-fills-cell-150dpi.jpg"  # office renderer, seed 41414


@pytest.mark.slow
def test_a_value_wrapped_to_fill_its_cell_is_read_whole() -> None:
    """At 150 dpi the name wraps over both lines of its cell and the strokes of 建 over 股 join from rule to
    rule; before, that run was a rule, split the value cell, and the name was read as 厦门市远海建术研究发展股
    at 0.9996 — a sure, wrong value.  Every field of the page is read as typed."""
    result = extract_file(VALUE_FILLS_CELL)
    expected = {
        "category": "新办",
        "applicant_name": "厦门市远海建发信息安全技术研究发展股份有限公司",
        "org_code": "91350200MAMLU46769",
        "email": "admin@xinghe.com.cn",
        "legal_rep_name": "郭秀平",
        "legal_rep_phone": "13595543317",
        "legal_rep_id_type": "居民身份证",
        "legal_rep_id_number": "350203196010012361",
        "handler_name": "彭国",
        "handler_phone": "17052669151",
        "handler_id_type": "居民身份证",
        "handler_id_number": "350212197605111175",
        "crypto_product_cert_no": "GM003312220250278",
        "common_name": "厦门市远海建发信息安全技术研究发展股份有限公司",
        "algorithm": "SM2",
        "validity_years": "10",
        "seal_present": "是",
        "signature_present": "是",
    }
    assert {k: result.fields[k].value for k in expected if k in result.fields} == expected
    assert "EMAIL_UNSURE" not in {f.code for f in result.findings}  # read again, the address reads the same


def test_the_sample_of_a_ruled_page_is_its_short_lines_spread_over_the_page() -> None:
    """The sample fills the recogniser's batches with lines padded to its narrowest input anyway; long lines
    (a declaration's) are left to the rest of the page, where they are batched with their like."""
    from pipeline.extract import LINE_SAMPLE, SHORT_LINE, _sample

    lines = []
    for row in range(60):
        y = 40.0 * row
        wide = row % 3 == 0  # every third line is a long one
        lines.append((10.0, y, 10.0 + (30 if wide else 4) * 30, y + 30))
    picked = _sample(lines)
    assert len(picked) == LINE_SAMPLE
    assert all(lines[i][2] - lines[i][0] <= SHORT_LINE * 30 for i in picked)
    assert min(picked) < 5 and max(picked) > 50  # top and bottom of the page
    few = [(0.0, 40.0 * r, 900.0, 40.0 * r + 30) for r in range(10)]  # not enough short lines: any will do
    assert _sample(few) == set(range(10))


GREY_RULES = REPO / "tests" / "data" / "form-photographed-small-grey-rules.jpg"  # office renderer, seed 42424


@pytest.mark.slow
def test_a_grid_as_grey_as_the_ink_threshold_is_found_on_the_paler_binary_and_every_field_read() -> None:
    """A 厦门 form photographed small (a fifth of the frame) and scaled up to A4 by the perspective
    correction: its rules are grey 173–190 under an ink threshold of 181, so they binarise into dashes that
    no opening keeps, too few of them met, and the page was read with no grid — a label's text in a
    value (``或授权代理人)签字:高敏`` for 高晨敏), five fields missing (seed 42424, untuned).  The rules are
    looked for again on the page binarised halfway to its paper; the text stays the strict binary's.
    Both phone numbers wrap in their narrow cells (``1860447757`` / ``7``) and are joined."""
    from pipeline.extract.gridlines import analyse

    page = analyse(Image.open(GREY_RULES))
    assert page is not None and len(page.cells) >= 30
    fields = extract_file(GREY_RULES).fields
    expected = {
        "applicant_name": "天行智能科技（厦门）有限公司",
        "org_code": "913502039072978856",
        "email": "security@anheng-tech.com",
        "legal_rep_name": "高晨敏",
        "legal_rep_phone": "18604477577",
        "legal_rep_id_type": "居民身份证",
        "legal_rep_id_number": "440106199609262251",
        "handler_name": "诸葛芳平",
        "handler_phone": "17623707782",
        "handler_id_number": "350206199910241250",
        "crypto_product_cert_no": "GM003312220201934",
        "algorithm": "SM2",
        "validity_years": "10",
        "category": "新办",
    }
    assert {k: fields[k].value for k in expected if k in fields} == expected


STACKED_STROKES = REPO / "tests" / "data" / "value-stacked-strokes-150dpi.jpg"  # office renderer, seed 29292


@pytest.mark.slow
def test_strokes_stacked_over_three_tight_lines_do_not_cut_a_value_cell() -> None:
    """A 杭州 通用名 wrapped over three tight lines in a 14-pt face fills its cell from rule to rule; the
    right strokes of 州, 子 and 司 stand one above the other in a column that holds a rule elsewhere, and
    the laxer search joined them into a run from rule to rule.  With ink beside it in 65 % of its rows on
    one side and 18 % on the other it passed as a rule, cut the cell in two, and the name read 杭州子科公司
    at 1.0 (seed 29292, untuned).  A run inked that much on one side and at all on the other is strokes."""
    fields = extract_file(STACKED_STROKES, "hangzhou-eport").fields
    assert fields["common_name"].value == "杭州象屿电子科技有限公司"
    assert fields["applicant_name"].value == "杭州象屿电子科技有限公司"


SPECKLED_COPY = REPO / "tests" / "data" / "form-grey-speckled-copy-white-corners-150dpi.jpg"  # seed 69696


@pytest.mark.slow
def test_the_paper_of_a_grey_speckled_copy_is_its_grey_not_the_white_a_deskew_turns_in() -> None:
    """A 150-dpi 厦门 copy on grey, speckled paper (about 208; ink threshold 165), turned a little, so its
    deskew brings pure white in at the corners: the laxer search for grey rules took the commonest level
    lighter than ink for the paper — 255 — binarised at 210, half the paper's speckle fell under it, and a
    "rule" ran down the label column through 申请类别, 申请单位 and 邮件地址.  申请类别 became 申请 | 类别:
    no category, no old certificate number read (seed 69696, untuned)."""
    from pipeline.extract.gridlines import analyse

    page = analyse(images.prepare(Image.open(SPECKLED_COPY)).image)
    assert page is not None
    label = [c for c in page.cells if c[0] <= 160 <= c[2] and c[1] <= 230 <= c[3]]
    assert label and label[0][2] >= 250  # 申请类别 is one cell: 申请 and 类别 in it
    fields = extract_file(SPECKLED_COPY).fields
    expected = {
        "category": "注销",
        "old_cert_serial": "C833A0021A290B80780",
        "applicant_name": "厦门海辰网络安全股份有限公司",
        "org_code": "91350203MAB7R9R58R",
        "email": "pki25@qiminggroup.com.cn",
        "legal_rep_name": "黎浩艳",
        "legal_rep_phone": "13951784054",
        "legal_rep_id_type": "身份证",
        "legal_rep_id_number": "440106197206011352",
        "handler_name": "邓晓怡",
        "handler_phone": "18705184896",
        "handler_id_type": "居民身份证",
        "handler_id_number": "350206196912132791",
        "algorithm": "SM2",
        "validity_years": "10",
    }
    assert {k: fields[k].value for k in expected if k in fields} == expected
