"""Validation rules one by one, with real and corrupted values."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import pytest

from pipeline.config import REPO_ROOT
from pipeline.errors import InputError
from pipeline.models import Field, Severity, error, warning
from pipeline.profiles import load_profiles
from pipeline.validate import CaseInput, proposal, route, validate_case
from pipeline.validate.crossdoc import RegistryInfo, consistency, normalise_name, product_certificate, quota
from pipeline.validate.registry import read_registry

PROFILES = load_profiles(REPO_ROOT / "forms")


def F(value: str, conf: float = 0.99) -> Field:
    return Field(value, conf)


def codes(findings: list) -> list[str]:
    return [f.code for f in findings]


def test_name_normalisation() -> None:
    assert normalise_name("厦门（集美）星河 有限公司") == normalise_name("厦门(集美)星河有限公司")
    assert normalise_name("ＡＢＣ科技") == normalise_name("ABC科技")


def test_consistency_passes_on_equal_documents_and_names_each_difference() -> None:
    fields = {
        "applicant_name": F("厦门（集美）星河有限公司"),
        "license.name": F("厦门(集美)星河有限公司"),
        "org_code": F("91610000555693947R"),
        "license.org_code": F("91610000555693947R"),
        "legal_rep_name": F("王伟"),
        "license.legal_rep": F("王伟"),
        "legal_rep_id_number": F("110101199003074477"),
        "legal_rep_name_": F("x"),
        "handler_name": F("李娜"),
        "handler_id_number": F("350203197204141799"),
        "id_card.1.name": F("王伟"),
        "id_card.1.number": F("110101199003074477"),
        "id_card.2.name": F("李娜"),
        "id_card.2.number": F("350203197204141799"),
        "crypto_product_cert_no": F("GM003312220230052"),
        "product_cert.number": F("GM003312220230052"),
    }
    assert consistency(fields) == []
    broken = dict(
        fields,
        **{
            "license.name": F("别家公司"),
            "license.org_code": F("91350200MA2YHR4E5X"),
            "id_card.2.name": F("李四"),
            "product_cert.number": F("GM003312220230044"),
        },
    )
    assert codes(consistency(broken)) == [
        "LICENSE_NAME_MISMATCH",
        "ORG_CODE_LICENSE_MISMATCH",
        "HANDLER_ID_COPY_MISMATCH",
        "PRODUCT_CERT_COPY_MISMATCH",
    ]


def test_an_id_copy_of_which_nothing_was_read_does_not_stop_the_checks_of_the_next() -> None:
    """Copy 1 unread, copy 2 read: the copies used to be read while their numbers ran on unbroken, so none was
    checked at all and a handler's wrong number went by."""
    fields = {
        "handler_name": F("李娜"),
        "handler_id_number": F("350203197204141799"),
        "id_card.2.name": F("李娜"),
        "id_card.2.number": F("110101199003074477"),
    }
    assert codes(consistency(fields)) == ["HANDLER_ID_COPY_MISMATCH"]
    fields["id_card.2.number"] = F("350203197204141799")
    assert consistency(fields) == []


def test_a_licence_id_or_product_certificate_copy_read_blank_is_for_a_person() -> None:
    from pipeline.models import DocKind, Document, Evidence, TextSource

    docs = [
        Document("执照.jpg", "a", DocKind.BUSINESS_LICENSE, 1, TextSource.OCR),
        Document("id1.jpg", "b", DocKind.ID_CARD, 1, TextSource.OCR),
        Document("id2.jpg", "c", DocKind.ID_CARD, 1, TextSource.OCR),
        Document("stack.pdf", "d", DocKind.PRODUCT_CERT, 1, TextSource.OCR, first_page=4),
        Document("stack.pdf", "d", DocKind.INVOICE, 1, TextSource.OCR, first_page=5),  # its fields are not checked
    ]
    fields = {
        "license.name": Field("某公司", 0.99, Evidence("执照.jpg", 1)),
        "id_card.2.number": Field("350203197204141799", 0.99, Evidence("id2.jpg", 1)),
        "product_cert.number": Field("GM003312220230052", 0.99, Evidence("stack.pdf", 2)),  # another page
    }
    xm = PROFILES["xiamen-eport"]
    _cat, found = validate_case(CaseInput(xm, {**fields, "category": F("新办")}, docs, {}))
    unread = [f for f in found if f.code == "ATTACHMENT_UNREAD"]
    assert [f.severity for f in unread] == [Severity.WARNING] * 2
    assert (
        "id1.jpg" in unread[0].message_zh and "stack.pdf" in unread[1].message_zh and "第 4 页" in unread[1].message_zh
    )
    fields["id_card.1.number"] = Field("110101199003074477", 0.99, Evidence("id1.jpg", 1))
    fields["product_cert.number"] = Field("GM003312220230052", 0.99, Evidence("stack.pdf", 4))
    _cat, found = validate_case(CaseInput(xm, {**fields, "category": F("新办")}, docs, {}))
    assert "ATTACHMENT_UNREAD" not in codes(found)


