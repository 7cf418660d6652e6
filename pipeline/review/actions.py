"""What reviewers do to a case, with every rule checked here (the web pages only call these).

Rules: the role may do it (``roles``); the case is in a state that allows it; and the two-person rule —
whoever corrected, confirmed, merged or verified (验核) a case never approves (复核) it — unless the office's
profile sets ``review: {two_person: false}``.  Every action is a ``review_actions`` row plus an audit row.

A verification, confirmation or approval is bound to the **digest of the case as the person saw it**
(``case_state``: files, documents, field values, findings and how often the case was read).  Approval
needs a verification whose digest is the case's digest now: any change after it — a merge, a re-read, a
correction, a new file, a changed finding — makes it stale, and the approver is told what changed.
Actions on one case are serialised by the store's case lock, so nothing changes a case between the
check and the decision.
"""

from __future__ import annotations

import hashlib
import json
import logging
import re
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from pipeline import policy
from pipeline.docxfill import render_values
from pipeline.errors import CaseBusy, CertIntakeError
from pipeline.fieldnames import zh
from pipeline.fsutil import atomic_write
from pipeline.models import CaseStatus, Field, Severity
from pipeline.profiles import OfficeProfile
from pipeline.review.mask import is_personal
from pipeline.review.roles import ROLE_NAMES, Role, allowed
from pipeline.stages import Context, run_validate
from pipeline.workdays import add_working_days, working_days_between

log = logging.getLogger(__name__)
REVIEWABLE = (CaseStatus.REVIEW,)
DECIDABLE = (CaseStatus.REVIEW, CaseStatus.AWAITING)  # reject, merge, mark duplicate
# a case another one may take in (merge): not yet decided or carried out
MERGEABLE = (
    CaseStatus.RECEIVED,
    CaseStatus.EXTRACTED,
    CaseStatus.VALIDATED,
    CaseStatus.REVIEW,
    CaseStatus.AWAITING,
    CaseStatus.FAILED,
)
KEY = re.compile(r"^[a-z][a-z0-9_]*(\.[a-z0-9_]+){0,2}$")
TOUCHING = ("correct", "confirm", "verify", "merge")  # actions that bar the same person from approving
CHANGING = ("correct", "confirm", "merge")  # actions after which an earlier verification no longer counts
READONLY = ("csr.", "cert.")  # read from the DER files themselves: never typed or pinned by a person
MAX_VALUE = 500
PART_ZH = {
    "files": "材料文件有增减或变化",
    "documents": "材料识别结果变化",
    "fields": "字段值变化",
    "findings": "校验结果变化",
    "reads": "案件被重新识别",
    "case": "案件基本信息变化",
}


class ActionRefused(CertIntakeError):
    """An action the rules do not allow; the message is shown to the reviewer (Chinese)."""


@dataclass(frozen=True)
class Actor:
    name: str
    role: str


@dataclass(frozen=True)
class CaseState:
    """What a person saw of a case: one digest, and one per part (to say what changed)."""

    digest: str
    parts: dict[str, str]

    def changed(self, parts: dict[str, Any]) -> list[str]:
        return [k for k in self.parts if parts.get(k) != self.parts[k]]


def _h(value: Any) -> str:
    return hashlib.sha256(json.dumps(value, ensure_ascii=False, sort_keys=True, default=str).encode()).hexdigest()


def case_state(ctx: Context, case_id: str) -> CaseState:
    """The digest of the case as it stands: documents (names, hashes, kinds), field values (with their
    confidence and source), findings, and the number of reads."""
    case = ctx.store.get_case(case_id)
    files = sorted((f.name, f.sha256, f.role) for f in ctx.store.case_files(case_id, role=None))
    sources = ctx.store.field_sources(case_id)
    fields = sorted(
        (k, f.value, round(f.confidence, 4), sources.get(k, "extract")) for k, f in ctx.store.fields(case_id).items()
    )
    findings = sorted(
        (f.code, str(f.severity), f.field or "", f.message_zh)
        for f in ctx.store.findings(case_id, unresolved_only=True)
    )
    parts = {
        "case": _h([case.office, case.category or ""]),
        "files": _h(files),
        "documents": _h(sorted(_h(d) for d in case.documents)),
        "fields": _h(fields),
        "findings": _h(findings),
        "reads": str(ctx.store.read_count(case_id)),
    }
    return CaseState(_h(parts), parts)


