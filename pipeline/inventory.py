"""The office's existing certificate inventory (``cert-intake certs import``): certificates issued before this
system, so that a 注销 or 更新 naming one of them is checked and carried out like one of ours.

Two sources: a CSV/XLSX list (columns serial, subject org, subject CN, org code, not_before, not_after,
status; Chinese header variants too) or a folder of ``.cer``/``.crt``/``.der``/``.pem`` files (parsed with
asn1crypto through ``pipeline.pki.der``; the org code is the subject's serialNumber, as our own
certificates carry it).  Each certificate becomes one inert case (status ``imported``, source ``import``)
holding one signing certificate, so revoking it revokes that certificate only; a serial already in the
store is left as it is.  A certificate imported from a file keeps its DER hash, so a 注销 that hands in
another file with the same serial is refused (``OLD_CERT_UNKNOWN``) as for ours.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, date, datetime
from hashlib import sha256
from pathlib import Path

from pipeline.errors import InputError
from pipeline.pki.der import parse_certificate
from pipeline.store import Store
from pipeline.tables import read_rows
from pipeline.validate.registry import parse_date

HEADERS = {
    "serial": ("serial", "序列号", "证书序列号", "序号", "证书序号"),
    "org_name": ("subjectorg", "subject_org", "o", "单位名称", "申请单位", "机构名称", "证书主体单位"),
    "common_name": ("subjectcn", "subject_cn", "cn", "通用名", "证书通用名"),
    "org_code": ("orgcode", "org_code", "机构代码", "统一社会信用代码"),
    "not_before": ("not_before", "notbefore", "生效日期", "起始日期", "有效期起"),
    "not_after": ("not_after", "notafter", "失效日期", "到期日期", "有效期至"),
    "status": ("status", "状态", "证书状态"),
}
REVOKED_WORDS = ("revoked", "已注销", "注销", "已吊销", "吊销")
CERT_SUFFIXES = (".cer", ".crt", ".der", ".pem")


@dataclass(frozen=True)
class InventoryRow:
    serial: str  # upper-case hex, no leading zeros
    org_name: str
    common_name: str
    org_code: str
    not_before: datetime | None
    not_after: datetime | None
    revoked: bool
    der_sha256: str | None = None
    source: str = ""


def norm_serial(value: object) -> str:
    text = re.sub(r"[\s:]", "", str(value or "")).upper()
    if text.startswith("0X"):
        text = text[2:]
    return text.lstrip("0") or ("0" if text else "")


def _header(h: object) -> str:
    return re.sub(r"[\s]", "", str(h or "")).lower()


def _when(value: object) -> datetime | None:
    if isinstance(value, datetime):
        return value if value.tzinfo else value.replace(tzinfo=UTC)
    day = parse_date(value)
    return datetime(day.year, day.month, day.day, tzinfo=UTC) if isinstance(day, date) else None


def rows_from_table(table: list[list[object]], source: str) -> list[InventoryRow]:
    if not table:
        return []
    header = [_header(h) for h in table[0]]
    index: dict[str, int] = {}
    for key, names in HEADERS.items():
        wanted = {_header(n) for n in names}
        found = next((i for i, h in enumerate(header) if h in wanted), None)
        if found is not None:
            index[key] = found
    missing = [k for k in ("serial", "org_code") if k not in index]
    if missing:
        raise InputError(f"{source}: no {' / '.join(missing)} column in the header {table[0]}")
    out = []
    for n, raw in enumerate(table[1:], start=2):

        def cell(key: str, row: list[object] = raw) -> str:
            i = index.get(key)
            return str(row[i]).strip() if i is not None and i < len(row) and row[i] is not None else ""

        serial = norm_serial(cell("serial"))
        if not serial:
            continue
        if not re.fullmatch(r"[0-9A-F]{1,40}", serial):
            raise InputError(f"{source}: row {n}: serial {cell('serial')!r} is not hexadecimal")
        i_nb, i_na = index.get("not_before"), index.get("not_after")
        out.append(
            InventoryRow(
                serial,
                cell("org_name"),
                cell("common_name"),
                cell("org_code").upper(),
                _when(raw[i_nb]) if i_nb is not None and i_nb < len(raw) else None,
                _when(raw[i_na]) if i_na is not None and i_na < len(raw) else None,
                any(w in cell("status").lower() for w in REVOKED_WORDS),
                None,
                f"{source}:{n}",
            )
        )
    return out


def read_table(path: Path) -> list[InventoryRow]:
    return rows_from_table(read_rows(path), str(path))


def row_from_certificate(data: bytes, source: str) -> InventoryRow:
    parsed = parse_certificate(data)
    if parsed.error or not parsed.serial_hex or parsed.der is None:
        raise InputError(f"{source}: not a certificate ({parsed.error or 'no serial'})")
    subject = parsed.subject
    return InventoryRow(
        norm_serial(parsed.serial_hex),
        subject.get("organization_name", ""),
        subject.get("common_name", ""),
        subject.get("serial_number", "").upper(),
        _when(datetime.fromisoformat(parsed.not_before)) if parsed.not_before else None,
        _when(datetime.fromisoformat(parsed.not_after)) if parsed.not_after else None,
        False,
        sha256(parsed.der).hexdigest(),
        source,
    )


def read_folder(path: Path) -> list[InventoryRow]:
    files = sorted(p for p in path.rglob("*") if p.is_file() and p.suffix.lower() in CERT_SUFFIXES)
    return [row_from_certificate(p.read_bytes(), str(p)) for p in files]


def read_inventory(path: Path) -> list[InventoryRow]:
    """A folder of certificates, one certificate file, or a CSV/XLSX list."""
    if path.is_dir():
        return read_folder(path)
    if path.suffix.lower() in CERT_SUFFIXES:
        return [row_from_certificate(path.read_bytes(), str(path))]
    if path.suffix.lower() in (".csv", ".txt", ".xlsx", ".xlsm"):
        return read_table(path)
    raise InputError(f"{path}: expected a folder of .cer files, a .cer, a .csv or an .xlsx")


def import_inventory(store: Store, rows: list[InventoryRow], office: str, actor: str = "cli") -> tuple[int, int]:
    """(certificates added, serials already in the store)."""
    added = 0
    for row in rows:
        subject = ", ".join(f"{k}={v}" for k, v in (("O", row.org_name), ("CN", row.common_name)) if v)
        case_id = store.import_certificate(
            office=office,
            serial_hex=row.serial,
            org_code=row.org_code,
            org_name=row.org_name,
            subject=subject,
            not_before=row.not_before,
            not_after=row.not_after,
            revoked=row.revoked,
            der_sha256=row.der_sha256,
            source=row.source,
            actor=actor,
        )
        added += case_id is not None
    return added, len(rows) - added
