"""Phone photos of a page are found, warped flat and evened out, so they read like a scan.

The photos are synthetic (bench/photo.py ``synthetic_photo``): the committed 申请表 scan, or the ID copy
cropped to an ID card's shape, seen by a pinhole camera tilted up to 25° on a textured brown desk in a
12-megapixel frame, under a light gradient, a vignette and a soft shadow, saved as JPEG quality 85.
"""

from __future__ import annotations

import re

import numpy as np
import pytest
from conftest import REPO, SAMPLES, extract_file, truth
from photo import corner_error, synthetic_photo
from PIL import Image

from pipeline.extract.gridlines import text_lines
from pipeline.extract.photo import (
    PhotoResult,
    find_page_quad,
    flatten_light,
    looks_like_photo,
    prepare_photo,
    rectify,
)

FORM = SAMPLES / "xiamen-new-scan" / "申请表.jpg"
ID_COPY = SAMPLES / "xiamen-new-scan" / "法定代表人身份证.jpg"
TOLERANCE = 0.015  # of the frame's diagonal
ID_CARD_RATIO = 85.6 / 54


@pytest.fixture(scope="module")
def form() -> Image.Image:
    return Image.open(FORM).convert("RGB")


@pytest.fixture(scope="module")
def photos(form: Image.Image) -> list[tuple[Image.Image, np.ndarray]]:
    """Three photos of the form: landscape and portrait frames, near and far."""
    rng = np.random.default_rng(20260)
    return [
        synthetic_photo(form, rng, frame=(4000, 3000), area=0.45),
        synthetic_photo(form, rng, frame=(3000, 4000), area=0.6),
        synthetic_photo(form, rng, frame=(4000, 3000), area=0.28),
    ]


@pytest.fixture(scope="module")
def prepared(photos: list[tuple[Image.Image, np.ndarray]]) -> list[PhotoResult]:
    results = [prepare_photo(photo) for photo, _truth in photos]
    assert all(r is not None for r in results)
    return [r for r in results if r is not None]


def test_a_photo_is_told_from_a_scan(form: Image.Image, photos: list[tuple[Image.Image, np.ndarray]]) -> None:
    assert all(looks_like_photo(photo) for photo, _truth in photos)
    assert not looks_like_photo(form)
    assert not looks_like_photo(form.rotate(2.5, fillcolor="black"))  # a skewed scan's thin dark corners
    assert not looks_like_photo(form.rotate(-1.5, fillcolor="white"))
    assert prepare_photo(form) is None  # the caller takes the usual path


def test_the_page_corners_are_found(photos: list[tuple[Image.Image, np.ndarray]]) -> None:
    for photo, true_corners in photos:
        quad = find_page_quad(photo)
        assert quad is not None and quad.shape == (4, 2) and quad.dtype == np.float32
        assert corner_error(quad, true_corners, photo.size) < TOLERANCE
        assert np.allclose(quad, true_corners, atol=TOLERANCE * np.hypot(*photo.size))  # in order tl tr br bl


def test_the_flat_page_is_a4_at_200_dpi_and_keeps_its_grid(prepared: list[PhotoResult]) -> None:
    for result in prepared:
        assert abs(result.image.width - 1654) <= 2 and abs(result.image.height - 2339) <= 2
        lines = text_lines(result.image)
        assert lines is not None and len(lines) >= 25
        assert set(result.seconds) == {"detect", "rectify", "flatten", "total"}


def test_the_light_is_evened_out_and_the_seal_stays_red(form: Image.Image, prepared: list[PhotoResult]) -> None:
    for result in prepared:
        grey = np.asarray(result.image.convert("L"))
        height, width = grey.shape
        # paper is white in every corner of the page, whatever the gradient, vignette and shadow did
        for y, x in ((0.05, 0.1), (0.05, 0.9), (0.95, 0.1), (0.95, 0.9), (0.5, 0.03), (0.5, 0.97)):
            patch = grey[int(y * height) - 20 : int(y * height) + 20, int(x * width) - 20 : int(x * width) + 20]
            assert np.percentile(patch, 75) >= 225, (y, x)
        assert _red_pixels(result.image) > 0.4 * _red_pixels(form)


def _red_pixels(img: Image.Image) -> int:
    rgb = np.asarray(img.convert("RGB")).astype(np.int16)
    return int(np.count_nonzero(rgb[:, :, 0] - np.maximum(rgb[:, :, 1], rgb[:, :, 2]) > 60))


def test_a_card_photographed_sideways_is_found() -> None:
    card = Image.open(ID_COPY).convert("RGB").crop((0, 0, 1654, 1044))  # the copy cut to an ID card's shape
    rng = np.random.default_rng(4)
    photo, true_corners = synthetic_photo(card, rng, frame=(4000, 3000), area=0.2, roll=90)
    assert looks_like_photo(photo)
    result = prepare_photo(photo)
    assert result is not None
    assert corner_error(result.quad, true_corners, photo.size) < TOLERANCE
    # portrait as photographed (not turned back), at an ID card's ratio, not blown up beyond 2x
    assert result.image.height > result.image.width
    assert abs(result.image.height / result.image.width - ID_CARD_RATIO) < 0.01
    quad_long = max(np.linalg.norm(result.quad[i] - result.quad[(i + 1) % 4]) for i in range(4))
    assert max(result.image.size) <= 2 * quad_long + 1


def test_rectify_and_flatten_work_alone(photos: list[tuple[Image.Image, np.ndarray]]) -> None:
    photo, true_corners = photos[0]
    page = rectify(photo, true_corners, target_long_side=1169)
    assert abs(page.height - 1169) <= 1 and abs(page.width - 827) <= 1
    flat = flatten_light(page)
    assert flat.size == page.size and flat.mode == "RGB"


