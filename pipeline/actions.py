"""What a business type does, independent of what an office calls it.

Every office names its categories in its own words (新办, 首次申领, 新申请 …); each profile maps every
category and alias to one :class:`Action` (``forms/<office>.yaml`` ``categories:``).  The code decides by
the action only: whether a certificate is issued, whether an old certificate is named and what happens to
it, whether the quota counts it, the 告知书 variant and the ledger wording.  This module sits outside the
stage packages so extract, validate and issue can all import it.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum


class Action(StrEnum):
    ISSUE_NEW = "issue_new"  # a first certificate
    RENEW = "renew"  # a new certificate; the old one revoked after the office's grace period
    REPLACE = "replace"  # 补办: the lost or broken key revoked now, then a new certificate
    CHANGE = "change"  # 变更: a new certificate for the changed subject; the old one revoked
    ADD = "add"  # 增办: one more certificate, counted against the office's quota
    REVOKE = "revoke"  # 注销
    UNLOCK = "unlock"  # 解锁: no certificate; recorded, notice, ledger row


class OldCertificate(StrEnum):
    """What happens to the certificate the request names."""

    NONE = "none"  # no old certificate is involved
    REVOKE_NOW = "revoke_now"  # revoked when the case is carried out (注销)
    REVOKE_BEFORE_ISSUE = "revoke_before_issue"  # revoked first, then the new pair issued (补办)
    REVOKE_AFTER_ISSUE = "revoke_after_issue"  # the new pair issued, then the old one revoked (变更)
    REVOKE_AFTER_GRACE = "revoke_after_grace"  # scheduled: the office's grace period after the new one (更新)


@dataclass(frozen=True)
class ActionRules:
    issues_certificate: bool  # a CSR is needed and a sign/env pair is issued
    old_certificate: OldCertificate
    counts_against_quota: bool
    revocation_reason: str  # asn1crypto CRLReason name for the old certificate
    title_zh: str  # the 告知书 section heading and the clerk's word for it
    ledger_result_zh: str  # 审核结果 in the 受理登记表 once the case is carried out

    @property
    def needs_old_certificate(self) -> bool:
        return self.old_certificate is not OldCertificate.NONE


RULES: dict[Action, ActionRules] = {
    Action.ISSUE_NEW: ActionRules(True, OldCertificate.NONE, True, "unspecified", "证书新办", "已签发"),
    Action.ADD: ActionRules(True, OldCertificate.NONE, True, "unspecified", "证书增办", "已签发（增办）"),
    Action.RENEW: ActionRules(
        True, OldCertificate.REVOKE_AFTER_GRACE, False, "superseded", "证书更新", "已签发（更新）"
    ),
    Action.REPLACE: ActionRules(
        True, OldCertificate.REVOKE_BEFORE_ISSUE, False, "key_compromise", "证书补办", "已签发（补办）"
    ),
    Action.CHANGE: ActionRules(
        True, OldCertificate.REVOKE_AFTER_ISSUE, False, "affiliation_changed", "证书变更", "已签发（变更）"
    ),
    Action.REVOKE: ActionRules(False, OldCertificate.REVOKE_NOW, False, "cessation_of_operation", "证书注销", "已注销"),
    Action.UNLOCK: ActionRules(False, OldCertificate.NONE, False, "unspecified", "证书解锁", "已办结（解锁）"),
}


def rules(action: Action) -> ActionRules:
    return RULES[action]


# what the clerk reads next to a category (review queue and case page, the README's office table)
ACTION_ZH: dict[Action, str] = {
    Action.ISSUE_NEW: "签发新证书",
    Action.RENEW: "签发新证书，原证书宽限期满后注销",
    Action.REPLACE: "原证书立即注销，再签发新证书",
    Action.CHANGE: "签发新证书，原证书注销",
    Action.ADD: "签发新证书，计入单位证书数量上限",
    Action.REVOKE: "注销原证书",
    Action.UNLOCK: "解锁登记，不签发证书",
}


def describe(category: str | None, action: Action | None) -> str:
    """A category as the clerk sees it: the office's word and what it does."""
    if not category:
        return ""
    return f"{category}（{ACTION_ZH[action]}）" if action else f"{category}（未配置办理方式）"
