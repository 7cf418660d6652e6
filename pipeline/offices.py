"""The README's office × category table, generated from the office profiles so it cannot drift.

``python -m pipeline.offices`` prints it; ``python -m pipeline.offices --write README.md`` replaces the table
between its markers; a test fails when the README's table is not what the profiles say.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Mapping
from pathlib import Path

from pipeline import policy
from pipeline.actions import ACTION_ZH, Action, OldCertificate, rules
from pipeline.models import CaseStatus, DocKind
from pipeline.profiles import OfficeProfile, load_profiles
from pipeline.validate import required_materials

BEGIN, END = "<!-- office-table:begin (python -m pipeline.offices --write README.md) -->", "<!-- office-table:end -->"
KIND_ZH = {
    DocKind.APPLICATION_FORM: "申请表",
    DocKind.BUSINESS_LICENSE: "营业执照",
    DocKind.ID_CARD: "身份证明",
    DocKind.PRODUCT_CERT: "商用密码产品认证证书",
    DocKind.INVOICE: "发票",
    DocKind.CSR: "CSR",
    DocKind.CERTIFICATE: "原证书 (.cer)",
}
CERT_FILES = "sign.cer · env.cer · envprivatekey · ca-chain.pem"


def _outputs(profile: OfficeProfile, action: Action) -> str:
    rule = rules(action)
    notice = "告知书.docx" + (" (+ .pdf)" if profile.settings and profile.settings.notice_pdf else "")
    parts = [CERT_FILES] if rule.issues_certificate else []
    parts.append(notice)
    months = profile.settings.renew_revokes_old_after_months if profile.settings else 1
    fate = {
        OldCertificate.NONE: "",
        OldCertificate.REVOKE_NOW: "old cert revoked now, CRL",
        OldCertificate.REVOKE_BEFORE_ISSUE: "old cert revoked first, CRL",
        OldCertificate.REVOKE_AFTER_ISSUE: "old cert revoked after issuance, CRL",
        OldCertificate.REVOKE_AFTER_GRACE: f"old cert revocation scheduled (+{months} month)",
    }[rule.old_certificate]
    return " · ".join([*parts, *([fate] if fate else [])])


def _clerk_sees(profile: OfficeProfile, action: Action) -> str:
    rule = rules(action)
    status = CaseStatus.REVOKED if action is Action.REVOKE else CaseStatus.ISSUED
    checks = ["old cert: ours, active, same org"] if rule.needs_old_certificate else []
    quota = profile.settings.certificates_per_org if profile.settings else 0
    if rule.issues_certificate and quota:
        checks.append(f"quota ≤ {quota} per org" + ("" if rule.counts_against_quota else " (the old one not counted)"))
    if action is Action.UNLOCK:
        checks.append("a CSR is ignored (CSR_IGNORED)")
    return f"`{status}`; 登记表 {rule.ledger_result_zh}" + (f"; {', '.join(checks)}" if checks else "")


def _stage(stage: policy.Stage) -> str:
    return f"{stage.name} ({stage.role}{' · ' + stage.title if stage.title else ''})"


def who_acts(profile: OfficeProfile, action: Action) -> str:
    """Who must act before the case is carried out (the office's review policy, revocation authority)."""
    staged = " → ".join(_stage(s) for s in policy.stages(profile))
    kind = policy.policy(profile)
    if kind == "two_stage":
        text = f"{staged}, two people, every case"
    elif kind == "one_stage":
        text = f"{staged}, every case"
    elif policy.revocation_attended(profile, action):
        text = f"{staged}, two people (revocation: never unattended)"
    else:
        text = f"nobody for a clean case; doubt: {staged}"
    if policy.revokes(action):
        text += "; the form a sealed, signed scan"
    return text


def office_table(profiles: Mapping[str, OfficeProfile]) -> str:
    lines = [
        "| office | category (aliases) | action | who must act first | materials | outputs | what the clerk sees |",
        "|---|---|---|---|---|---|---|",
    ]
    for office in sorted(profiles):
        p = profiles[office]
        for category in p.categories:
            action = p.action_of(category)
            if action is None:  # the schema maps every category; kept for type narrowing
                continue
            aliases = [a for a, target in p.category_aliases.items() if target == category]
            name = category + (f" ({', '.join(aliases)})" if aliases else "")
            materials = " · ".join(KIND_ZH.get(DocKind(k), k) for k in required_materials(p, action))
            lines.append(
                f"| {office} | {name} | `{action}` {ACTION_ZH[action]} | {who_acts(p, action)} | {materials} "
                f"| {_outputs(p, action)} "
                f"| {_clerk_sees(p, action)} |"
            )
    return "\n".join(lines)


def replace_table(text: str, table: str) -> str:
    """``text`` with the part between the markers replaced by ``table``."""
    head, sep, rest = text.partition(BEGIN)
    _old, sep2, tail = rest.partition(END)
    if not sep or not sep2:
        raise ValueError(f"the markers {BEGIN!r} … {END!r} are not in the file")
    return f"{head}{BEGIN}\n{table}\n{END}{tail}"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="the office × category table from forms/*.yaml")
    parser.add_argument("--forms", type=Path, default=Path(__file__).resolve().parent.parent / "forms")
    parser.add_argument("--write", type=Path, help="replace the table between the markers in this file")
    args = parser.parse_args(argv)
    table = office_table(load_profiles(args.forms))
    if args.write is None:
        print(table)
        return 0
    args.write.write_text(replace_table(args.write.read_text(encoding="utf-8"), table), encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