def _seen(ctx: Context, case_id: str) -> dict[str, Any]:
    state = case_state(ctx, case_id)
    return {"digest": state.digest, "parts": state.parts}


@contextmanager
def _case_held(ctx: Context, *case_ids: str) -> Iterator[None]:
    """One person's action on a case at a time, and never while the case is being processed."""
    try:
        if len(case_ids) == 1:
            with ctx.store.case_lock(case_ids[0]):
                yield
        else:
            with ctx.store.case_lock(case_ids[0]), ctx.store.case_lock(case_ids[1]):
                yield
    except CaseBusy as exc:
        raise ActionRefused("案件正在被处理或由他人操作，请稍后重试") from exc


def _require(actor: Actor, permission: str) -> None:
    if not allowed(actor.role, permission):
        raise ActionRefused(f"当前角色（{actor.role}）无权执行此操作")


def _profile(ctx: Context, case_id: str) -> OfficeProfile:
    case = ctx.store.get_case(case_id)
    return ctx.profiles.get(case.office) or ctx.profiles[ctx.settings.default_office]


def _status(ctx: Context, case_id: str, allowed_states: tuple[CaseStatus, ...]) -> str:
    status = ctx.store.get_case(case_id).status
    if status not in allowed_states:
        raise ActionRefused(f"案件当前状态为“{status}”，不能执行此操作")
    return status


def two_person_rule(ctx: Context, case_id: str) -> bool:
    """Verifier and approver differ: always for a two_stage office, else unless ``review.two_person: false``."""
    return policy.two_person(_profile(ctx, case_id))


def _stage_role(ctx: Context, actor: Actor, case_id: str, action: str) -> str | None:
    """Why ``actor`` may not carry out the office's stage that ``action`` records (Chinese); None when it may."""
    stage = policy.stage_of(_profile(ctx, case_id), "verify" if action == "verify" else "approve")
    if policy.role_may(stage, actor.role):
        return None
    try:
        who = ROLE_NAMES[Role(stage.role)]
    except ValueError:
        who = stage.role
    return f"本受理点的{stage.label}须由{who}办理"


def verification_needed(ctx: Context, case_id: str) -> bool:
    """Approval needs a current 验核 — except in a one_stage office for a case no finding or person put in doubt."""
    if policy.policy(_profile(ctx, case_id)) != "one_stage":
        return True
    serious = any(f.severity in (Severity.ERROR, Severity.WARNING) for f in ctx.store.findings(case_id, True))
    return serious or any(a.action in TOUCHING for a in ctx.store.review_actions(case_id))


def waiting_for(ctx: Context, case_id: str) -> str:
    """What a case waits for (待验核, 待复核, 待受理 …), as the queue and the case page show it."""
    case = ctx.store.get_case(case_id)
    if case.status != CaseStatus.REVIEW:
        return ""
    needed = verification_needed(ctx, case_id)
    verified = needed and _verification_blocker(ctx, case_id, ctx.store.review_actions(case_id)) is None
    return policy.waiting_for(_profile(ctx, case_id), case.status, verified, needed)


# --------------------------------------------------------------------------- fields


def _field_allowed(actor: Actor, key: str) -> None:
    if not KEY.match(key):
        raise ActionRefused(f"字段名“{key[:40]}”无效")
    if key.startswith(READONLY):
        raise ActionRefused(f"“{zh(key)}”取自证书请求或证书文件本身，不能人工更正或确认")
    if is_personal(key) and not allowed(actor.role, "see_personal"):
        raise ActionRefused("当前角色无权修改或确认证件号码或电话")


def correct_field(ctx: Context, actor: Actor, case_id: str, key: str, value: str) -> None:
    """Set a field to what the reviewer read on the scan, then validate again at once."""
    _require(actor, "correct")
    _field_allowed(actor, key)
    with _case_held(ctx, case_id):
        _correct_field(ctx, actor, case_id, key, value)


