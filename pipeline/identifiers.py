"""Identifier validators in python-stdnum's shape: ``validate`` returns the compact value or raises.

USCC: ``stdnum.cn.uscc`` plus what it lacks — registration-authority letters (N, A, Y …) in the first
position and the embedded GB 11714 organisation-code check character.  Resident ID: ``stdnum.cn.ric``
plus a plausible age, and the 18-character numbers it rejects but offices accept (港澳台居民居住证
810000/820000/830000, 2023 外国人永久居留身份证 starting with 9).
"""

from __future__ import annotations

import re
from datetime import date

from stdnum.cn import ric, uscc
from stdnum.exceptions import InvalidChecksum, InvalidComponent, InvalidFormat, InvalidLength, ValidationError

USCC_ALPHABET = "0123456789ABCDEFGHJKLMNPQRTUWXY"
REGISTRATION_AUTHORITIES = set("123456789ANY")
_ORG_WEIGHTS = (3, 7, 9, 10, 5, 8, 4, 2)
_RIC_WEIGHTS = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)
MIN_AGE, MAX_AGE = 16, 120


def org_code_check_char(code8: str) -> str:
    vals = [int(c) if c.isdigit() else ord(c) - 55 for c in code8]
    c9 = 11 - sum(w * v for w, v in zip(_ORG_WEIGHTS, vals, strict=True)) % 11
    return {10: "X", 11: "0"}.get(c9, str(c9))


def uscc_check_char(code17: str) -> str:
    total = sum(USCC_ALPHABET.index(c) * pow(3, i, 31) for i, c in enumerate(code17))
    return USCC_ALPHABET[(31 - total % 31) % 31]


def validate_uscc(number: str) -> str:
    """Compact, validated 统一社会信用代码 or a stdnum ValidationError subclass."""
    code = uscc.compact(number)
    if len(code) != 18:
        raise InvalidLength()
    if any(c not in USCC_ALPHABET for c in code):
        raise InvalidFormat()
    if code[0].isdigit() and code[1].isdigit() and code[2:8].isdigit():
        uscc.validate(code)  # stdnum: division digits + check character
    else:
        if code[0] not in REGISTRATION_AUTHORITIES or not code[2:8].isdigit():
            raise InvalidComponent()
        if uscc_check_char(code[:17]) != code[17]:
            raise InvalidChecksum()
    if org_code_check_char(code[8:16]) != code[16]:
        raise InvalidComponent("embedded organisation code check character")
    return code


def validate_org_code(number: str) -> str:
    """GB 11714 organisation code (9 characters, optional hyphen) — the forms' fallback for bodies without a USCC."""
    code = re.sub(r"[\s\-]", "", number).upper()
    if len(code) != 9:
        raise InvalidLength()
    if not re.fullmatch(r"[0-9A-Z]{8}[0-9X]", code):
        raise InvalidFormat()
    if org_code_check_char(code[:8]) != code[8]:
        raise InvalidChecksum()
    return code


def _ric_check(body17: str) -> str:
    return "10X98765432"[sum(int(c) * w for c, w in zip(body17, _RIC_WEIGHTS, strict=True)) % 11]


def _address_known(code6: str) -> bool:
    from stdnum import numdb

    return any("county" in props for _part, props in numdb.get("cn/loc").info(code6))


def validate_resident_id(number: str, today: date | None = None) -> tuple[str, str]:
    """(compact number, kind) where kind is 居民身份证 / 港澳台居民居住证 / 外国人永久居留身份证."""
    code = ric.compact(number)
    if len(code) != 18:
        raise InvalidLength()
    if not re.fullmatch(r"\d{17}[\dX]", code):
        raise InvalidFormat()
    if code[:6] in ("810000", "820000", "830000"):
        kind = "港澳台居民居住证"
    elif code[0] == "9":
        kind = "外国人永久居留身份证"
    else:
        kind = "居民身份证"
    if kind == "居民身份证":
        try:
            try:
                ric.validate(code)  # address code, birth date, check character
            except (KeyError, IndexError, ValueError) as exc:
                # python-stdnum's own data lookup can fail on some address codes (KeyError 'county'):
                # that is an unknown address component, not a crash of the case
                raise InvalidComponent() from exc
        except InvalidComponent:
            # stdnum also rejects an address code created after the birth year (思明区 dates from 1983), but
            # an 18-digit number carries the code where it was *issued* (1999+), so such numbers are real.
            if not _address_known(code[:6]):
                raise
            if ric.calc_check_digit(code) != code[17]:
                raise InvalidChecksum() from None
    elif _ric_check(code[:17]) != code[17]:
        raise InvalidChecksum()
    try:
        birth = date(int(code[6:10]), int(code[10:12]), int(code[12:14]))
    except ValueError as exc:
        raise InvalidComponent("birth date") from exc
    today = today or date.today()
    age = today.year - birth.year - ((today.month, today.day) < (birth.month, birth.day))
    if not MIN_AGE <= age <= MAX_AGE:
        raise InvalidComponent(f"implausible age {age}")
    return code, kind


# the 2004 外国人永久居留身份证: ISO 3166 country letters + 12 digits (python-stdnum has no checker; its check
# digit is not published, so the pattern is all that is checked)
FOREIGN_PR_2004 = re.compile(r"^[A-Z]{3}\d{12}$")


def is_old_foreign_permanent_resident_id(number: str) -> bool:
    return bool(FOREIGN_PR_2004.fullmatch(re.sub(r"\s", "", number).upper()))


OTHER_ID_FORMATS = {
    "港澳居民来往内地通行证": re.compile(r"^[HM]\d{8}(\d{2})?$"),
    "台湾居民来往大陆通行证": re.compile(r"^\d{8}(\d{2})?$"),
    "外国人永久居留身份证": re.compile(r"^([A-Z]{3}\d{12}|9\d{16}[\dX])$"),
    "护照": re.compile(r"^([EGDSP][A-Z]?\d{7,8}|[A-Z0-9]{6,9})$"),
}

_MOBILE = re.compile(r"^1(?:(?:610|740[0-5])\d{6}|(?:[38]\d|4[57]|[59][0-35-9]|6[25-7]|7[0-35-8])\d{8})$")


def validate_mobile(number: str) -> str:
    """Mainland mobile number (libphonenumber's CN mobile pattern, 11 digits); +86/0086 prefixes accepted."""
    digits = re.sub(r"[\s\-()（）]", "", number)
    digits = re.sub(r"^(\+86|0086)", "", digits)
    if not digits.isdigit():
        raise InvalidFormat()
    if len(digits) != 11:
        raise InvalidLength()
    if not _MOBILE.match(digits):
        raise InvalidComponent("not a mobile number range")
    return digits


_EMAIL = re.compile(
    r"^[A-Za-z0-9.!#$%&'*+/=?^_`{|}~-]+@([A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?\.)+[A-Za-z]{2,24}$"
)


def validate_email(address: str) -> str:
    addr = address.strip()
    if not _EMAIL.match(addr) or ".." in addr or len(addr) > 254:
        raise InvalidFormat()
    return addr


def is_valid(validator: object, value: str) -> bool:
    try:
        validator(value)  # type: ignore[operator]
    except ValidationError:
        return False
    return True
