"""The typed core (#14 item 3): one table of case transitions the store enforces, and the JSON contract of
``cert-intake process --json`` as a frozen CaseResult."""

from __future__ import annotations

import dataclasses
import json
import re

import pytest

from pipeline.errors import InvalidTransition
from pipeline.models import (
    CASE_TRANSITIONS,
    FINAL_STATUSES,
    CaseResult,
    CaseStatus,
    Evidence,
    Field,
    error,
    transition_allowed,
)
from pipeline.stages import Context, case_contract, case_result

ALLOWED = [(frm, to) for frm, tos in CASE_TRANSITIONS.items() for to in sorted(tos)]
FORBIDDEN = [
    (CaseStatus.RECEIVED, CaseStatus.ISSUED),  # nothing is issued unread
    (CaseStatus.RECEIVED, CaseStatus.APPROVED),
    (CaseStatus.EXTRACTED, CaseStatus.ISSUING),  # not validated
    (CaseStatus.REVIEW, CaseStatus.ISSUING),  # a case in review waits for a person's approval
    (CaseStatus.REVIEW, CaseStatus.ISSUED),
    (CaseStatus.AWAITING, CaseStatus.APPROVED),
    (CaseStatus.APPROVED, CaseStatus.ISSUED),  # issuance passes through issuing
    (CaseStatus.ISSUING, CaseStatus.DELIVERED),
    (CaseStatus.ISSUED, CaseStatus.FAILED),  # a certificate out is never undone by a failure
    (CaseStatus.DELIVERED, CaseStatus.ISSUED),
    (CaseStatus.REVOKED, CaseStatus.ISSUED),
    (CaseStatus.REJECTED, CaseStatus.REVIEW),
    (CaseStatus.DUPLICATE, CaseStatus.RECEIVED),
    (CaseStatus.MERGED, CaseStatus.RECEIVED),
    (CaseStatus.IMPORTED, CaseStatus.REVOKED),
    (CaseStatus.FAILED, CaseStatus.ISSUED),
]


def test_the_table_covers_every_status_and_strings_are_the_database_values() -> None:
    assert set(CASE_TRANSITIONS) == set(CaseStatus)
    assert all(tos <= set(CaseStatus) for tos in CASE_TRANSITIONS.values())
    assert CaseStatus("review") is CaseStatus.REVIEW and f"{CaseStatus.ISSUING}" == "issuing"
    assert json.dumps({"status": CaseStatus.DELIVERED}) == '{"status": "delivered"}'
    # a final status is never worked on again: it leaves only when its mail goes out or by a revocation
    assert all(CASE_TRANSITIONS[s] <= {CaseStatus.DELIVERED, CaseStatus.REVOKED} for s in FINAL_STATUSES)
    assert all(s.final for s in FINAL_STATUSES) and not CaseStatus.REVIEW.final


@pytest.mark.parametrize(("frm", "to"), FORBIDDEN)
def test_forbidden_moves_are_not_in_the_table(frm: CaseStatus, to: CaseStatus) -> None:
    assert not frm.can_move_to(to) and not transition_allowed(frm, to)


def test_unknown_statuses_allow_nothing() -> None:
    assert not transition_allowed("shelved", "received")
    assert not transition_allowed("received", "shelved")


def _case_in(ctx: Context, status: CaseStatus) -> str:
    """A case put straight into ``status`` (the database column, as an older run may have left it)."""
    from pipeline.store.schema import Case

    case = ctx.store.create_case(office="xiamen-eport", source_kind="folder", source_path="/x", files=[])
    with ctx.store.session() as s:
        row = s.get(Case, case.id)
        assert row is not None
        row.status = str(status)
    return case.id


def test_the_store_allows_every_move_of_the_table(ctx: Context) -> None:
    for frm, to in ALLOWED:
        case_id = _case_in(ctx, frm)
        assert ctx.store.transition(case_id, to, detail="table").status == to, (frm, to)
        row = ctx.store.audit_rows(case_id)[-1]
        assert (row.from_status, row.to_status) == (str(frm), str(to))


@pytest.mark.parametrize(("frm", "to"), FORBIDDEN)
def test_the_store_refuses_moves_outside_the_table(ctx: Context, frm: CaseStatus, to: CaseStatus) -> None:
    case_id = _case_in(ctx, frm)
    with pytest.raises(InvalidTransition, match="is not allowed"):
        ctx.store.transition(case_id, to)
    assert ctx.store.get_case(case_id).status == frm


def test_expect_is_a_compare_and_set(ctx: Context) -> None:
    case_id = _case_in(ctx, CaseStatus.REVIEW)
    with pytest.raises(InvalidTransition, match=re.escape("expected one of ['approved', 'validated']")):
        ctx.store.transition(case_id, CaseStatus.ISSUING, expect={CaseStatus.VALIDATED, CaseStatus.APPROVED})


def _sample(**kw) -> CaseResult:
    base = dict(
        case_id="C20261122-0A1B2C3D",
        office="xiamen-eport",
        source={"kind": "folder", "path": "/in/case"},
        documents=({"name": "申请表.jpg", "kind": "application_form", "pages": 1, "text_source": "ocr"},),
        fields={"org_code": Field("91350200MA2XXXXX1X", 0.99, Evidence("申请表.jpg", 1, (1.0, 2.0, 3.0, 4.0)))},
        findings=(error("ORG_CODE_CHECKSUM", "org_code", "统一社会信用代码校验位错误"),),
        route="review",
        proposal=None,
        deadline="2026-11-27",
        status=CaseStatus.REVIEW,
        outputs={},
    )
    base.update(kw)
    return CaseResult(**base)  # type: ignore[arg-type]


# the top-level keys of the example object in the shared architecture doc ("The JSON contract of
# `cert-intake process`"), written out here: a clean clone runs without that doc beside it, and no test skips
DOCUMENTED = {"case_id", "office", "source", "documents", "fields", "findings", "route", "status", "outputs"}


def test_case_result_json_has_the_contract_keys() -> None:
    out = _sample().to_json()
    assert DOCUMENTED <= set(out)
    assert set(out) - DOCUMENTED == {"proposal", "deadline"}  # always present beside the documented ones
    assert out["status"] == "review" and type(out["status"]) is str
    assert out["fields"]["org_code"] == {
        "value": "91350200MA2XXXXX1X",
        "confidence": 0.99,
        "evidence": {"document": "申请表.jpg", "page": 1, "bbox": [1.0, 2.0, 3.0, 4.0]},
    }
    assert out["findings"][0]["severity"] == "error"
    json.dumps(out, ensure_ascii=False)
    with pytest.raises(dataclasses.FrozenInstanceError):
        _sample().status = CaseStatus.ISSUED  # type: ignore[misc]


def test_case_result_optional_keys_only_when_set() -> None:
    out = _sample(duplicate_of="C1", failure="RuntimeError: x", timings={"ocr_s": 1.23456}).to_json()
    assert out["duplicate_of"] == "C1" and out["failure"] == "RuntimeError: x"
    assert out["timings"] == {"ocr_s": 1.235}
    assert list(out)[-3:] == ["duplicate_of", "failure", "timings"]


def test_case_contract_is_the_case_result_json(ctx: Context) -> None:
    case_id = _case_in(ctx, CaseStatus.DUPLICATE)
    result = case_result(ctx, case_id)
    assert isinstance(result, CaseResult) and result.status is CaseStatus.DUPLICATE
    assert case_contract(ctx, case_id) == result.to_json()
    assert result.to_json()["route"] == "review"  # a duplicate is reported for a person to see