def _correct_field(ctx: Context, actor: Actor, case_id: str, key: str, value: str) -> None:
    _status(ctx, case_id, REVIEWABLE)
    value = value.strip()
    if not value or len(value) > MAX_VALUE or any(ord(c) < 32 for c in value):
        raise ActionRefused(f"“{zh(key)}”的值不能为空、不能超过 {MAX_VALUE} 个字符或含控制字符")
    fields = ctx.store.fields(case_id)
    old = fields.get(key)
    known = {f.key for f in _profile(ctx, case_id).fields}
    if old is None and key not in known:
        raise ActionRefused(f"案件中没有字段“{zh(key)}”")
    evidence = old.evidence if old else None
    seen = _seen(ctx, case_id)
    ctx.store.replace_fields(case_id, {key: Field(value, 1.0, evidence)}, source="reviewer")
    before = old.value if old else ""
    detail = {"key": key, "before": before, "after": value, "seen": seen}
    ctx.store.record_review(case_id, actor.name, "correct", detail, f"{key}: {before!r} → {value!r}")
    run_validate(ctx, case_id, actor=actor.name)


def confirm_field(ctx: Context, actor: Actor, case_id: str, key: str) -> None:
    """The value as read is right (a low-confidence field checked against the scan)."""
    _require(actor, "correct")
    _field_allowed(actor, key)
    with _case_held(ctx, case_id):
        _status(ctx, case_id, REVIEWABLE)
        old = ctx.store.fields(case_id).get(key)
        if old is None:
            raise ActionRefused(f"案件中没有字段“{zh(key)}”")
        seen = _seen(ctx, case_id)
        ctx.store.replace_fields(case_id, {key: Field(old.value, 1.0, old.evidence)}, source="reviewer")
        detail = {"key": key, "value": old.value, "seen": seen}
        ctx.store.record_review(case_id, actor.name, "confirm", detail, f"{key} confirmed ({old.confidence:.2f})")
        run_validate(ctx, case_id, actor=actor.name)


# --------------------------------------------------------------------------- decisions


def verify(ctx: Context, actor: Actor, case_id: str, note: str = "") -> None:
    """验核: the registrar has checked the fields against the scans and the identities."""
    _require(actor, "verify")
    refused = _stage_role(ctx, actor, case_id, "verify")
    if refused:
        raise ActionRefused(refused)
    with _case_held(ctx, case_id):
        _status(ctx, case_id, REVIEWABLE)
        seen = _seen(ctx, case_id)
        note = note[:500]
        detail = {"note": note, "stage": policy.stage_of(_profile(ctx, case_id), "verify").name, **seen}
        ctx.store.record_review(
            case_id, actor.name, "verify", detail, f"验核通过 (case {seen['digest'][:16]}) {note[:200]}".strip()
        )


def _verification_blocker(ctx: Context, case_id: str, actions: list[Any]) -> str | None:
    """None when the latest verification saw the case exactly as it is now; else why not (Chinese)."""
    verifies = [a for a in actions if a.action == "verify"]
    stage = policy.stage_of(_profile(ctx, case_id), "verify").name
    if not verifies:
        return f"尚未{stage}：须由注册管理员{stage}"
    state = case_state(ctx, case_id)
    last_change = max((a.id for a in actions if a.action in CHANGING), default=0)
    current = [v for v in verifies if v.id > last_change and (v.detail or {}).get("digest") == state.digest]
    if current:
        return None
    latest = verifies[-1]
    parts = (latest.detail or {}).get("parts")
    if not isinstance(parts, dict):
        return "验核记录未包含案件摘要（早于本版本），须重新验核"
    changed = [PART_ZH[k] for k in state.changed(parts)]
    later = sorted({a.action for a in actions if a.id > latest.id and a.action in CHANGING})
    if later:
        changed.insert(
            0, "验核后有" + "、".join({"correct": "更正", "confirm": "确认", "merge": "合并"}[a] for a in later)
        )
    why = "；".join(dict.fromkeys(changed)) or "案件内容已变化"
    return f"验核后案件已变更（{why}），原{stage}已失效：须由注册管理员重新{stage}"


