"""The 商用密码产品认证证书 registry: import a CSV/XLSX list of certified products, look numbers up.

Header variants are tolerated (证书编号/认证证书编号/编号, 产品名称/名称, 型号/产品型号/规格型号,
生产者/生产者名称/委托人, 发证日期/颁证日期, 有效期至/有效期/证书有效期).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date, datetime
from pathlib import Path

from pipeline.errors import InputError
from pipeline.tables import read_rows

HEADERS = {
    "number": ("证书编号", "认证证书编号", "编号", "证书号"),
    "product_name": ("产品名称", "名称"),
    "model": ("型号", "产品型号", "规格型号"),
    "maker": ("生产者", "生产者名称", "生产者（制造商）名称", "制造商", "委托人", "委托人名称"),
    "issued_on": ("发证日期", "颁证日期", "签发日期"),
    "valid_until": ("有效期至", "有效期", "证书有效期", "有效截止日期"),
}
NUMBER_FORMAT = re.compile(r"^GM\d{15}$")


@dataclass(frozen=True)
class RegistryRow:
    number: str
    product_name: str
    model: str
    maker: str
    issued_on: date | None
    valid_until: date | None


def _norm(h: object) -> str:
    return re.sub(r"\s", "", str(h or "")).replace("(", "（").replace(")", "）")


def parse_date(value: object) -> date | None:
    if value is None or value == "":
        return None
    if isinstance(value, datetime):
        return value.date()
    if isinstance(value, date):
        return value
    text = str(value).strip()
    m = re.match(r"^(\d{4})\s*[年./-]\s*(\d{1,2})\s*[月./-]\s*(\d{1,2})", text)
    if not m:
        return None
    try:
        return date(int(m.group(1)), int(m.group(2)), int(m.group(3)))
    except ValueError:
        return None


def _rows_from_table(table: list[list[object]]) -> list[RegistryRow]:
    if not table:
        return []
    header = [_norm(h) for h in table[0]]
    index: dict[str, int] = {}
    for key, names in HEADERS.items():
        for i, h in enumerate(header):
            if h in {_norm(n) for n in names} and key not in index:
                index[key] = i
    if "number" not in index:
        raise InputError(f"no 证书编号 column in the header: {header}")
    out = []
    for raw in table[1:]:

        def cell(key: str, row: list[object] = raw) -> object:
            i = index.get(key)
            return row[i] if i is not None and i < len(row) else None

        number = re.sub(r"\s", "", str(cell("number") or "")).upper()
        if not number:
            continue
        out.append(
            RegistryRow(
                number,
                str(cell("product_name") or "").strip(),
                str(cell("model") or "").strip(),
                str(cell("maker") or "").strip(),
                parse_date(cell("issued_on")),
                parse_date(cell("valid_until")),
            )
        )
    return out


def read_registry(path: Path) -> list[RegistryRow]:
    return _rows_from_table(read_rows(path))
