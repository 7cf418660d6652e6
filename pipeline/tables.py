"""A spreadsheet the office keeps (XLSX, or CSV in UTF-8 or GB18030) as rows of cells: the product registry
and the certificate inventory are both read through it."""

from __future__ import annotations

import csv
import io
from pathlib import Path
from typing import Any

from pipeline.errors import InputError


def read_rows(path: Path) -> list[list[Any]]:
    """Every row of the first sheet (XLSX) or of the CSV file, header included."""
    if path.suffix.lower() in (".xlsx", ".xlsm"):
        from openpyxl import load_workbook

        wb = load_workbook(path, read_only=True, data_only=True)
        table = [list(r) for r in wb.worksheets[0].iter_rows(values_only=True)]
        wb.close()
        return table
    raw = path.read_bytes()
    for codec in ("utf-8-sig", "gb18030"):
        try:
            text = raw.decode(codec)
            break
        except UnicodeDecodeError:
            continue
    else:
        raise InputError(f"{path} is neither UTF-8 nor GB18030 text")
    return [list(r) for r in csv.reader(io.StringIO(text))]
