"""Who must act before a case is carried out: the office's review policy and revocation authority.

The profile's ``review:`` (``pipeline.profiles.ReviewModel``) says ``auto``, ``one_stage`` or ``two_stage``
and names the stages (验核 by a registrar, 复核 by an approver, with the seed's title for each).  A stage is
carried out by the review actions of ``pipeline.review.actions``: the first stage of two is a ``verify``,
the last stage is an ``approve``.  This module only reads the profile and the recorded review actions, so
both the review actions (before they approve) and issuance (``stages.run_issue``, before it signs or
revokes anything) can ask it; it imports nothing of the stages.

Revocation authority: a certificate is public, so holding one proves nothing.  An action that revokes a
certificate (revoke, and the revoke half of replace and change; renew's scheduled revocation is not one)
waits for a reviewer's approval unless the profile sets ``unattended_revocation: true``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Literal

from pipeline.actions import Action, OldCertificate, rules
from pipeline.models import CaseStatus
from pipeline.profiles import DEFAULT_STAGES, OfficeProfile, StageModel

Policy = Literal["auto", "one_stage", "two_stage"]
REVOKING = frozenset({OldCertificate.REVOKE_NOW, OldCertificate.REVOKE_BEFORE_ISSUE, OldCertificate.REVOKE_AFTER_ISSUE})
POLICY_ZH: dict[str, str] = {
    "auto": "自动签发（存疑案件须验核、复核）",
    "one_stage": "一级审核",
    "two_stage": "两级审核",
}


@dataclass(frozen=True)
class Stage:
    name: str  # 验核, 复核, 受理 …
    role: str  # the store role that carries it out (pipeline.review.roles.Role; an admin may too)
    title: str  # who the seed says acts (省级商务主管部门, RA审批管理员 …)
    action: Literal["verify", "approve"]  # the review action that records it

    @property
    def label(self) -> str:
        return f"{self.name}（{self.title}）" if self.title else self.name


def policy(profile: OfficeProfile) -> Policy:
    return profile.settings.review.policy if profile.settings is not None else "auto"


def two_person(profile: OfficeProfile) -> bool:
    """Verifier and approver are different people: always for two_stage, else unless the office says not."""
    if policy(profile) == "two_stage":
        return True
    return profile.settings.review.two_person if profile.settings is not None else True


def stages(profile: OfficeProfile) -> list[Stage]:
    """The review stages in order (auto: those a doubtful case goes through)."""
    declared: Sequence[StageModel] = profile.settings.review.stages if profile.settings is not None else ()
    if policy(profile) == "one_stage":
        last = declared[0] if declared else DEFAULT_STAGES[1]
        return [Stage(last.name, last.role, last.title, "approve")]
    first, last = declared if len(declared) == 2 else DEFAULT_STAGES
    return [Stage(first.name, first.role, first.title, "verify"), Stage(last.name, last.role, last.title, "approve")]


def stage_of(profile: OfficeProfile, action: Literal["verify", "approve"]) -> Stage:
    """The stage a review action carries out (a one_stage office's verification is the 验核 of a doubtful case)."""
    found = next((s for s in stages(profile) if s.action == action), None)
    if found is not None:
        return found
    first = DEFAULT_STAGES[0]
    return Stage(first.name, first.role, first.title, "verify")


def role_may(stage: Stage, role: str) -> bool:
    return role in (stage.role, "admin")


def revokes(action: Action | None) -> bool:
    """The action revokes a certificate when it is carried out (not renew's scheduled revocation)."""
    return action is not None and rules(action).old_certificate in REVOKING


def revocation_attended(profile: OfficeProfile, action: Action | None) -> bool:
    """A reviewer must approve this revocation before it runs."""
    unattended = profile.settings.unattended_revocation if profile.settings is not None else False
    return revokes(action) and not unattended


def needs_person(profile: OfficeProfile, action: Action | None) -> bool:
    """Even a clean case of this office and action waits for a person."""
    return policy(profile) != "auto" or revocation_attended(profile, action)


def why_person_zh(profile: OfficeProfile, action: Action | None) -> str:
    """The reason a clean case waits (the REVIEW_REQUIRED finding)."""
    parts = []
    if policy(profile) == "two_stage":
        first, last = stages(profile)
        parts.append(f"本受理点实行两级审核：须先经{first.label}，再由另一人{last.label}后方可办理")
    elif policy(profile) == "one_stage":
        parts.append(f"本受理点实行一级审核：须经{stages(profile)[0].label}批准后方可办理")
    if revocation_attended(profile, action):
        parts.append("注销原证书须经审核人员确认（证书是公开的，持有证书不能证明有权注销）")
    return "；".join(parts)


def _by_action(actions: Sequence[Any], name: str) -> list[Any]:
    return [a for a in actions if a.action == name]


def issuance_blockers(profile: OfficeProfile, action: Action | None, actions: Sequence[Any]) -> list[str]:
    """Why an approved case may not be carried out yet under the office's policy (English, for logs and
    IssuanceRefused); empty when it may.  ``actions``: the case's review actions in order."""
    if not needs_person(profile, action):
        return []
    approvals = _by_action(actions, "approve")
    if not approvals:
        return ["no reviewer approved it"]
    if policy(profile) != "two_stage":
        return []
    last = approvals[-1]
    verifies = [v for v in _by_action(actions, "verify") if v.id < last.id]
    if not verifies:
        return ["the first review stage (verify) is missing before the approval"]
    if all(v.actor == last.actor for v in verifies):
        return ["both review stages were done by the same person"]
    return []


def waiting_for(profile: OfficeProfile, status: str, verified_now: bool, verification_needed: bool = True) -> str:
    """What a case in review waits for, as the queue shows it (待验核, 待复核 …); empty when nothing."""
    if status != CaseStatus.REVIEW:
        return ""
    if verification_needed and not verified_now:
        return f"待{stage_of(profile, 'verify').name}"
    return f"待{stage_of(profile, 'approve').name}"