def test_an_old_serial_read_unsurely_that_is_one_of_our_certificates_of_that_organisation_is_confirmed() -> None:
    """更新 on a scan: the serial read at 0.6 (a letter repaired to its digit) is exactly a certificate this
    office issued to the applicant's organisation: the register vouches for it (FIELD_CONFIRMED), so it is
    no low-confidence doubt; read the same way for another organisation's certificate, it stays one."""
    from datetime import datetime

    from pipeline.models import Evidence
    from pipeline.validate import KnownCertificate

    hz = PROFILES["hangzhou-eport"]
    serial = "1CEBBECF6707FB0B24"
    ours = KnownCertificate(serial, "91330108MA3E9FNB14", "issued", datetime(2030, 1, 1), None)
    fields = {
        "category": F("更新"),
        "org_code": F("91330108MA3E9FNB14"),
        "old_cert_serial": Field(serial, 0.6, Evidence("scan0001.jpg", 1, (10, 10, 300, 40))),
    }
    cat, found = validate_case(CaseInput(hz, fields, [], {}, certificate_lookup={serial: ours}.get))
    confirmed = [f for f in found if f.code == "FIELD_CONFIRMED"]
    assert [(f.field, f.severity) for f in confirmed] == [("old_cert_serial", Severity.INFO)]
    _r, extra = route(fields, found, hz, cat)
    assert "old_cert_serial" not in {f.field for f in extra if f.code == "LOW_CONFIDENCE"}
    theirs = KnownCertificate(serial, "91350200MA2YHR4E5X", "issued", datetime(2030, 1, 1), None)
    cat, found = validate_case(CaseInput(hz, fields, [], {}, certificate_lookup={serial: theirs}.get))
    assert "FIELD_CONFIRMED" not in codes(found) and "OLD_CERT_ORG_MISMATCH" in codes(found)
    _r, extra = route(fields, found, hz, cat)
    assert "old_cert_serial" in {f.field for f in extra if f.code == "LOW_CONFIDENCE"}


REG = {
    "GM003312220230052": RegistryInfo("GM003312220230052", "服务器密码机", "SJJ1012", date(2028, 1, 1)),
    "GM003312220150007": RegistryInfo("GM003312220150007", "服务器密码机", "SJJ0917", date(2020, 4, 30)),
    "GM003312220210811": RegistryInfo("GM003312220210811", "智能密码钥匙", "K3", date(2031, 5, 31)),
}
SERVICE = ("服务器密码机", "签名验签服务器")


@pytest.mark.parametrize(
    ("number", "expected"),
    [
        ("GM003312220230052", []),
        ("GM003312220239999", ["PRODUCT_CERT_UNKNOWN"]),
        ("GM003312220150007", ["PRODUCT_CERT_EXPIRED"]),
        ("GM003312220210811", ["PRODUCT_NOT_SERVICE_TYPE"]),
        ("SXH2012001", ["PRODUCT_CERT_FORMAT", "PRODUCT_CERT_UNKNOWN"]),
    ],
)
def test_product_certificate_against_registry(number: str, expected: list[str]) -> None:
    found = product_certificate(
        {"crypto_product_cert_no": F(number)}, REG.get, len(REG), date(2026, 11, 21), SERVICE, True
    )
    assert codes(found) == expected


@pytest.mark.parametrize(
    ("model", "expected"),
    [
        ("SJJ1012", []),
        ("sjj1012", []),
        ("SJJI0l2", []),  # read off a copy: I and l for 1 (C1oudHSM-3 for CloudHSM-3, seed 24242)
        ("SJJ1013", ["PRODUCT_MODEL_MISMATCH"]),
        ("SJJ10120", ["PRODUCT_MODEL_MISMATCH"]),
        ("SJK1012", ["PRODUCT_MODEL_MISMATCH"]),
    ],
)
def test_the_copy_s_model_against_the_registry_forgives_only_lookalike_glyphs(model: str, expected: list[str]) -> None:
    fields = {"crypto_product_cert_no": F("GM003312220230052"), "product_cert.model": F(model)}
    assert codes(product_certificate(fields, REG.get, len(REG), date(2026, 11, 21), SERVICE, True)) == expected


def test_product_certificate_without_registry_is_a_warning_for_review() -> None:
    [f] = product_certificate(
        {"crypto_product_cert_no": F("GM003312220230052")}, None, 0, date(2026, 11, 21), SERVICE, True
    )
    assert f.code == "PRODUCT_REGISTRY_EMPTY" and f.severity == Severity.WARNING


