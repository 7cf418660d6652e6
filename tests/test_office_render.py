"""The office renderer (samples/office_render.py) itself: values, one DOCX → LibreOffice PDF → scan, truth files.

Extraction accuracy on its output is measured elsewhere (bench/accuracy.py --renderer office)."""

from __future__ import annotations

import json
import random
import shutil
import sys
from pathlib import Path

import pytest
from PIL import Image
from stdnum.cn import ric, uscc

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO / "bench"))

from common import office_renderer  # noqa: E402

from pipeline.identifiers import validate_resident_id  # noqa: E402

OFFICE = REPO / "samples" / "office"
FORM_KEYS = {
    "category",
    "applicant_name",
    "org_code",
    "legal_rep_name",
    "legal_rep_id_type",
    "legal_rep_id_number",
    "handler_name",
    "handler_phone",
    "handler_id_type",
    "handler_id_number",
    "algorithm",
    "validity_years",
}
ATT_KEYS = {
    "license.org_code",
    "license.name",
    "license.legal_rep",
    "license.address",
    "id_card.1.name",
    "id_card.1.number",
    "id_card.2.name",
    "id_card.2.number",
    "product_cert.number",
    "product_cert.product",
    "product_cert.model",
    "product_cert.valid_until",
}
needs_office = pytest.mark.skipif(
    not (shutil.which("soffice") and shutil.which("pdftoppm")), reason="needs soffice and pdftoppm"
)


def test_values_are_valid_and_varied() -> None:
    o = office_renderer()
    rng = random.Random(5)
    names = []
    for i in range(120):
        office = ["xiamen", "hangzhou"][i % 2]
        f, att = o.case_truth(rng, office)
        assert uscc.is_valid(f["org_code"]) and f["org_code"][:2] == "91" and f["org_code"][2:8].isdigit()
        assert o.org_check(f["org_code"][8:16]) == f["org_code"][16]
        for key in ("legal_rep_id_number", "handler_id_number"):
            assert validate_resident_id(f[key])[1] == "居民身份证", f[key]  # what the validator accepts
            assert ric.calc_check_digit(f[key]) == f[key][17]
            assert 1960 <= int(f[key][6:10]) <= 2000
        assert f["handler_phone"][:2] in ("13", "15", "17", "18") and len(f["handler_phone"]) == 11
        assert ("email" in f) == (office == "xiamen") and ("address" in f) == (office == "hangzhou")
        assert f["algorithm"] == "SM2" and f["validity_years"] == "10"
        if "crypto_product_cert_no" in f:
            assert f["crypto_product_cert_no"].startswith("GM0033122") and len(f["crypto_product_cert_no"]) == 17
        if f["category"] in ("注销", "更新"):
            assert 16 <= len(f["old_cert_serial"]) <= 20
        assert att["id_card.1.number"] == f["legal_rep_id_number"] and att["license.name"] == f["applicant_name"]
        names.append(f["applicant_name"])
    assert any("（" in n for n in names), "no full-width brackets"
    assert any(20 <= len(n) <= 28 for n in names), "no long names"
    assert all(len(n) <= 28 for n in names)
    bad = o.bad_uscc(o.make_uscc(rng, "350200"))
    assert not uscc.is_valid(bad)
    good = o.make_ric(rng, "350203")
    assert ric.calc_check_digit(o.bad_ric(good)) != o.bad_ric(good)[17]


@needs_office
def test_one_docx_to_pdf_to_scan(tmp_path: Path) -> None:
    """One case end to end: DOCX → one soffice call → one-page PDF → 150-dpi scan; truth complete."""
    o = office_renderer()
    made, timing = o.build([o.CaseSpec("t-xiamen", "xiamen", "scan-jpg150", attachments=False)], tmp_path, 7)
    [m] = made
    truth = json.loads((tmp_path / "truth" / "t-xiamen.json").read_text(encoding="utf-8"))
    assert truth == m["truth"]
    assert truth["kind"] == "scan" and truth["renderer"] == "office" and truth["office"] == "xiamen"
    assert FORM_KEYS | {"email", "legal_rep_phone", "seal_present", "signature_present"} <= set(truth["fields"])
    assert truth["fields"]["seal_present"] == "是"
    case = tmp_path / "cases" / "t-xiamen"
    assert sorted(p.name for p in case.iterdir()) == sorted(truth["files"])
    assert sorted(truth["files"].values()) == ["application_form", "csr"]
    [form] = [n for n, k in truth["files"].items() if k == "application_form"]
    img = Image.open(case / form)
    assert img.format == "JPEG" and img.size == (1241, 1754)  # A4 at 150 dpi
    assert not (tmp_path / "cases" / "t-xiamen" / "t-xiamen.json").exists()
    assert truth["layout"]["pdf_pages"] == 1
    assert timing["soffice_conversions"] >= 1 and (tmp_path / "registry.csv").exists()