def approval_blockers(ctx: Context, actor: Actor | None, case_id: str) -> list[str]:
    """Why the case cannot be approved now (by ``actor``, when given); empty when it can."""
    out: list[str] = []
    if ctx.store.get_case(case_id).status != CaseStatus.REVIEW:
        out.append("案件不在待审核状态")
    actions = ctx.store.review_actions(case_id)
    stale = _verification_blocker(ctx, case_id, actions) if verification_needed(ctx, case_id) else None
    if stale:
        out.append(stale)
    errors = [f for f in ctx.store.findings(case_id, unresolved_only=True) if f.severity == Severity.ERROR]
    if errors:
        out.append(f"仍有 {len(errors)} 个错误未解决：{errors[0].message_zh}")
    if actor is not None:
        if not allowed(actor.role, "approve"):
            out.append("当前角色无权复核批准")
        else:
            refused = _stage_role(ctx, actor, case_id, "approve")
            if refused:
                out.append(refused)
        touched = {a.actor for a in actions if a.action in TOUCHING}
        if actor.name in touched and two_person_rule(ctx, case_id):
            out.append("双人原则：更正或验核过本案件的人员不能复核批准本案件")
    return out


def approve(ctx: Context, actor: Actor, case_id: str, note: str = "") -> None:
    """复核: approve for issuance.  The case goes to ``approved``; issuance picks it up from there."""
    _require(actor, "approve")
    with _case_held(ctx, case_id):
        blockers = approval_blockers(ctx, actor, case_id)
        if blockers:
            raise ActionRefused("；".join(blockers))
        seen = _seen(ctx, case_id)
        stage = policy.stage_of(_profile(ctx, case_id), "approve").name
        detail = {"note": note[:500], "stage": stage, **seen}
        text = f"{stage}批准 (case {seen['digest'][:16]}) {note[:200]}".strip()
        ctx.store.record_review(case_id, actor.name, "approve", detail, text)
        ctx.store.transition(
            case_id,
            CaseStatus.APPROVED,
            actor=actor.name,
            detail=f"approved for issuance (case {seen['digest'][:16]})",
            expect={CaseStatus.REVIEW},
        )


def _decision_notice(
    ctx: Context, actor: Actor, case_id: str, template: str, out_name: str, reasons: str, deadline: str = ""
) -> Path:
    case = ctx.store.get_case(case_id)
    profile = _profile(ctx, case_id)
    fields = ctx.store.fields(case_id)
    values = {
        "form_title": str(profile.raw.get("notice_title", "数字证书")),
        "case_id": case_id,
        "customer": fields["applicant_name"].value if "applicant_name" in fields else (case.subject_company or ""),
        "received": case.created_at.date().isoformat(),
        "category": case.category or "",
        "reasons": reasons,
        "deadline": deadline,
        "office_name": profile.name,
        "office_phone": str(profile.raw.get("office_phone", "")),
        "handler": ctx.settings.clerk,
        "reviewer": actor.name,
        "today": datetime.now(UTC).date().isoformat(),
    }
    blob = render_values(ctx.settings.forms_dir / "templates" / template, values)
    path = ctx.settings.outputs_dir / case_id / out_name
    atomic_write(path, blob)
    ctx.store.record_output(case_id, Path(template).stem, path, ctx.store.blobs.put(blob))
    return path


def _reasons(reasons: str) -> str:
    lines = [ln.strip() for ln in reasons.splitlines() if ln.strip()]
    if not lines:
        raise ActionRefused("请填写理由")
    return "\n".join(f"{i}. {ln[:300]}" for i, ln in enumerate(lines[:20], 1))


def reject(ctx: Context, actor: Actor, case_id: str, reasons: str) -> Path:
    """不予受理: the case ends ``rejected`` with a notice that lists the reasons."""
    _require(actor, "reject")
    with _case_held(ctx, case_id):
        _status(ctx, case_id, DECIDABLE)
        text = _reasons(reasons)
        path = _decision_notice(ctx, actor, case_id, "refusal.docx", "不予受理通知书.docx", text)
        ctx.store.record_review(case_id, actor.name, "reject", {"reasons": text}, f"不予受理：{text[:300]}")
        ctx.store.transition(case_id, CaseStatus.REJECTED, actor=actor.name, detail="rejected", expect=set(DECIDABLE))
    return path