def test_registry_import_tolerates_header_variants_and_encodings(tmp_path: Path) -> None:
    csv_path = tmp_path / "目录.csv"
    csv_path.write_bytes(
        "认证证书编号,名称,规格型号,制造商,颁证日期,有效期\n"
        "GM003312220230052,服务器密码机,SJJ1012,某公司,2023/01/05,2028年1月4日\n".encode("gb18030")
    )
    [row] = read_registry(csv_path)
    assert (row.number, row.model, row.issued_on, row.valid_until) == (
        "GM003312220230052",
        "SJJ1012",
        date(2023, 1, 5),
        date(2028, 1, 4),
    )
    from openpyxl import Workbook

    wb = Workbook()
    wb.active.append(["证书编号", "产品名称", "型号", "生产者", "发证日期", "有效期至"])
    wb.active.append(["GM003312220230044", "签名验签服务器", "SRJ", "某公司", date(2023, 2, 1), date(2028, 1, 31)])
    wb.save(tmp_path / "目录.xlsx")
    [x] = read_registry(tmp_path / "目录.xlsx")
    assert x.valid_until == date(2028, 1, 31) and x.product_name == "签名验签服务器"
    (tmp_path / "bad.csv").write_text("产品名称,型号\nA,B\n", encoding="utf-8")
    with pytest.raises(InputError):
        read_registry(tmp_path / "bad.csv")


def test_quota_rules() -> None:
    # the last argument: the case's action adds a certificate (issue_new, add — pipeline.actions)
    assert codes(quota("91610000555693947R", 1, 1, True)) == ["ORG_HAS_ACTIVE_CERT"]
    assert quota("91610000555693947R", 0, 1, True) == []
    assert codes(quota("91610000555693947R", 3, 3, True)) == ["ORG_CERT_QUOTA"]
    assert quota("91610000555693947R", 2, 3, True) == []
    assert quota("91610000555693947R", 5, 1, False) == []  # revoke, unlock, renew … add none


def test_categories_and_aliases() -> None:
    xm = PROFILES["xiamen-eport"]
    base = CaseInput(xm, {}, [], {})
    cat, found = validate_case(CaseInput(xm, {"category": F("更新")}, [], {}))
    assert cat == "新办"  # 更新 is handled as 新办 in 厦门
    _, found = validate_case(CaseInput(xm, {"category": F("解锁")}, [], {}))
    assert "CATEGORY_NOT_OFFERED" in codes(found)
    _, found = validate_case(CaseInput(xm, {"category": F("新办、注销", 0.5)}, [], {}))
    assert "CATEGORY_MULTIPLE" in codes(found)
    assert base.profile.office == "xiamen-eport"


def test_routing_and_proposal() -> None:
    xm = PROFILES["xiamen-eport"]
    fields = {"category": F("新办"), "applicant_name": F("x", 0.5)}
    r, extra = route(fields, [], xm, "新办")
    assert r == "review" and codes(extra) == ["LOW_CONFIDENCE"]
    r, extra = route({"category": F("新办")}, [], xm, "新办")
    assert r == "issue" and extra == []
    assert proposal([error("CSR_SIGNATURE_INVALID", None, "x")]) == "reject"
    assert proposal([warning("ORG_HAS_ACTIVE_CERT", None, "x")]) == "correct"
    assert proposal([]) is None


@pytest.mark.parametrize(
    ("key", "value", "conf", "expected", "severity"),
    [
        ("signature_present", "是", 0.99, None, None),
        ("signature_present", "是", 0.85, "SIGNATURE_UNCERTAIN", Severity.WARNING),
        ("signature_present", "否", 0.95, "SIGNATURE_MISSING", Severity.ERROR),
        ("seal_present", "是", 0.97, None, None),
        ("seal_present", "是", 0.6, "SEAL_UNCERTAIN", Severity.WARNING),
        ("seal_present", "否", 0.95, "SEAL_MISSING", Severity.ERROR),
    ],
)
def test_an_unsure_seal_or_signature_goes_to_a_person(
    key: str, value: str, conf: float, expected: str | None, severity: Severity | None
) -> None:
    """A faint signature read as present, like a grey seal, is a doubt the office threshold decides: the case
    is reviewed, never issued on it."""
    xm = PROFILES["xiamen-eport"]
    _cat, found = validate_case(CaseInput(xm, {"category": F("新办"), key: F(value, conf)}, [], {}))
    marks = [f for f in found if f.field == key]
    if expected is None:
        assert marks == []
    else:
        assert [(f.code, f.severity) for f in marks] == [(expected, severity)]
        r, _extra = route({"category": F("新办")}, found, xm, "新办")
        assert r == "review"