def test_a_desk_without_a_page_has_no_quad() -> None:
    rng = np.random.default_rng(3)
    desk = rng.normal(110, 20, (750, 1000, 3)).clip(0, 255).astype(np.uint8)
    empty = Image.fromarray(desk).resize((4000, 3000))
    assert find_page_quad(empty) is None
    assert prepare_photo(empty) is None


@pytest.mark.slow
def test_ocr_reads_the_credit_code_from_the_flattened_photo(prepared: list[PhotoResult]) -> None:
    from pipeline.extract.ocr import get_engine

    page = get_engine().recognize(prepared[0].image)
    texts = [re.sub(r"\s", "", box.text) for box in page.boxes]
    assert truth("xiamen-new-scan")["org_code"] in texts


def test_a_page_photographed_in_a_corner_of_the_desk_is_found(form: Image.Image) -> None:
    """The page need not cover the middle of the frame: one page-sized piece of paper anywhere is a photo."""
    rng = np.random.default_rng(7)
    desk = rng.normal(70, 12, (750, 1000, 3)).clip(0, 255).astype(np.uint8)
    photo = Image.fromarray(desk).resize((4000, 3000))
    page = form.resize((1250, 1768))
    photo.paste(page, (2600, 500))  # right of the centre, which stays desk
    assert looks_like_photo(photo)
    quad = find_page_quad(photo)
    assert quad is not None
    truth = np.array([[2600, 500], [3850, 500], [3850, 2268], [2600, 2268]], dtype=np.float32)
    assert float(np.abs(quad - truth).max()) < 0.015 * np.hypot(4000, 3000)


PALE_DESK = REPO / "tests" / "data" / "form-photo-pale-desk-bright-patch.jpg"  # office renderer, seed 36363
PALE_DESK_FIELDS = {  # that case's truth
    "category": "新办",
    "applicant_name": "杭州建发软件（集团）有限公司",
    "org_code": "91330100MA9MXLFKXX",
    "address": "杭州市上城区嘉禾路587号19楼07单元",
    "legal_rep_name": "唐雪",
    "legal_rep_id_type": "身份证",
    "legal_rep_id_number": "330108196402281539",
    "handler_name": "洪芳强",
    "handler_phone": "17637309974",
    "handler_id_type": "居民身份证",
    "handler_id_number": "320106196903071009",
    "crypto_product_cert_no": "GM003312220230561",
    "common_name": "杭州建发软件（集团）有限公司",
    "algorithm": "SM2",
    "validity_years": "10",
    "seal_present": "是",
    "signature_present": "是",
}


@pytest.mark.slow
def test_a_page_on_a_pale_desk_is_found_from_its_straight_edges_and_read_whole() -> None:
    """A form photographed on a pale desk, a bright patch of the desk beside its top edge (an office
    photo of seed 36363 taken again with a stronger blur, untuned): the paper mask flooded into the patch,
    the hull's corner moved out there, and the top side drawn to it had desk on both sides — no quad was
    accepted, the photo was read as a skewed scan and 8 of its 17 fields came out wrong or missing (an
    applicant name 有限公司 at 1.0).  The outline's long straight runs are the page's edges."""
    photo = Image.open(PALE_DESK)
    assert looks_like_photo(photo)
    quad = find_page_quad(photo)
    assert quad is not None
    corners = np.array([[108, 42], [1164, 97], [1008, 1587], [46, 1469]], np.float32)  # checked by eye
    assert float(np.abs(quad - corners).max()) < 0.01 * np.hypot(*photo.size)
    result = extract_file(PALE_DESK, "hangzhou-eport")
    assert {k: result.fields[k].value for k in PALE_DESK_FIELDS if k in result.fields} == PALE_DESK_FIELDS


OFF_FRAME = REPO / "tests" / "data" / "form-photo-page-off-the-frame.jpg"  # seed 46446's scan photographed large
OFF_FRAME_FIELDS = {  # that case's truth
    "category": "新办",
    "applicant_name": "杭州国贸智能科技有限公司",
    "org_code": "913301083783566236",
    "address": "杭州市滨江区湖滨南路900号",
    "legal_rep_name": "梁涵秀",
    "legal_rep_id_type": "居民身份证",
    "legal_rep_id_number": "330302198112032560",
    "handler_name": "唐德俊",
    "handler_phone": "18737330114",
    "handler_id_type": "居民身份证",
    "handler_id_number": "330302196403274026",
    "crypto_product_cert_no": "GM003312220191506",
    "common_name": "杭州国贸智能科技有限公司",
    "algorithm": "SM2",
    "validity_years": "10",
    "seal_present": "是",
    "signature_present": "是",
}


@pytest.mark.slow
def test_a_photo_whose_page_runs_off_the_frame_is_read_level() -> None:
    """A form photographed to fill the frame, turned about 4°, a corner off the frame and the top edge against a
    pale desk (seed 46446's scan photographed again, the page at 90–100 % of the frame's height, untuned): no
    page quad is found, and read as a scan — whose deskew follows rules, found none at that angle — 10 of its
    17 fields came out wrong or missing (通用名 智能科技有限公司 at 0.92).  A photo whose page is not found is
    turned so that its text runs level (the angle at which its ink stacks into the sharpest rows)."""
    from pipeline.extract.images import text_skew
    from pipeline.extract.photo import flat_page

    photo = Image.open(OFF_FRAME)
    assert looks_like_photo(photo) and find_page_quad(photo) is None
    assert 2.5 < text_skew(photo) < 8.0
    assert abs(text_skew(flat_page(photo))) < 0.5
    result = extract_file(OFF_FRAME, "hangzhou-eport")
    assert {k: result.fields[k].value for k in OFF_FRAME_FIELDS if k in result.fields} == OFF_FRAME_FIELDS
