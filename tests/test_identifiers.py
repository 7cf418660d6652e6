"""Identifier validators: real numbers and corrupted ones, each failure kind asserted by its exception."""

from __future__ import annotations

from datetime import date

import pytest
from stdnum.exceptions import InvalidChecksum, InvalidComponent, InvalidFormat, InvalidLength

from pipeline import identifiers as ids

# 91610000555693947R is the USCC in a real MCSCA certificate (standards.md); the others are built with
# the GB 32100 / GB 11714 rules so that every branch has a positive case.


def _ric(body17: str) -> str:
    return body17 + ids._ric_check(body17)


def _uscc(prefix8: str, org8: str) -> str:
    body = prefix8 + org8 + ids.org_code_check_char(org8)
    return body + ids.uscc_check_char(body)


def test_uscc_real_and_built() -> None:
    assert ids.validate_uscc("91610000555693947R") == "91610000555693947R"
    assert ids.validate_uscc("9161 0000 5556 9394 7R") == "91610000555693947R"
    built = _uscc("91350200", "MA2YHR4E")
    assert ids.validate_uscc(built) == built


def test_uscc_letter_registration_authority_accepted_where_stdnum_refuses() -> None:
    from stdnum.cn import uscc

    code = _uscc("N1350200", "12345678")
    assert not uscc.is_valid(code)  # stdnum requires 8 leading digits
    assert ids.validate_uscc(code) == code


@pytest.mark.parametrize(
    ("code", "exc"),
    [
        ("91610000555693947X", InvalidChecksum),  # wrong check character
        ("91110000600037340H", InvalidComponent),  # stdnum passes it; embedded org code check is 1, not 0
        ("9161000055569394", InvalidLength),
        ("9161000055569394IR", InvalidFormat),  # I is not in the alphabet
        ("B1350200123456785Q", InvalidComponent),  # B is not a registration authority
    ],
)
def test_uscc_failures(code: str, exc: type[Exception]) -> None:
    with pytest.raises(exc):
        ids.validate_uscc(code)


def test_org_code_fallback() -> None:
    code = "12345678" + ids.org_code_check_char("12345678")
    assert ids.validate_org_code(code[:8] + "-" + code[8]) == code
    with pytest.raises(InvalidChecksum):
        ids.validate_org_code(code[:8] + ("0" if code[8] != "0" else "1"))


def test_resident_id() -> None:
    assert ids.validate_resident_id("110101199003074477", date(2026, 1, 1)) == ("110101199003074477", "居民身份证")
    # 思明区 (350203) dates from 1983 in stdnum's table; a 1972-born resident registered there is real
    n = _ric("35020319720414179")
    assert ids.validate_resident_id(n, date(2026, 1, 1))[1] == "居民身份证"


@pytest.mark.parametrize(
    ("number", "exc"),
    [
        ("110101199003074478", InvalidChecksum),
        ("11010119900307447", InvalidLength),
        ("11010119900307447A", InvalidFormat),
        (_ric("11010119901307447"), InvalidComponent),  # month 13 with a correct check digit
    ],
)
def test_resident_id_failures(number: str, exc: type[Exception]) -> None:
    with pytest.raises(exc):
        ids.validate_resident_id(number, date(2026, 1, 1))


def test_resident_id_age_range() -> None:
    child = _ric("11010120150101001")
    with pytest.raises(InvalidComponent):
        ids.validate_resident_id(child, date(2026, 1, 1))
    ancient = _ric("11010118500101001")
    with pytest.raises(InvalidComponent):
        ids.validate_resident_id(ancient, date(2026, 1, 1))


def test_residence_permits_and_foreign_pr() -> None:
    hk = _ric("81000019850101002")
    assert ids.validate_resident_id(hk, date(2026, 1, 1))[1] == "港澳台居民居住证"
    pr = _ric("93310019800101001")
    assert ids.validate_resident_id(pr, date(2026, 1, 1))[1] == "外国人永久居留身份证"
    with pytest.raises(InvalidChecksum):
        ids.validate_resident_id(hk[:-1] + ("0" if hk[-1] != "0" else "1"), date(2026, 1, 1))


@pytest.mark.parametrize("phone", ["13812345678", "+86 138-1234-5678", "008617712345678", "19912345678"])
def test_mobile_ok(phone: str) -> None:
    assert len(ids.validate_mobile(phone)) == 11


@pytest.mark.parametrize(
    ("phone", "exc"),
    [
        ("0592-5653395", InvalidComponent),  # the office landline from seed 001: 11 digits, not mobile
        ("5653395", InvalidLength),
        ("12012345678", InvalidComponent),  # 120 is not a mobile range
        ("1381234567a", InvalidFormat),
    ],
)
def test_mobile_rejects(phone: str, exc: type[Exception]) -> None:
    with pytest.raises(exc):
        ids.validate_mobile(phone)


@pytest.mark.parametrize(
    ("addr", "ok"),
    [
        ("ca@haichen-tech.com.cn", True),
        ("xmport@189.cn", True),
        ("a.b+c@example.org", True),
        ("no-at.example.com", False),
        ("a@b", False),
        ("a@@b.cn", False),
        ("a..b@example.com", False),
        ("a@-bad.cn", False),
    ],
)
def test_email(addr: str, ok: bool) -> None:
    assert ids.is_valid(ids.validate_email, addr) is ok


def test_a_stdnum_lookup_error_is_a_finding_not_a_crash(monkeypatch: pytest.MonkeyPatch) -> None:
    """python-stdnum's cn.ric raised KeyError('county') on an office-rendered ID number (bench/e2e seed 778):
    the case crashed in extraction.  Such a failure is an unknown address component, never an exception."""
    from stdnum.cn import ric

    from pipeline import identifiers

    def broken(number: str) -> str:
        raise KeyError("county")

    monkeypatch.setattr(ric, "validate", broken)
    number = "350203199508049798"  # 思明区: its county is known, the check character is right
    assert identifiers.validate_resident_id(number)[0] == number
    with pytest.raises(InvalidComponent):
        identifiers.validate_resident_id("00000019950804979" + identifiers._ric_check("00000019950804979"))