@needs_office
def test_text_layer_of_the_libreoffice_pdf(tmp_path: Path) -> None:
    import pypdfium2 as pdfium

    o = office_renderer()
    rng = random.Random(3)
    f, _att = o.case_truth(rng, "hangzhou", "更新")
    style = o.random_style(rng, scanned=False)
    o.build_form_docx(f, "hangzhou", style, tmp_path / "form.docx")
    o.soffice_convert([tmp_path / "form.docx"], tmp_path)
    pdf = tmp_path / "form.pdf"
    doc = pdfium.PdfDocument(str(pdf))
    text = doc[0].get_textpage().get_text_range().replace("\r", "").replace("\n", "")
    doc.close()
    for value in (
        "中国电子口岸机构证书申请表",
        "通信地址",
        f["org_code"],
        f["handler_id_number"],
        f["old_cert_serial"],
    ):
        assert value in text, value
    boxes = o.text_boxes(pdf, ["申请单位公章", "签字："], 200)
    assert boxes["申请单位公章"] and boxes["签字："]
    img = o.rasterise(pdf, 200)
    assert img.size == (1654, 2339)


def _committed() -> list[dict]:
    return [
        json.loads(p.read_text(encoding="utf-8")) | {"_name": p.stem} for p in sorted((OFFICE / "truth").glob("*.json"))
    ]


def test_committed_samples_are_complete() -> None:
    records = _committed()
    assert len(records) >= 7
    kinds = [r["kind"] for r in records]
    for kind in ("scan", "text-pdf", "docx", "stack", "photo"):
        assert kind in kinds
    total = 0
    for r in records:
        case = OFFICE / "cases" / r["_name"]
        assert sorted(p.name for p in case.iterdir()) == sorted(r["files"]), r["_name"]
        total += sum(p.stat().st_size for p in case.iterdir())
        assert r["renderer"] == "office" and isinstance(r["seed"], int)
        expected = FORM_KEYS | ({"email", "legal_rep_phone"} if r["office"] == "xiamen" else {"address"})
        if r["fields"]["category"] == "注销":
            expected -= {"crypto_product_cert_no", "common_name"}
        assert expected <= set(r["fields"]), (r["_name"], expected - set(r["fields"]))
        if r["kind"] in ("scan", "stack", "photo"):
            assert r["fields"]["seal_present"] in ("是", "否") and r["fields"]["signature_present"] == "是"
        if r["kind"] == "stack":
            assert ATT_KEYS <= set(r["attachments"])
            assert list(r["files"].values()).count("stack") == 1
        for name, kind in r["files"].items():
            if kind == "csr":
                assert (case / name).read_text().startswith("-----BEGIN CERTIFICATE REQUEST-----")
            if r["kind"] == "photo" and kind != "csr":
                assert Image.open(case / name).size in ((4000, 3000), (3000, 4000))
    assert total < 9_000_000


def test_committed_stack_has_six_pages_one_upside_down() -> None:
    import pypdfium2 as pdfium

    [r] = [r for r in _committed() if r["kind"] == "stack"]
    [name] = [n for n, k in r["files"].items() if k == "stack"]
    doc = pdfium.PdfDocument(str(OFFICE / "cases" / r["_name"] / name))
    try:
        assert len(doc) == 6
        assert not doc[0].get_textpage().get_text_range().strip()  # image only
    finally:
        doc.close()
    assert 1 <= r["layout"]["upside_down_page"] <= 6
    pages = r["layout"]["stack_pages"]
    assert pages.index("id_card.1") < pages.index("id_card.2")