def request_materials(ctx: Context, actor: Actor, case_id: str, items: str, working_days: int = 5) -> Path:
    """补正: the case waits (``awaiting``) for the listed materials; the notice names them and the deadline."""
    _require(actor, "request")
    with _case_held(ctx, case_id):
        _status(ctx, case_id, REVIEWABLE)
        text = _reasons(items)
        profile = _profile(ctx, case_id)
        holidays = [datetime.fromisoformat(str(d)).date() for d in profile.raw.get("holidays") or []]
        due = add_working_days(datetime.now(UTC).date(), max(1, working_days), holidays).isoformat()
        path = _decision_notice(ctx, actor, case_id, "correction.docx", "补正材料通知书.docx", text, due)
        note = f"补正（{due} 前）：{text[:300]}"
        ctx.store.record_review(case_id, actor.name, "request", {"items": text, "due": due}, note)
        ctx.store.transition(case_id, CaseStatus.AWAITING, actor=actor.name, detail=f"materials requested, due {due}")
    return path


def merge(ctx: Context, actor: Actor, case_id: str, other_id: str) -> None:
    """Take the files of ``other_id`` (e.g. a CSR that came in a separate mail) into this case and read it
    again; the other case ends ``merged``."""
    _require(actor, "merge")
    other_id = other_id.strip()
    if other_id == case_id:
        raise ActionRefused("不能与自身合并")
    try:
        ctx.store.get_case(other_id)
    except CertIntakeError as exc:
        raise ActionRefused(f"案件 {other_id[:40]} 不存在") from exc
    with _case_held(ctx, case_id, other_id):
        _status(ctx, case_id, DECIDABLE)
        other = ctx.store.get_case(other_id)
        if other.status not in MERGEABLE:
            raise ActionRefused(f"案件 {other_id} 状态为“{other.status}”，不能并入")
        seen = _seen(ctx, case_id)
        names = ctx.store.merge_files(other_id, case_id)
        detail = {"from": other_id, "files": names, "seen": seen}
        ctx.store.record_review(case_id, actor.name, "merge", detail, f"merged {len(names)} file(s) from {other_id}")
        ctx.store.transition(
            other_id, CaseStatus.MERGED, actor=actor.name, detail=f"merged into {case_id}", duplicate_of=case_id
        )
        ctx.store.transition(
            case_id, CaseStatus.RECEIVED, actor=actor.name, detail=f"files of {other_id} added; read again"
        )


def mark_duplicate(ctx: Context, actor: Actor, case_id: str, original_id: str) -> None:
    _require(actor, "duplicate")
    original_id = original_id.strip()
    try:
        ctx.store.get_case(original_id)
    except CertIntakeError as exc:
        raise ActionRefused(f"案件 {original_id[:40]} 不存在") from exc
    if original_id == case_id:
        raise ActionRefused("不能标记为自身的重复")
    with _case_held(ctx, case_id):
        _status(ctx, case_id, DECIDABLE)
        ctx.store.record_review(case_id, actor.name, "duplicate", {"of": original_id}, f"duplicate of {original_id}")
        ctx.store.transition(
            case_id,
            CaseStatus.DUPLICATE,
            actor=actor.name,
            detail=f"duplicate of {original_id}",
            duplicate_of=original_id,
        )


def age_and_deadline(ctx: Context, case_id: str, today: datetime | None = None) -> tuple[int, str | None, bool]:
    """(working days since received, deadline date, overdue?) under the office profile's deadline."""
    case = ctx.store.get_case(case_id)
    profile = _profile(ctx, case_id)
    holidays = [datetime.fromisoformat(str(d)).date() for d in profile.raw.get("holidays") or []]
    now = (today or datetime.now(UTC)).date()
    received = case.created_at.date()
    age = working_days_between(received, now, holidays)
    days = int(profile.raw.get("deadline_working_days", 0) or 0)
    if not days:
        return age, None, False
    due = add_working_days(received, days, holidays)
    return age, due.isoformat(), now > due
