"""Letters from the office's .docx templates: ``{name}`` placeholders in paragraphs and table cells filled
from a mapping (the 告知书 of issuance, the 不予受理/补正 notices of review)."""

from __future__ import annotations

import io
import re
from pathlib import Path

from docx import Document

_PLACEHOLDER = re.compile(r"\{([a-z_]+)\}")


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


def _fill_paragraph(paragraph: object, v: dict[str, str]) -> None:
    runs = paragraph.runs  # type: ignore[attr-defined]
    text = "".join(r.text for r in runs)
    if "{" not in text:
        return
    new = _PLACEHOLDER.sub(lambda m: v.get(m.group(1), m.group(0)), text)
    runs[0].text = new
    for r in runs[1:]:
        r.text = ""
