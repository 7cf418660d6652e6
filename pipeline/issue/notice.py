"""告知书 (.docx) from the office's template: placeholders {name} in paragraphs and table cells."""

from __future__ import annotations

import logging
import shutil
import subprocess
from dataclasses import dataclass
from datetime import date, datetime
from pathlib import Path

from pipeline.actions import Action, rules
from pipeline.docxfill import render_values
from pipeline.fsutil import atomic_write

log = logging.getLogger(__name__)
TICK, BOX = "☑", "□"
BLANK = "____"


@dataclass(frozen=True)
class NoticeData:
    case_id: str
    action: Action  # decides the outcome paragraph (pipeline.actions)
    category: str  # the category as the office names it: its box is ticked
    categories: tuple[str, ...]  # every category the office offers: one box each
    customer: str
    office_name: str
    office_phone: str
    form_title: str
    handler: str
    files: list[str]
    note: str = ""  # the office's own line under the file list (where to download the root certificate …)
    serial: str | None = None  # the new signing certificate
    issued_at: datetime | None = None
    valid_until: datetime | None = None
    old_serial: str | None = None  # the certificate revoked now or scheduled for revocation
    revoked_at: datetime | None = None  # when old_serial was revoked (revoke, replace, change)
    old_revoke_at: datetime | None = None  # renew: when old_serial will be revoked
    grace_months: int = 1  # renew: the office's grace period
    done_at: datetime | None = None  # unlock: when the request was carried out
    change_record: str | None = None  # change: 原主体 → 新主体 (seed 004: the 变更 record)
    today: date | None = None


FILE_PURPOSE = {
    "sign.cer": "数字证书（用途：验签）",
    "env.cer": "数字证书（用途：加密）",
    "envprivatekey": "数字信封（说明：内含加密密钥对）",
    "ca-chain.pem": "CA 证书链",
}


def _ymd(when: datetime | date | None) -> str:
    return BLANK if when is None else f"{when.year:04d}年{when.month:02d}月{when.day:02d}日"


def _serial(serial: str | None) -> str:
    return serial.upper() if serial else BLANK


def _issued(d: NoticeData, who: str = "您的证书") -> str:
    return (
        f"{who}[序号：{_serial(d.serial)}]已于{_ymd(d.issued_at)}签发，有效期至{_ymd(d.valid_until)}"
        "（请您在证书到期前30天内到我单位办理新证书）。"
    )


def _revoked(d: NoticeData, who: str) -> str:
    return f"{who}[序号：{_serial(d.old_serial)}]已于{_ymd(d.revoked_at)}注销。"


def outcome(d: NoticeData) -> str:
    """The result paragraph of the action's variant, every date and serial filled."""
    match d.action:
        case Action.ISSUE_NEW | Action.ADD:
            return _issued(d)
        case Action.RENEW:
            when = _ymd(d.old_revoke_at)
            return (
                _issued(d, "您的新证书")
                + f"您的原证书[序号：{_serial(d.old_serial)}]即将在新证书生效后{d.grace_months}个月后注销（{when}）。"
            )
        case Action.REPLACE:
            return _revoked(d, "您遗失或损坏的原证书") + _issued(d, "补办的新证书")
        case Action.CHANGE:
            record = f"变更记录：{d.change_record}。" if d.change_record else ""
            return _issued(d, "变更后的新证书") + _revoked(d, "您的原证书") + record
        case Action.REVOKE:
            return _revoked(d, "您的证书")
        case Action.UNLOCK:
            return f"您的解锁申请已于{_ymd(d.done_at)}办理完成，本业务不签发新证书，原证书继续有效。"


def boxes(d: NoticeData) -> str:
    """One box per category the office offers, the case's own ticked."""
    return "  ".join(f"{TICK if c == d.category else BOX}{c}" for c in d.categories)


def values(d: NoticeData) -> dict[str, str]:
    return {
        "case_id": d.case_id,
        "customer": d.customer,
        "office_name": d.office_name,
        "office_phone": d.office_phone,
        "form_title": d.form_title,
        "handler": d.handler,
        "today": (d.today or date.today()).isoformat(),
        "boxes": boxes(d),
        "outcome_title": rules(d.action).title_zh,
        "outcome": outcome(d),
        "files": "\n".join(f"（{i}） {name}\t{FILE_PURPOSE.get(name, '')}" for i, name in enumerate(d.files, 1))
        or "（无）",
        "note": d.note,
    }


def render(template: Path, data: NoticeData) -> bytes:
    return render_values(template, values(data))


def write_notice(template: Path, data: NoticeData, path: Path) -> bytes:
    blob = render(template, data)
    atomic_write(path, blob)
    return blob


def to_pdf(docx: Path, timeout: float = 120.0) -> Path | None:
    """Render the notice to PDF with LibreOffice when it is installed; None otherwise or on failure."""
    office = shutil.which("soffice") or shutil.which("libreoffice")
    if office is None:
        return None
    try:
        subprocess.run(
            [office, "--headless", "--convert-to", "pdf", "--outdir", str(docx.parent), str(docx)],
            check=True,
            capture_output=True,
            timeout=timeout,
        )
    except (subprocess.SubprocessError, OSError) as exc:
        log.warning("LibreOffice could not render %s: %s", docx.name, exc)
        return None
    pdf = docx.with_suffix(".pdf")
    return pdf if pdf.exists() else None
