"""Check-digit-guided repair of OCR'd 统一社会信用代码 and ID numbers.

When a code read by OCR fails its check, each character is replaced by its usual OCR confusions (one
position at a time).  A single valid candidate is accepted with lowered confidence and a finding that
says what changed; several candidates are never guessed — the field is flagged.  A repaired code is
never returned with high confidence, so it always goes past a reviewer.
"""

from __future__ import annotations

from collections.abc import Callable

from stdnum.exceptions import ValidationError

from pipeline.identifiers import validate_resident_id, validate_uscc
from pipeline.models import Field, Finding, warning

CONFUSIONS = [set("0ODQ"), set("1IL7"), set("2Z"), set("5S"), set("8B"), set("6G"), set("XK")]
REPAIRED_CONFIDENCE = 0.6


def _alternatives(ch: str) -> set[str]:
    out: set[str] = set()
    for group in CONFUSIONS:
        if ch in group:
            out |= group - {ch}
    return out


def _valid(check: Callable[[str], object], value: str) -> bool:
    try:
        check(value)
    except ValidationError:
        return False
    return True


def candidates(value: str, check: Callable[[str], object]) -> list[str]:
    found = []
    for i, ch in enumerate(value):
        for alt in sorted(_alternatives(ch)):
            cand = value[:i] + alt + value[i + 1 :]
            if _valid(check, cand):
                found.append(cand)
    return sorted(set(found))


CHECKS: dict[str, tuple[Callable[[str], object], str]] = {
    "org_code": (validate_uscc, "统一社会信用代码"),
    "legal_rep_id_number": (validate_resident_id, "法定代表人证件号码"),
    "handler_id_number": (validate_resident_id, "经办人证件号码"),
    "license.org_code": (validate_uscc, "营业执照统一社会信用代码"),
}


# a certificate serial is hexadecimal: a letter that is no hex digit was read off the digit it resembles
HEX_LOOKALIKES = {"O": "0", "Q": "0", "I": "1", "L": "1", "S": "5", "Z": "2", "G": "6"}
SERIALS = {"old_cert_serial": "原证书序号"}


def _repair_serials(fields: dict[str, Field], out: dict[str, Field], findings: list[Finding]) -> None:
    """An OCR'd serial holding letters that are no hex digit: each turned into the digit it resembles (O→0,
    I/L→1, …) with lowered confidence and a finding — a serial has no check digit, so a person confirms it
    (or the certificate file and the office's register do).  Letters with no such digit are left as read."""
    for key, label in SERIALS.items():
        f = fields.get(key)
        if f is None or f.evidence is None or f.evidence.bbox is None:
            continue
        value = f.value.upper()
        odd = [(i, ch) for i, ch in enumerate(value) if ch not in "0123456789ABCDEF"]
        if not odd or any(ch not in HEX_LOOKALIKES for _i, ch in odd):
            continue
        repaired = "".join(HEX_LOOKALIKES.get(ch, ch) for ch in value)
        changed = "、".join(f"{ch}→{HEX_LOOKALIKES[ch]}（第 {i + 1} 位）" for i, ch in odd)
        out[key] = Field(repaired, min(f.confidence, REPAIRED_CONFIDENCE), f.evidence)
        findings.append(
            warning(
                "OCR_REPAIRED",
                key,
                f"{label}识别结果 {f.value} 含非十六进制字符，按常见识别混淆修正为 {repaired}（{changed}），请核对原件",
                f.evidence,
            )
        )


def repair_fields(fields: dict[str, Field]) -> tuple[dict[str, Field], list[Finding]]:
    """Repair OCR'd codes (fields with a bbox came from a scan) that fail their check."""
    out = dict(fields)
    findings: list[Finding] = []
    _repair_serials(fields, out, findings)
    for key, (check, label) in CHECKS.items():
        f = fields.get(key)
        if f is None or f.evidence is None or f.evidence.bbox is None or len(f.value) != 18:
            continue  # only OCR results are repaired; typed text layers are what the applicant wrote
        if _valid(check, f.value):
            continue
        cands = candidates(f.value, check)
        if len(cands) == 1:
            changed = [
                f"{a}→{b}（第 {i + 1} 位）" for i, (a, b) in enumerate(zip(f.value, cands[0], strict=True)) if a != b
            ]
            out[key] = Field(cands[0], min(f.confidence, REPAIRED_CONFIDENCE), f.evidence)
            findings.append(
                warning(
                    "OCR_REPAIRED",
                    key,
                    f"{label}识别结果 {f.value} 未通过校验，按常见识别混淆修正为 "
                    f"{cands[0]}（{'、'.join(changed)}），请核对原件",
                    f.evidence,
                )
            )
        elif len(cands) > 1:
            findings.append(
                warning(
                    "OCR_REPAIR_AMBIGUOUS",
                    key,
                    f"{label}识别结果 {f.value} 未通过校验，存在 {len(cands)} 种可能的修正"
                    f"（{'、'.join(cands[:4])}），未自动修正，请核对原件",
                    f.evidence,
                )
            )
    return out, findings
