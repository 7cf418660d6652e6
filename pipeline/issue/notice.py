"""告知书 (.docx) from the office's template: placeholders {name} in paragraphs and table cells."""

from __future__ import annotations

import io
import logging
import re
import shutil
import subprocess
from dataclasses import dataclass
from datetime import date, datetime
from pathlib import Path

from docx import Document

from pipeline.fsutil import atomic_write

log = logging.getLogger(__name__)
TICK, BOX = "☑", "□"
BLANK = "____"
_PLACEHOLDER = re.compile(r"\{([a-z_]+)\}")


@dataclass(frozen=True)
class NoticeData:
    case_id: str
    category: str  # 新办 | 更新 | 注销
    customer: str
    office_name: str
    office_phone: str
    form_title: str
    handler: str
    files: list[str]
    issued_at: datetime | None = None
    valid_until: datetime | None = None
    old_serial: str | None = None  # 更新: the certificate to be revoked; 注销: the revoked one
    revoked_at: datetime | None = None
    old_revoke_at: datetime | None = None
    today: date | None = None


FILE_PURPOSE = {
    "sign.cer": "数字证书（用途：验签）",
    "env.cer": "数字证书（用途：加密）",
    "envprivatekey": "数字信封（说明：内含加密密钥对）",
    "ca-chain.pem": "CA 证书链",
}


def _ymd(prefix: str, when: datetime | date | None) -> dict[str, str]:
    if when is None:
        return {f"{prefix}_y": BLANK, f"{prefix}_m": "__", f"{prefix}_d": "__"}
    return {f"{prefix}_y": f"{when.year:04d}", f"{prefix}_m": f"{when.month:02d}", f"{prefix}_d": f"{when.day:02d}"}


def values(d: NoticeData) -> dict[str, str]:
    v = {
        "case_id": d.case_id,
        "customer": d.customer,
        "office_name": d.office_name,
        "office_phone": d.office_phone,
        "form_title": d.form_title,
        "handler": d.handler,
        "today": (d.today or date.today()).isoformat(),
        "box_new": TICK if d.category == "新办" else BOX,
        "box_update": TICK if d.category == "更新" else BOX,
        "box_revoke": TICK if d.category == "注销" else BOX,
        "files": "\n".join(f"（{i}） {name}\t{FILE_PURPOSE.get(name, '')}" for i, name in enumerate(d.files, 1))
        or "（无）",
        "upd_old_serial": d.old_serial if d.category == "更新" and d.old_serial else BLANK,
        "upd_revoke_date": d.old_revoke_at.date().isoformat() if d.old_revoke_at else BLANK,
        "revoked_serial": d.old_serial if d.category == "注销" and d.old_serial else BLANK,
    }
    v |= _ymd("new_issue", d.issued_at if d.category == "新办" else None)
    v |= _ymd("new_until", d.valid_until if d.category == "新办" else None)
    v |= _ymd("upd_issue", d.issued_at if d.category == "更新" else None)
    v |= _ymd("upd_until", d.valid_until if d.category == "更新" else None)
    v |= _ymd("rev", d.revoked_at if d.category == "注销" else None)
    return v


def _fill_paragraph(paragraph: object, v: dict[str, str]) -> None:
    runs = paragraph.runs  # type: ignore[attr-defined]
    text = "".join(r.text for r in runs)
    if "{" not in text:
        return
    new = _PLACEHOLDER.sub(lambda m: v.get(m.group(1), m.group(0)), text)
    runs[0].text = new
    for r in runs[1:]:
        r.text = ""


def render(template: Path, data: NoticeData) -> bytes:
    return render_values(template, values(data))


def render_values(template: Path, v: dict[str, str]) -> bytes:
    """Fill ``{name}`` placeholders of a .docx template (paragraphs and table cells) from ``v``."""
    doc = Document(str(template))
    for p in doc.paragraphs:
        _fill_paragraph(p, v)
    for table in doc.tables:
        for row in table.rows:
            for cell in row.cells:
                for p in cell.paragraphs:
                    _fill_paragraph(p, v)
    buf = io.BytesIO()
    doc.save(buf)
    return buf.getvalue()


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
