"""The cell model every form source is read through: scans (cells from the ruling lines), text-layer PDFs
(pdfplumber's table finder), DOCX and XLSX tables (their own cells, laid out on a synthetic grid).

A :class:`Cell` is a box on a page with the text lines inside it in reading order; neighbours are found by
geometry (the cell to the right sharing a row band, the cell below sharing a column band), so a merged or
spanning cell needs no special case.  Pure functions over plain data, in the manner of pdfplumber's
geometry helpers.
"""

from __future__ import annotations

from dataclasses import dataclass

from pipeline.extract.forms import TextItem
from pipeline.models import BBox


@dataclass(frozen=True)
class Cell:
    page: int
    bbox: BBox
    lines: tuple[TextItem, ...]  # reading order: top line first, left to right within a line

    @property
    def text(self) -> str:
        return "".join(it.text for it in self.lines)

    @property
    def height(self) -> float:
        return self.bbox[3] - self.bbox[1]

    @property
    def width(self) -> float:
        return self.bbox[2] - self.bbox[0]


@dataclass(frozen=True)
class PageCells:
    """A page's table cells (empty ones included) and the text outside every cell (title, notes)."""

    page: int
    cells: tuple[Cell, ...]
    outside: tuple[TextItem, ...]


def _centre(b: BBox) -> tuple[float, float]:
    return (b[0] + b[2]) / 2, (b[1] + b[3]) / 2


def _contains(box: BBox, x: float, y: float) -> bool:
    return box[0] <= x <= box[2] and box[1] <= y <= box[3]


def _area(b: BBox) -> float:
    return max(0.0, b[2] - b[0]) * max(0.0, b[3] - b[1])


def reading_order(items: list[TextItem]) -> list[TextItem]:
    """Visual lines top to bottom (an item joins a line when its centre lies in that line's band), each left
    to right.  A value that wraps inside its cell therefore reads as one string."""
    lines: list[list[TextItem]] = []
    for it in sorted(items, key=lambda it: (it.bbox[1] + it.bbox[3]) / 2):
        cy = (it.bbox[1] + it.bbox[3]) / 2
        if lines:
            last = lines[-1]
            top = min(t.bbox[1] for t in last)
            bottom = max(t.bbox[3] for t in last)
            band = bottom - top
            if top + 0.25 * band <= cy <= bottom - 0.25 * band or abs(cy - _centre(last[-1].bbox)[1]) < 0.3 * band:
                last.append(it)
                continue
        lines.append([it])
    return [it for line in lines for it in sorted(line, key=lambda it: it.bbox[0])]


def build_page(page: int, boxes: list[BBox], items: list[TextItem]) -> PageCells:
    """Each item goes to the smallest cell that holds its centre; the rest is outside the table."""
    members: list[list[TextItem]] = [[] for _ in boxes]
    order = sorted(range(len(boxes)), key=lambda i: _area(boxes[i]))
    outside: list[TextItem] = []
    for it in items:
        if it.page != page:
            continue
        x, y = _centre(it.bbox)
        home = next((i for i in order if _contains(boxes[i], x, y)), None)
        if home is None:
            outside.append(it)
        else:
            members[home].append(it)
    cells = tuple(Cell(page, box, _once(reading_order(m))) for box, m in zip(boxes, members, strict=True))
    return PageCells(page, cells, tuple(outside))


def _once(lines: list[TextItem]) -> tuple[TextItem, ...]:
    """A cell's lines with a line read twice kept once: the same text in two boxes that overlap and share
    most of their width is one line the line finder cut in two rows, each row's crop read as the whole word
    (a bold 证件号码 taller than the page's lines, photographed: 证件号码证件号码 matched no label and the
    handler's ID number was lost)."""
    out: list[TextItem] = []
    for it in lines:
        last = out[-1] if out else None
        if (
            last is not None
            and it.text == last.text
            and _overlap(last.bbox[1], last.bbox[3], it.bbox[1], it.bbox[3]) > 0
            and _overlap(last.bbox[0], last.bbox[2], it.bbox[0], it.bbox[2])
            >= 0.8 * min(last.bbox[2] - last.bbox[0], it.bbox[2] - it.bbox[0])
        ):
            continue
        out.append(it)
    return tuple(out)


def _overlap(a0: float, a1: float, b0: float, b1: float) -> float:
    return max(0.0, min(a1, b1) - max(a0, b0))


def same_band(a: Cell, b: Cell) -> bool:
    """a and b share a row band: most of the shorter one's height overlaps the other."""
    return _overlap(a.bbox[1], a.bbox[3], b.bbox[1], b.bbox[3]) >= 0.5 * min(a.height, b.height)


def right_of(cells: tuple[Cell, ...] | list[Cell], cell: Cell) -> Cell | None:
    """The nearest cell to the right on the same row band (the adjacent one when empty cells are kept)."""
    tol = 0.02 * max(cell.width, cell.height)
    candidates = [
        c
        for c in cells
        if c is not cell and c.page == cell.page and c.bbox[0] >= cell.bbox[2] - tol - 4 and same_band(cell, c)
    ]
    if not candidates:
        return None
    return min(candidates, key=lambda c: (c.bbox[0], -_overlap(cell.bbox[1], cell.bbox[3], c.bbox[1], c.bbox[3])))


def below(cells: tuple[Cell, ...] | list[Cell], cell: Cell) -> Cell | None:
    """The nearest cell below sharing most of this cell's column band."""
    candidates = [
        c
        for c in cells
        if c is not cell
        and c.page == cell.page
        and c.bbox[1] >= cell.bbox[3] - 0.2 * cell.height
        and _overlap(cell.bbox[0], cell.bbox[2], c.bbox[0], c.bbox[2]) >= 0.5 * min(cell.width, c.width)
    ]
    return min(candidates, key=lambda c: c.bbox[1]) if candidates else None
