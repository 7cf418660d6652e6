"""受理登记表 (.xlsx): one row per case, a sheet per month, rebuilt idempotently from the store.

Given the office profiles, a carried-out case's 审核结果 and 备注 say what its action did (签发 / 更新 / 补办 /
变更 / 注销 / 解锁, and what happened to the old certificate); without them the row says the case status only.
"""

from __future__ import annotations

import io
from collections import defaultdict
from collections.abc import Mapping
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING

from openpyxl import Workbook
from openpyxl.styles import Alignment, Font, PatternFill
from openpyxl.utils import get_column_letter

from pipeline.actions import Action, OldCertificate, rules
from pipeline.fsutil import atomic_write
from pipeline.models import CaseStatus, Field
from pipeline.store import Store

if TYPE_CHECKING:  # no import of the extract stage at run time
    from pipeline.profiles import OfficeProfile

HEADERS = [
    "受理编号",
    "受理日期",
    "申请单位",
    "机构代码",
    "申请类别",
    "经办人",
    "联系电话",
    "审核结果",
    "证书序列号",
    "签发日期",
    "有效期至",
    "注销日期",
    "备注",
]
WIDTHS = [22, 12, 34, 22, 9, 10, 14, 10, 44, 12, 12, 12, 40]
RESULT_ZH: dict[str, str] = {
    CaseStatus.ISSUED: "已签发",
    CaseStatus.DELIVERED: "已交付",
    CaseStatus.REVOKED: "已注销",
    CaseStatus.REVIEW: "待审核",
    CaseStatus.APPROVED: "已批准",
    CaseStatus.REJECTED: "不予受理",
    CaseStatus.FAILED: "处理失败",
    CaseStatus.DUPLICATE: "重复提交",
    CaseStatus.RECEIVED: "已接收",
    CaseStatus.EXTRACTED: "已识别",
    CaseStatus.VALIDATED: "已校验",
    CaseStatus.ISSUING: "签发中",
}


def mask_phone(phone: str | None) -> str:
    if not phone:
        return ""
    return phone[:3] + "****" + phone[-4:] if len(phone) >= 7 else "****"


def _d(value: datetime | None) -> str:
    return value.date().isoformat() if value else ""


CARRIED_OUT = (CaseStatus.ISSUED, CaseStatus.DELIVERED, CaseStatus.REVOKED)


def _old_certificate_note(store: Store, action: Action, fields: dict[str, Field]) -> str:
    """What the action did to the certificate the request named."""
    fate = rules(action).old_certificate
    if fate is OldCertificate.NONE:
        return "未签发证书" if not rules(action).issues_certificate else ""
    for key in ("cert.serial", "old_cert_serial"):
        f = fields.get(key)
        old = store.certificate(f.value.strip().upper().lstrip("0")) if f and f.value else None
        if old is None:
            continue
        if old.state == "revoked":
            return f"原证书 {old.serial} 已于 {_d(old.revoked_at)} 注销"
        if old.scheduled_revocation_at:
            return f"原证书 {old.serial} 将于 {_d(old.scheduled_revocation_at)} 注销"
        return f"原证书 {old.serial}"
    return ""


def _result(store: Store, case_status: str, action: Action | None, fields: dict[str, Field]) -> tuple[str, str]:
    """(审核结果, the action's part of 备注)."""
    if action is None or case_status not in CARRIED_OUT:
        return RESULT_ZH.get(case_status, case_status), ""
    result = (
        rules(action).ledger_result_zh if case_status != CaseStatus.REVOKED or action is Action.REVOKE else "已注销"
    )
    if case_status == CaseStatus.DELIVERED and action is not Action.REVOKE:
        result += "，已交付"
    return result, _old_certificate_note(store, action, fields)


def build_ledger(store: Store, profiles: Mapping[str, OfficeProfile] | None = None) -> bytes:
    by_month: dict[str, list[list[str]]] = defaultdict(list)
    for case in store.list_cases():
        if case.source_kind == "import":  # the inventory of certificates issued before this system
            continue
        fields = store.fields(case.id)
        certs = {c.kind: c for c in store.certificates(case.id)}
        sign = certs.get("sign")
        revoked_dates = [c.revoked_at for c in store.revoked() if c.case_id == case.id]
        findings = [f.code for f in store.findings(case.id, unresolved_only=True) if f.severity != "info"]
        profile = (profiles or {}).get(case.office or "")
        action = profile.action_of(case.category) if profile else None
        result, action_note = _result(store, case.status, action, fields)
        note = action_note
        if case.duplicate_of:
            note = f"重复提交，原案件 {case.duplicate_of}"
        elif findings:
            note = "；".join(dict.fromkeys([*([action_note] if action_note else []), *findings]))
        row = [
            case.id,
            _d(case.created_at),
            case.applicant_name or "",
            case.org_code or "",
            case.category or "",
            fields["handler_name"].value if "handler_name" in fields else "",
            mask_phone(fields["handler_phone"].value if "handler_phone" in fields else None),
            result,
            sign.serial if sign and sign.state != "reserved" else "",
            _d(sign.not_before) if sign else "",
            _d(sign.not_after) if sign else "",
            _d(revoked_dates[0]) if revoked_dates else "",
            note,
        ]
        by_month[f"{case.created_at:%Y-%m}"].append(row)
    wb = Workbook()
    wb.remove(wb.active)
    if not by_month:
        by_month[f"{datetime.now():%Y-%m}"] = []
    for month in sorted(by_month):
        ws = wb.create_sheet(month)
        ws.append(HEADERS)
        for cell in ws[1]:
            cell.font = Font(bold=True)
            cell.fill = PatternFill("solid", fgColor="DDEBF7")
            cell.alignment = Alignment(horizontal="center")
        for row in by_month[month]:
            ws.append(row)
        ws.freeze_panes = "A2"
        ws.auto_filter.ref = f"A1:{get_column_letter(len(HEADERS))}{max(ws.max_row, 1)}"
        for i, w in enumerate(WIDTHS, 1):
            ws.column_dimensions[get_column_letter(i)].width = w
    _audit_head_sheet(wb, store)
    buf = io.BytesIO()
    wb.save(buf)
    return buf.getvalue()


def _audit_head_sheet(wb: Workbook, store: Store) -> None:
    """The audit chain's head when the ledger was built: a copy outside the database (``audit verify --head``)."""
    seq, digest = store.audit_head()
    ws = wb.create_sheet("审计链")
    ws.append(["生成时间", "审计链序号", "审计链头哈希", "核对命令"])
    ws.append([f"{datetime.now():%Y-%m-%d %H:%M:%S}", seq, digest, f"cert-intake audit verify --head {seq}:{digest}"])
    ws.column_dimensions["C"].width = 70


def write_ledger(store: Store, path: Path, profiles: Mapping[str, OfficeProfile] | None = None) -> Path:
    atomic_write(path, build_ledger(store, profiles))
    return path
