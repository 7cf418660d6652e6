"""pipeline.issue.carry: carrying out a case from one snapshot, without the wiring (#14 item 6)."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest

from pipeline.actions import Action
from pipeline.errors import IssuanceRefused
from pipeline.issue.carry import CaseSnapshot, IssueDesk, IssueResult, carry_out
from pipeline.models import Field
from pipeline.stages import Context


def _desk(ctx: Context, tmp_path: Path) -> IssueDesk:
    def no_ca():
        raise AssertionError("nothing is revoked: the CA is not needed")

    return IssueDesk(
        store=ctx.store,
        issuer=ctx.issuer,
        ca=no_ca,
        outputs_dir=tmp_path / "outputs",
        crl_path=tmp_path / "crl.der",
        notice_template=ctx.settings.forms_dir / "templates" / "notice.docx",
        clerk="王五",
    )


def _snap(ctx: Context, action: Action, **kw) -> CaseSnapshot:
    fields = {"applicant_name": Field("厦门某某科技有限公司", 1.0), "email": Field("a@example.cn", 1.0)}
    return CaseSnapshot("C1", action, "新办", fields, ctx.profiles["xiamen-eport"], "tester", **kw)


def test_unlock_writes_the_notice_and_returns_what_to_record(ctx: Context, tmp_path: Path) -> None:
    result = carry_out(_snap(ctx, Action.UNLOCK), _desk(ctx, tmp_path))
    assert isinstance(result, IssueResult)
    assert result.status == "issued" and result.deliverable and result.serial is None
    notice = tmp_path / "outputs" / "C1" / "告知书.docx"
    assert result.attachments == (notice,) and notice.exists()
    assert (result.outputs[0].key, result.outputs[0].path) == ("notice", notice)
    assert result.outputs[0].data == notice.read_bytes()
    assert result.scheduled == () and result.findings == () and result.revoked == ()
    # nothing was recorded on a case: recording is the wiring's part
    assert ctx.store.list_cases() == []
    with pytest.raises(dataclasses.FrozenInstanceError):
        result.status = "revoked"  # type: ignore[misc]


@pytest.mark.parametrize("action", [Action.REVOKE, Action.RENEW, Action.REPLACE, Action.CHANGE])
def test_an_old_certificate_not_ours_is_refused(ctx: Context, tmp_path: Path, action: Action) -> None:
    with pytest.raises(IssuanceRefused, match="not one of ours"):
        carry_out(_snap(ctx, action, csr_der=b"csr"), _desk(ctx, tmp_path))


@pytest.mark.parametrize("action", [Action.ISSUE_NEW, Action.ADD])
def test_issuing_without_a_csr_is_refused(ctx: Context, tmp_path: Path, action: Action) -> None:
    with pytest.raises(IssuanceRefused, match="has no CSR"):
        carry_out(_snap(ctx, action), _desk(ctx, tmp_path))
