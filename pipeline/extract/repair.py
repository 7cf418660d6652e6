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


def repair_fields(fields: dict[str, Field]) -> tuple[dict[str, Field], list[Finding]]:
    """Repair OCR'd codes (fields with a bbox came from a scan) that fail their check."""
    out = dict(fields)
    findings: list[Finding] = []
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
