"""Form fields from cells: a label is a cell whose whole text is one of the profile's labels (fuzzy, so a
label wrapped over two lines, or read with one wrong character, is still one label and never leaks into a
value); its value is the neighbouring cell the profile names (right by default, or below), all of its lines.

Printed hints that share a value cell (``此邮件地址将用于接收数字证书和告知书…``, ``注销业务此项可不填``) are
cut out, and shaped values (codes, numbers, e-mail) are picked out of the cell's text by their pattern.
"""

from __future__ import annotations

import itertools
import re
import unicodedata
from dataclasses import dataclass

from rapidfuzz import fuzz

from pipeline.extract.cells import Cell, PageCells, below, reading_order, right_of, same_band
from pipeline.extract.forms import FormExtraction, TextItem, clean_value, norm_label, old_serial, shape_ok, union
from pipeline.models import BBox, Evidence, Field
from pipeline.profiles import FieldSpec, OfficeProfile

MIN_LABEL_CELLS = 5  # label cells a page needs for its cells to be read as the form


@dataclass(frozen=True)
class LabelMatch:
    key: str  # a field key, or "" for a stop label / section heading
    score: float
    rest: str  # text after the label when label and value share a cell


def label_score(text: str, alias: str) -> float:
    """0–100: how well a cell's normalised text is the label ``alias`` (short labels must match exactly)."""
    if text == alias:
        return 100.0
    if len(alias) <= 3:
        return 0.0
    # a short label tolerates misread characters only (身份证 is a value, not the label 身份证号)
    if abs(len(text) - len(alias)) > (0 if len(alias) <= 6 else max(2, len(alias) // 4)):
        return 0.0
    score = float(fuzz.ratio(text, alias))
    need = 80.0 if len(alias) >= 7 else 75.0
    return score if score >= need else 0.0


def _prefix(text: str, alias: str) -> str | None:
    """The rest of a cell that starts with the label (label and value typed in one cell)."""
    if len(alias) >= 3 and text.startswith(alias) and len(text) > len(alias):
        return text[len(alias) :]
    return None


def match_cell(cell: Cell, labels: list[tuple[str, str]]) -> LabelMatch | None:
    """The best label for a cell: whole-text matches first, then label-at-start (short remainder only)."""
    text = norm_label(cell.text)
    if not text:
        return None
    best: LabelMatch | None = None
    for key, alias in labels:
        score = label_score(text, alias)
        if score and (best is None or score > best.score):
            best = LabelMatch(key, score, "")
    if best is not None:
        return best
    for key, alias in sorted(labels, key=lambda kv: len(kv[1]), reverse=True):
        rest = _prefix(text, alias)
        if rest is not None and len(rest) <= 40:
            return LabelMatch(key, 60.0, rest)
    return None


# --------------------------------------------------------------------------- hints and shapes


def strip_hints(lines: list[TextItem], hints: tuple[str, ...]) -> list[TextItem]:
    """Lines of a value cell without the printed hints (a hint may share a line with the typed value)."""
    out: list[TextItem] = []
    for it in lines:
        text = it.text
        for hint in hints:
            h = norm_label(hint)
            if len(h) < 4:
                continue
            compact = norm_label(text)
            if not compact:
                break
            align = fuzz.partial_ratio_alignment(h, compact, score_cutoff=80)
            if align is None or (align.dest_end - align.dest_start) < 0.7 * len(h):
                continue
            text = _cut(text, align.dest_start, align.dest_end)
        if norm_label(text):
            out.append(TextItem(text, it.bbox, it.score, it.page))
    return out


def _cut(raw: str, start: int, end: int) -> str:
    """Remove normalised characters [start, end) from ``raw`` (punctuation in between goes with them)."""
    kept: list[str] = []
    j = 0
    for ch in raw:
        if norm_label(ch):
            if not start <= j < end:
                kept.append(ch)
            j += 1
        elif not start < j < end:
            kept.append(ch)
    return "".join(kept).strip()


PICK = {
    "uscc": re.compile(r"[0-9A-Z]{18}"),
    "id_number": re.compile(r"\d{17}[\dX]|[A-Z]{3}\d{12}|\d{15}"),
    "email": re.compile(r"[A-Za-z0-9._%+\-]+@[A-Za-z0-9.\-]+\.[A-Za-z]{2,}"),
    "product_cert": re.compile(r"[A-Z]{2,3}\d{6,20}"),
    "algorithm": re.compile(r"SM2|RSA\d*"),
}


# a phone number as written: digits with blanks, hyphens or brackets inside (0592-5551234, 135 1536 1553),
# never across a line break; and as a whole number, after a country code 86 if any
PHONE_WRITTEN = re.compile(r"\d[\d\-() \t]*\d")
PHONE = re.compile(r"(?:86)?(1\d{10}|0\d{9,11})")
DIGITS_WRITTEN = re.compile(r"\d(?:[\d\-() \t]*\d)?")  # as PHONE_WRITTEN, or one digit (a wrapped number's end)


def _wrapped_phone(text: str) -> str | None:
    """A phone number wrapped in a narrow cell (``1860447757`` / ``7``): a line that ends in digits and the
    next that starts with them, whose digits joined are a whole number — never a piece of either."""
    lines = [ln.strip() for ln in text.split("\n") if ln.strip()]
    for first, second in itertools.pairwise(lines):
        head, tail = DIGITS_WRITTEN.findall(first), DIGITS_WRITTEN.findall(second)
        if not head or not tail or not first.endswith(head[-1]) or not second.startswith(tail[0]):
            continue
        m = PHONE.fullmatch(re.sub(r"\D", "", head[-1] + tail[0]))
        if m:
            return m.group(1)
    return None


def pick_value(shape: str, text: str) -> str:
    """The field's value out of a cell's text (its lines joined by newlines): by pattern for shaped values,
    else the cleaned text.  A value wrapped over lines is one text, but a phone number is a whole number
    written on one line: never a run of digits cut out of a longer one (an ID number under a lost rule gave
    the phone 021119700225 out of 350211197002252685), and two numbers on two lines stay two."""
    nfkc = unicodedata.normalize("NFKC", text)
    if shape == "phone":
        numbers = [re.sub(r"\D", "", n) for n in PHONE_WRITTEN.findall(nfkc)]
        whole = [m.group(1) for m in (PHONE.fullmatch(n) for n in numbers) if m]
        if whole:
            return whole[0]
        wrapped = _wrapped_phone(nfkc)
        if wrapped:
            return wrapped
        return max(numbers, key=len) if numbers else clean_value(shape, text)  # no phone's shape: flagged
    text = text.replace("\n", "")
    pattern = PICK.get(shape)
    if pattern is None:
        return clean_value(shape, text)
    if shape == "email":
        found = pattern.findall(re.sub(r"\s", "", nfkc))
        return found[0].lower() if found else clean_value(shape, text)
    compact = clean_value(shape, text)
    found = pattern.findall(compact)
    if found:
        return str(max(found, key=len))
    runs = re.findall(r"[0-9A-Z]+", compact)  # a misread code: its longest run, flagged by shape_ok later
    return max(runs, key=len) if runs else compact


# --------------------------------------------------------------------------- the reader


def _labels(profile: OfficeProfile) -> list[tuple[str, str]]:
    out = [(f.key, norm_label(a)) for f in profile.fields for a in f.labels]
    out += [("", norm_label(s)) for s in (*profile.stop_labels, profile.category_label)]
    return [(k, a) for k, a in out if a]


def _choose(spec: FieldSpec, cands: list[tuple[Cell, LabelMatch]], anchors: dict[str, Cell]) -> Cell | None:
    anchor_key = spec.row_of or spec.below
    if anchor_key:
        anchor = anchors.get(anchor_key)
        if anchor is None:
            return None
        same_page = [c for c, _m in cands if c.page == anchor.page]
        if spec.row_of:
            row = [c for c in same_page if same_band(anchor, c) and c.bbox[0] > anchor.bbox[0]]
            return min(row, key=lambda c: c.bbox[0]) if row else None
        under = [c for c in same_page if c.bbox[1] >= anchor.bbox[1] + 0.5 * anchor.height]
        return min(under, key=lambda c: c.bbox[1]) if under else None
    if not cands:
        return None
    return min(cands, key=lambda cm: (cm[1].rest != "", -cm[1].score, cm[0].page, cm[0].bbox[1]))[0]


def read_cells(pages: list[PageCells], profile: OfficeProfile, document: str, with_bbox: bool) -> FormExtraction | None:
    """The form's fields from its pages' cells; None when the cells do not look like this profile's form."""
    labels = _labels(profile)
    cells = mend_split_labels([c for p in pages for c in p.cells], labels)
    matches = {id(c): m for c in cells if (m := match_cell(c, labels)) is not None}
    label_cells = [c for c in cells if id(c) in matches]
    if sum(1 for c in label_cells if matches[id(c)].key) < MIN_LABEL_CELLS:
        return None
    hints = tuple(profile.raw.get("hints") or ())
    fields: dict[str, Field] = {}
    missing: dict[str, tuple[int, BBox]] = {}
    chosen: dict[str, Cell] = {}
    used: set[int] = set()
    ordered = sorted(profile.fields, key=lambda f: f.row_of is not None or f.below is not None)
    for spec in ordered:
        keys = {norm_label(a) for a in spec.labels}
        cands = [
            (c, m)
            for c in label_cells
            if id(c) not in used and (m := matches[id(c)]) and (m.key == spec.key or _any_alias(c, keys, m))
        ]
        cell = _choose(spec, cands, chosen)
        if cell is None:
            continue
        chosen[spec.key] = cell
        used.add(id(cell))
        value = _value(spec, cell, matches[id(cell)], cells, matches, hints, document, with_bbox)
        if isinstance(value, Field):
            fields[spec.key] = _run_together(value, keys, labels)
        elif value is not None:
            missing[spec.key] = (cell.page, value)
    cat_box, cat_items = _category_cell(profile, label_cells, matches, cells)
    serial = old_serial(cat_items, document, with_bbox) if "old_cert_serial" not in fields else None
    if serial is not None:
        fields["old_cert_serial"] = serial
    return FormExtraction(fields, len(label_cells), cat_box, cat_items, missing)


RUN_TOGETHER_LABEL = 4  # characters of another label that, inside a value, say two cells ran together


def _run_together(value: Field, own: set[str], labels: list[tuple[str, str]]) -> Field:
    """A value holding another field's label (机构代码91330106…杭州市上城区… read as the 通信地址 of a
    100-dpi scan whose grid lost a rule) is two cells run together: never sure, a person reads it."""
    text = norm_label(value.value)
    if any(len(a) >= RUN_TOGETHER_LABEL and a not in own and a in text for _k, a in labels):
        return Field(value.value, min(value.confidence, 0.5), value.evidence)
    return value


def mend_split_labels(cells: list[Cell], labels: list[tuple[str, str]]) -> list[Cell]:
    """A long label cut in two by a rule that is not there: two cells side by side in the same row, neither a
    label, whose lines joined row by row are one (``服务类密码设备商`` | ``用密码`` over ``产品认证证书`` |
    ``编号``: a tight two-line cell at 150 dpi stacks the strokes of 码 and 书 into a vertical run as long as
    the row).  They become one cell, so the label matches and its value is the cell to its right."""
    out = list(cells)
    for _round in range(2):  # a label cut twice is mended in two steps
        mended = False
        for left in list(out):
            if left not in out or not left.lines or match_cell(left, labels) is not None:
                continue
            right = right_of(out, left)
            if right is None or not right.lines or match_cell(right, labels) is not None:
                continue
            if (
                abs(left.bbox[1] - right.bbox[1]) > 0.2 * left.height
                or abs(left.bbox[3] - right.bbox[3]) > 0.2 * left.height
            ):
                continue  # not one row of the table
            joined = Cell(
                left.page,
                (left.bbox[0], min(left.bbox[1], right.bbox[1]), right.bbox[2], max(left.bbox[3], right.bbox[3])),
                tuple(reading_order([*left.lines, *right.lines])),
            )
            match = match_cell(joined, labels)
            if match is None or match.rest or not match.key:
                continue
            out[out.index(left)] = joined
            out.remove(right)
            mended = True
        if not mended:
            break
    return out


def _any_alias(cell: Cell, keys: set[str], m: LabelMatch) -> bool:
    """A cell matched best to another field's label may still carry this field's label (证件号码 twice)."""
    if m.rest:
        return False
    text = norm_label(cell.text)
    return any(label_score(text, k) >= m.score for k in keys)


def _value(
    spec: FieldSpec,
    label: Cell,
    match: LabelMatch,
    cells: list[Cell],
    matches: dict[int, LabelMatch],
    hints: tuple[str, ...],
    document: str,
    with_bbox: bool,
) -> Field | BBox | None:
    """The value Field; or the region to read again when the value cell came back empty; or None."""
    if match.rest:
        value = pick_value(spec.shape, match.rest)
        conf = min((it.score for it in label.lines), default=0.0)
        return _field(spec, value, conf, label.page, label.bbox if with_bbox else None, document)
    target = below(cells, label) if spec.value_at == "below" else right_of(cells, label) or below(cells, label)
    if target is None:
        return None
    if id(target) in matches and not matches[id(target)].rest:
        return None  # the next cell is a label: nothing was written in this field
    if not target.lines:
        return target.bbox  # nothing was read in the value cell: read it again, enlarged
    lines = strip_hints(list(target.lines), hints)
    if not lines:
        return None  # only the printed hint (注销业务此项可不填): left blank on purpose
    value = pick_value(spec.shape, "\n".join(it.text for it in lines))
    conf = min(it.score for it in lines)
    bbox = union([it.bbox for it in lines]) if with_bbox else None
    return _field(spec, value, conf, target.page, bbox, document)


def _field(spec: FieldSpec, value: str, conf: float, page: int, bbox: BBox | None, document: str) -> Field | None:
    if not value:
        return None
    if not shape_ok(spec.shape, value):
        conf = min(conf, 0.5)
    return Field(value, conf, Evidence(document, page, bbox))


def _category_cell(
    profile: OfficeProfile, label_cells: list[Cell], matches: dict[int, LabelMatch], cells: list[Cell]
) -> tuple[BBox | None, list[TextItem]]:
    target = norm_label(profile.category_label)
    cat = [c for c in label_cells if label_score(norm_label(c.text), target) or norm_label(c.text).startswith(target)]
    if not cat:
        return None, []
    label = min(cat, key=lambda c: (c.page, c.bbox[1]))
    rest = matches[id(label)].rest
    if rest and norm_label(label.text).startswith(target):
        return label.bbox, list(label.lines)
    options = right_of(cells, label)
    if options is None or not options.lines:
        return None, []
    return options.bbox, list(options.lines)
