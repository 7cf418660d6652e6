"""Form field extraction driven by ``forms/<office>.yaml``.

Every source (OCR boxes, PDF words, DOCX/XLSX table cells laid out on a synthetic grid) becomes a
list of :class:`TextItem`; a label is found by its aliases, and its value is the text to its right on
the same row, up to the next label.  Repeated labels (联系电话, 证件号码) are disambiguated with
``row_of``/``below`` anchors from the profile.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TypeVar

from pipeline.models import BBox, Evidence, Field
from pipeline.profiles import FieldSpec, OfficeProfile

T = TypeVar("T")
CJK = "\u4e00-\u9fff"  # the unified ideographs, as a character class range
_PUNCT = re.compile(r"[\s:：/／、,，.。;；()（）\[\]【】<>《》\"'“”‘’_\-—]+")


@dataclass(frozen=True)
class TextItem:
    text: str
    bbox: BBox
    score: float = 1.0
    page: int = 1


def norm_label(text: str) -> str:
    return _PUNCT.sub("", unicodedata.normalize("NFKC", text))


# --------------------------------------------------------------------------- geometry helpers


def _cy(b: BBox) -> float:
    return (b[1] + b[3]) / 2


def _h(b: BBox) -> float:
    return b[3] - b[1]


def same_row(a: BBox, b: BBox) -> bool:
    """b's vertical centre lies inside a's row band (a's height, widened by half of it)."""
    band = max(_h(a), _h(b)) * 0.75
    return abs(_cy(a) - _cy(b)) <= band


def union(boxes: list[BBox]) -> BBox:
    return (min(b[0] for b in boxes), min(b[1] for b in boxes), max(b[2] for b in boxes), max(b[3] for b in boxes))


# --------------------------------------------------------------------------- label matching


@dataclass(frozen=True)
class LabelHit:
    item: TextItem
    label_box: BBox
    rest: str  # text of the item after the label (label and value merged in one OCR box)
    rest_box: BBox | None


# a printed box, empty or ticked, as the recogniser reads it (口: the character an empty box is read as; ⊠ and
# ⌧: a ☒ as it reads it)
BOX_GLYPHS = "□☐☑☒⊠⌧■口"
# a box glyph the recogniser reads into the gap of a label spread out (住　　所 read 住☑所); 口 is left, it is
# also a character of labels (电子口岸)
GAP_GLYPHS = re.compile(f"[{BOX_GLYPHS.replace('口', '')}]")


def _match_label(item: TextItem, aliases: tuple[str, ...]) -> LabelHit | None:
    text = GAP_GLYPHS.sub("", norm_label(item.text))
    if not text:
        return None
    for alias in sorted(aliases, key=len, reverse=True):
        a = norm_label(alias)
        if text == a:
            return LabelHit(item, item.bbox, "", None)
        if text.startswith(a) and len(text) > len(a):
            return LabelHit(item, *_split_after(item, a))  # merged label+value
    return None


def _split_after(item: TextItem, label_norm: str) -> tuple[BBox, str, BBox | None]:
    """A box read as a label (``label_norm``, or the end of one) and its value together, split in proportion
    to their characters: the label's part, the value's text (a colon after the label dropped) and the value's
    part (None without a value)."""
    raw = unicodedata.normalize("NFKC", item.text).strip()
    idx = _raw_index_after(raw, label_norm)
    rest = raw[idx:].lstrip(" :：")
    x0, y0, x1, y1 = item.bbox
    cut = x0 + (x1 - x0) * idx / max(len(raw), 1)
    return (x0, y0, cut, y1), rest, ((cut, y0, x1, y1) if rest else None)


SPACED_GAP = 4.0  # line heights between the characters of a label spread out to its column's width
SPACED_HEIGHTS = 1.6  # the most two pieces of a spread label differ in height (boxes of one line of print)


def _spaced_labels(items: list[TextItem], aliases: tuple[str, ...]) -> list[TextItem]:
    """Labels printed with their characters spread out (营业执照: 名　　称, 住　　所; ID cards: 姓　名) come
    back from the detector as one box per character when the gaps are wide — a black-and-white copy cuts
    the faint strokes that otherwise bridge them.  Boxes on one row, left to right, whose texts together
    are a label are joined into one item; anything else is left as read.  The last piece may carry the
    value with it (an invoice's 名　　称：厦门… read 名 | 称：厦门…): that box is split into the label's end and
    the value (``_label_end``)."""
    labels = {norm_label(a) for a in aliases} - {""}
    prefixes = {a[:i] for a in labels for i in range(1, len(a))}
    out = list(items)
    for start in sorted(items, key=lambda it: (it.page, it.bbox[0])):
        text = norm_label(start.text)
        if start not in out or text not in prefixes:
            continue
        run = [start]
        split: tuple[TextItem, TextItem, TextItem] | None = None  # (box split, label's end, value)
        while text in prefixes:
            last = run[-1]
            nxt = [
                it
                for it in out
                if it.page == last.page
                and it not in run
                and same_row(last.bbox, it.bbox)
                # the next box starts right of this one's middle: the detector's boxes of two characters
                # close together may overlap (名 169–249, 称 239–343 on a stacked licence of seed 67890)
                and (last.bbox[0] + last.bbox[2]) / 2 < it.bbox[0] <= last.bbox[2] + SPACED_GAP * _h(last.bbox)
                # characters of one size: a word printed down its column (an invoice's 购买方) is no piece
                and _h(it.bbox) < SPACED_HEIGHTS * _h(last.bbox)
                and _h(last.bbox) < SPACED_HEIGHTS * _h(it.bbox)
            ]
            if not nxt:
                break
            step = min(nxt, key=lambda it: it.bbox[0])
            ends = _label_end(text, step, labels)
            if ends is not None:
                split = (step, *ends)
                run.append(ends[0])
                text += norm_label(ends[0].text)
                break
            run.append(step)
            text += norm_label(step.text)
        if len(run) > 1 and text in labels:
            joined = TextItem(
                "".join(it.text for it in run), union([it.bbox for it in run]), min(it.score for it in run), start.page
            )
            gone = [*run, *(split[:1] if split else ())]
            out = [joined if it is start else it for it in out if it is start or all(it is not g for g in gone)]
            out.extend(split[2:] if split else ())
    return out


def _label_end(head: str, step: TextItem, labels: set[str]) -> tuple[TextItem, TextItem] | None:
    """The rest of a label begun by ``head`` and its value read as one box (``step``): that box's label part and
    its value part (``_split_after``); None when ``step`` is no such box."""
    tail = norm_label(step.text)
    for label in sorted(labels, key=len, reverse=True):
        end = label[len(head) :]
        if not label.startswith(head) or not end or not tail.startswith(end) or len(tail) == len(end):
            continue
        label_box, value, value_box = _split_after(step, end)
        if value_box is None:
            return None
        return TextItem(end, label_box, step.score, step.page), TextItem(value, value_box, step.score, step.page)
    return None


def _raw_index_after(raw: str, label_norm: str) -> int:
    """Index in ``raw`` just past the characters that make up ``label_norm``."""
    j = 0
    for i, ch in enumerate(raw):
        if j < len(label_norm) and norm_label(ch) == label_norm[j]:
            j += 1
            if j == len(label_norm):
                return i + 1
    return len(raw)


# --------------------------------------------------------------------------- value shapes


def clean_value(shape: str, text: str) -> str:
    t = unicodedata.normalize("NFKC", text).strip()
    if shape in ("uscc", "id_number", "product_cert"):
        return re.sub(r"[\s\-—_.·]", "", t).upper()
    if shape == "phone":
        return re.sub(r"[^\d+]", "", t)
    if shape == "email":
        return re.sub(r"\s", "", t).lower()
    if shape == "years":
        m = re.search(r"\d+", t)
        return m.group(0) if m else t
    if shape == "algorithm":
        return re.sub(r"\s", "", t).upper()
    if shape == "name":  # registered Chinese names use full-width brackets: （集团）, （厦门）
        return re.sub(r"\s", "", t).replace("(", "（").replace(")", "）")
    if shape == "person":  # a name is letters (and the · of minority names): a box or mark read beside it goes,
        # and so does a Latin letter or two glued to a Chinese name (an ID copy's 高丽 read i高丽: a mark's stroke)
        name = re.sub(r"^[^\w·]+|[^\w·]+$", "", re.sub(r"\s", "", t))
        return re.sub(rf"^[A-Za-z]{{1,2}}(?=[{CJK}]{{2}})|(?<=[{CJK}]{{2}})[A-Za-z]{{1,2}}$", "", name)
    if shape == "id_type":
        return re.sub(r"\s", "", t)
    if shape == "amount":
        if re.search(f"[{CAPITAL_NUMERALS}]", t):  # the amount in words (价税合计（大写）⊗壹拾捌万元整), not the figure
            return ""
        m = re.search(r"\d[\d,]*(?:\.\d{1,2})?", t)
        return m.group(0).replace(",", "") if m else t
    if shape == "date":  # a date printed beside a seal's text or a note: the date only
        m = re.search(r"\d{4}\s*年\s*\d{1,2}\s*月\s*\d{1,2}\s*日|\d{4}[-./]\d{1,2}[-./]\d{1,2}", t)
        return re.sub(r"\s", "", m.group(0)) if m else t
    if shape == "text":  # Chinese text has no spaces: one the OCR reads beside a character (11 层) is not there
        return re.sub(r"(?<=[\u3000-\u9fff\uff00-\uffef])\s+|\s+(?=[\u3000-\u9fff\uff00-\uffef])", "", t)
    if shape == "model":  # a product model (CloudHSM-3, NetSign-V6): a one or zero read inside a lower-case word
        t = clean_value("text", t)  # is the letter it resembles (C1oudHSM-3, seeds 24242 and 23232, at 0.99)
        return re.sub(r"(?<=[A-Za-z])0(?=[a-z])", "o", re.sub(r"(?<=[A-Za-z])[1|](?=[a-z])", "l", t))
    if shape == "serial":  # letters that are no hex digit stay: the repair step reads them as the digit they resemble
        return re.sub(r"[^0-9A-Za-z]", "", t).upper()
    return t


SHAPES = {
    "uscc": re.compile(r"^[0-9A-Z]{18}$"),
    "id_number": re.compile(r"^[0-9A-Z]{6,18}$"),
    "phone": re.compile(r"^\+?\d{7,13}$"),
    "email": re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$"),
    "years": re.compile(r"^\d{1,2}$"),
    "product_cert": re.compile(r"^[A-Z]{2,3}\d{6,20}$"),
    "algorithm": re.compile(r"^(SM2|RSA\d*)$"),
    "amount": re.compile(r"^\d+(?:\.\d{1,2})?$"),
    "date": re.compile(r"^(\d{4}年\d{1,2}月\d{1,2}日|\d{4}[-./]\d{1,2}[-./]\d{1,2})$"),
    # letters only, minority and foreign names joined by a middle dot (as printed or as read): a digit, an @ or
    # a label in it is another line run into the name (a blurred form: a phone and an e-mail address)
    "person": re.compile(r"^[^\W\d_]+(?:[·・•.．][^\W\d_]+)*$"),
    # 居民身份证, 护照, 港澳居民来往内地通行证 …: words, never a number (a 100-dpi scan gave a phone at 0.99)
    "id_type": re.compile(r"^[^\d@]+$"),
}


def shape_ok(shape: str, value: str) -> bool:
    pat = SHAPES.get(shape)
    return bool(value) and (pat is None or bool(pat.match(value)))


# --------------------------------------------------------------------------- extraction


@dataclass
class FormExtraction:
    fields: dict[str, Field]
    labels_found: int
    category_box: BBox | None  # the row band of the category options (for tick detection)
    category_texts: list[TextItem]
    missing: dict[str, tuple[int, BBox]] = field(default_factory=dict)  # key → (page, region) to OCR again


def extract_labeled(
    items: list[TextItem],
    specs: tuple[FieldSpec, ...],
    other_labels: tuple[str, ...],
    document: str,
    with_bbox: bool = True,
    missing: dict[str, tuple[int, BBox]] | None = None,
) -> dict[str, Field]:
    """Each spec's label, then the text to its right on the same row up to the next label."""
    all_aliases = tuple(other_labels) + tuple(a for f in specs for a in f.labels)
    items = _spaced_labels(items, all_aliases)
    label_items = [it for it in items if _match_label(it, all_aliases) is not None]
    label_ids = {id(it) for it in label_items}
    by_key = {f.key: f for f in specs}

    hits: dict[str, list[LabelHit]] = {}
    ordered = sorted(specs, key=lambda f: f.row_of is not None or f.below is not None)
    whole_labels = {norm_label(a) for a in all_aliases}
    for spec in ordered:
        candidates = [h for h in (_match_label(it, spec.labels) for it in items) if h is not None]
        # a text that is another label as a whole (购买方信息) is not a shorter label (购买方) with a value
        candidates = [h for h in candidates if not (h.rest and norm_label(h.item.text) in whole_labels)]
        candidates = [h for h in candidates if not _printed_down(h)]
        anchor_key = spec.row_of or spec.below
        if anchor_key:
            anchors = hits.get(anchor_key)
            if not anchors:
                continue
            anchor = anchors[0]
            if spec.row_of:
                candidates = [
                    h
                    for h in candidates
                    if same_row(anchor.label_box, h.label_box) and h.label_box[0] > anchor.label_box[0]
                ]
            else:
                h0 = _h(anchor.label_box)
                candidates = [h for h in candidates if _cy(h.label_box) > _cy(anchor.label_box) + h0 * 0.5]
                # the nearest below in the anchor's own column (a 销售方 block beside the 购买方 one is not it)
                candidates.sort(key=lambda h: (abs(h.label_box[0] - anchor.label_box[0]) > 4 * h0, _cy(h.label_box)))
                candidates = candidates[:1]
        else:
            candidates = _in_reading_order(candidates)
        if candidates:
            hits[spec.key] = candidates

    fields: dict[str, Field] = {}
    for key, cands in hits.items():
        spec = by_key[key]
        if key.rsplit(".", 1)[-1].startswith("_"):
            continue  # an anchor only (a section heading such as 购买方信息), not a field
        found = None
        for hit in cands:
            found = _labeled_value(spec, hit, items, label_items, label_ids, document, with_bbox)
            if found is not None and shape_ok(spec.shape, found.value):
                break
            below = _value_below(spec, hit, items, label_ids, document, with_bbox)
            if below is not None:
                found = below
                break
        if found is None:
            found = _labeled_value(spec, cands[0], items, label_items, label_ids, document, with_bbox)
        if found is None:
            if missing is not None:  # the label is there, its value was not read: where to look again
                missing[key] = (cands[0].item.page, _value_region(cands[0], label_items))
            continue
        fields[key] = found
    # ``key~variant``: another way the same field is printed, used when the main label gave nothing usable; of
    # several, the first the specs list that gave a value
    for key in [f.key for f in specs if "~" in f.key and f.key in fields]:
        main = key.split("~", 1)[0]
        alt = fields.pop(key)
        if main not in fields or not shape_ok(by_key[key].shape, fields[main].value) or len(fields[main].value) < 4:
            fields[main] = alt
    return fields


def _printed_down(hit: LabelHit) -> bool:
    """A label printed top to bottom (a paper 增值税发票's 购买方 in its narrow column): it heads a block of
    rows, the text right of it is several values, none its own."""
    x0, y0, x1, y1 = hit.label_box
    return not hit.rest and len(norm_label(hit.item.text)) >= 2 and (y1 - y0) > 1.5 * (x1 - x0)


def _in_reading_order(hits: list[LabelHit]) -> list[LabelHit]:
    """Exact label boxes first (a merged "label+value" box only when nothing better exists), each kind in
    reading order (``_in_rows``): two labels on one row (an invoice's buyer and seller blocks side by side) are
    told apart by their order, not by a pixel of their heights."""
    exact = [h for h in hits if not h.rest]
    merged = [h for h in hits if h.rest]
    return _in_rows(exact, lambda h: h.label_box) + _in_rows(merged, lambda h: h.label_box)


def _labeled_value(
    spec: FieldSpec,
    hit: LabelHit,
    items: list[TextItem],
    label_items: list[TextItem],
    label_ids: set[int],
    document: str,
    with_bbox: bool,
) -> Field | None:
    """The text to the right of the label on its row (and the lines it wraps onto)."""
    # a person's name fits its line: the line below an ID card's 姓名 is 性别's, and with that pale label
    # unread its value joined the name (苏然东女, seed 48484, untuned)
    value_items = _value_items(hit, items, label_items, label_ids, wraps=spec.shape != "person")
    parts = ([hit.rest] if hit.rest else []) + [it.text for it in value_items]
    boxes = ([hit.rest_box] if hit.rest_box else []) + [it.bbox for it in value_items]
    scores = ([hit.item.score] if hit.rest else []) + [it.score for it in value_items]
    value = clean_value(spec.shape, "".join(parts))
    if not value:
        return None
    conf = min(scores) if scores else 0.0
    if not shape_ok(spec.shape, value):
        conf = min(conf, 0.5)
    bbox = union(boxes) if (boxes and with_bbox) else None
    return Field(value, conf, Evidence(document, hit.item.page, bbox))


def _value_below(
    spec: FieldSpec, hit: LabelHit, items: list[TextItem], label_ids: set[int], document: str, with_bbox: bool
) -> Field | None:
    """A shaped value printed under its label (营业执照: 统一社会信用代码 above the code); only when it has the
    field's shape, so a neighbouring line is never taken for it."""
    # a name has no shape a neighbouring line lacks (性别 男 under 姓名 is letters too)
    if spec.shape not in SHAPES or spec.shape in ("years", "person", "id_type"):
        return None
    lb = hit.label_box
    h = _h(lb)
    under = [
        it
        for it in items
        if id(it) not in label_ids
        and it.page == hit.item.page
        and 0 <= it.bbox[1] - lb[3] + 0.3 * h <= 2.5 * h
        and abs(it.bbox[0] - lb[0]) <= 3 * h
    ]
    for it in sorted(under, key=lambda it: it.bbox[1]):
        value = clean_value(spec.shape, it.text)
        if shape_ok(spec.shape, value):
            bbox = it.bbox if with_bbox else None
            return Field(value, it.score, Evidence(document, it.page, bbox))
    return None


# the old certificate's 序号 written into the 申请类别 option (更新/注销): its run of letters and digits, so
# that a 0 read as O is not where the serial ends (the repair step turns such letters into hex digits)
SERIAL = re.compile(r"序号[:：]?\s*([0-9A-Za-z]{6,40})")


def old_serial(items: list[TextItem], document: str, with_bbox: bool) -> Field | None:
    """The 序号 of the old certificate in the category option's text, or None."""
    if not items:
        return None
    text = "".join(unicodedata.normalize("NFKC", it.text) for it in items).replace(" ", "")
    m = SERIAL.search(text)
    if m is None:
        return None
    value = m.group(1).upper()
    if value.endswith("J") and not text[m.end() :].startswith("]"):
        # the form prints 序号：…] — a J (no hex digit, and like no hex digit) ending the run with no ] after it
        # is that bracket misread (seed 23456: 13D616F8C4A40CC0EDJ)
        value = value[:-1]
    bbox = union([it.bbox for it in items]) if with_bbox else None
    return Field(value, min(it.score for it in items), Evidence(document, items[0].page, bbox))


def extract_form(
    items: list[TextItem], profile: OfficeProfile, document: str, with_bbox: bool = True
) -> FormExtraction:
    missing: dict[str, tuple[int, BBox]] = {}
    fields = extract_labeled(
        items, profile.fields, (*profile.stop_labels, profile.category_label), document, with_bbox, missing
    )
    hits = len(fields)

    cat_box = None
    cat_items: list[TextItem] = []
    cat_hit = next((h for h in (_match_label(it, (profile.category_label,)) for it in items) if h), None)
    if cat_hit is not None:
        row = [it for it in items if same_row(cat_hit.label_box, it.bbox) and it.bbox[0] >= cat_hit.label_box[2] - 2]
        cat_items = sorted(row, key=lambda it: it.bbox[0])
        if cat_hit.rest:
            cat_items.insert(
                0, TextItem(cat_hit.rest, cat_hit.rest_box or cat_hit.item.bbox, cat_hit.item.score, cat_hit.item.page)
            )
        serial = old_serial(cat_items, document, with_bbox)
        if serial is not None and "old_cert_serial" not in fields:
            fields["old_cert_serial"] = serial
        if cat_items:
            _x0, y0, x1, y1 = union([it.bbox for it in cat_items])
            lb = cat_hit.label_box
            cat_box = (lb[2], min(y0, lb[1]), x1, max(y1, lb[3]))
    return FormExtraction(fields, hits, cat_box, cat_items, missing)


def _value_region(hit: LabelHit, label_items: list[TextItem]) -> BBox:
    lb = hit.label_box
    h = _h(lb)
    stops = [
        li.bbox[0]
        for li in label_items
        if li is not hit.item and li.page == hit.item.page and same_row(lb, li.bbox) and li.bbox[0] > lb[2]
    ]
    right = min(stops) - 2 if stops else lb[2] + 14 * h
    return (lb[2] + 2, lb[1] - 0.5 * h, right, lb[3] + 0.5 * h)


def _value_items(
    hit: LabelHit, items: list[TextItem], label_items: list[TextItem], label_ids: set[int], wraps: bool = True
) -> list[TextItem]:
    lb = hit.label_box
    right_edge = hit.rest_box[2] if hit.rest_box else lb[2]
    stops = [
        li.bbox[0]
        for li in label_items
        if li is not hit.item and li.page == hit.item.page and same_row(lb, li.bbox) and li.bbox[0] >= right_edge - 2
    ]
    cut = min(stops) if stops else float("inf")
    out = [
        it
        for it in items
        if id(it) not in label_ids
        and it.page == hit.item.page
        and same_row(lb, it.bbox)
        # right of the label; a value box may overlap the label's end (ID cards print them tight, and the
        # detector pads its boxes: 姓名 [509–608] beside 吕航 [586–668]) by less than half its own width
        and (it.bbox[0] >= right_edge - 4 or right_edge - it.bbox[0] < 0.5 * (it.bbox[2] - it.bbox[0]))
        and it.bbox[0] < cut
        and not _nearer_row(it, hit, label_items)
    ]
    # a value is contiguous: stop at a wide gap (a seal's text or a note far to the right is not the value)
    kept: list[TextItem] = []
    edge = right_edge
    for it in sorted(out, key=lambda it: it.bbox[0]):
        gap_limit = _h(lb) * (10 if not kept else 3)
        if it.bbox[0] - edge > gap_limit:
            break
        kept.append(it)
        edge = it.bbox[2]
    # the value's first line: the items right of the label, or the label box's own rest (购买方名称：厦门…)
    first = kept
    if not kept and hit.rest and hit.rest_box:
        first = [TextItem(hit.rest, hit.rest_box, hit.item.score, hit.item.page)]
    left = hit.rest_box[0] if hit.rest_box else right_edge
    wrapped = _wrapped_lines(first, items, label_items, label_ids, left, cut, lb[0]) if wraps else []
    return _reading_order(kept + wrapped)


def _nearer_row(it: TextItem, hit: LabelHit, label_items: list[TextItem]) -> bool:
    """Whether a line stands nearer the row of another label of this label's column, left of the line,
    than the row of this one: a tall detector box can reach into the label's row band from the row below (an
    ID copy's 男民族汉 [387–447] within 姓名's band [354–390], but centred on 性别's row: the name came out
    东方军航男民族汉).  A label of a column further left (a licence's 经营范围 on 住所's row) claims nothing."""
    lb = hit.label_box
    return any(
        li is not hit.item
        and li.page == it.page
        and lb[0] - 0.5 * _h(lb) < li.bbox[2] <= it.bbox[0] + 0.5 * _h(li.bbox)
        and not same_row(lb, li.bbox)
        and same_row(li.bbox, it.bbox)
        and abs(_cy(li.bbox) - _cy(it.bbox)) < abs(_cy(lb) - _cy(it.bbox))
        for li in label_items
    )


def _reading_order(parts: list[TextItem]) -> list[TextItem]:
    """Top line first, left to right within a line (a two-line value can sit inside the label's row band)."""
    return _in_rows(parts, lambda it: it.bbox)


def _in_rows(things: list[T], box: Callable[[T], BBox]) -> list[T]:
    """Things (by their ``box``) in reading order: top line first, left to right within a line."""
    lines: list[list[T]] = []
    for thing in sorted(things, key=lambda t: _cy(box(t))):
        if lines and abs(_cy(box(thing)) - _cy(box(lines[-1][-1]))) < 0.5 * _h(box(thing)):
            lines[-1].append(thing)
        else:
            lines.append([thing])
    return [t for line in lines for t in sorted(line, key=lambda t: box(t)[0])]


def _wrapped_lines(
    kept: list[TextItem],
    items: list[TextItem],
    label_items: list[TextItem],
    label_ids: set[int],
    left: float,
    right: float,
    label_x: float,
) -> list[TextItem]:
    """Lines of the same cell below the value (long names wrap): left-aligned with it, a line apart, and on a
    row without a label of its own.  Rows of a form carry labels, so the next row is never taken; a label
    that ends before the value's own label starts belongs to a column further left (a licence prints two
    columns of label and value: 经营范围 on the left does not end 住所's value on the right)."""
    if not kept:
        return []
    out: list[TextItem] = []
    last = kept[-1] if len(kept) == 1 else min(kept, key=lambda k: k.bbox[0])
    while True:
        h = _h(last.bbox)
        below = [
            it
            for it in items
            if id(it) not in label_ids
            and it is not last
            and it not in kept
            and it not in out
            and it.page == last.page
            and (it.bbox[1] + it.bbox[3]) / 2 > last.bbox[3]  # below it (a photo's boxes overlap a little)
            and it.bbox[1] - last.bbox[3] <= 0.6 * h
            and abs(it.bbox[0] - last.bbox[0]) <= 1.5 * h
            and left - 4 <= it.bbox[0] < right
        ]
        if not below:
            return out
        nxt = min(below, key=lambda it: it.bbox[1])
        # a label of the next row stops the value; one of another column (far to the right) does not
        if any(
            same_row(nxt.bbox, li.bbox) and li.bbox[0] < nxt.bbox[2] and li.bbox[2] > label_x - 0.5 * h
            for li in label_items
            if li.page == nxt.page
        ):
            return out
        out.append(nxt)
        last = nxt


# --------------------------------------------------------------------------- category from glyphs

CAPITAL_NUMERALS = "壹贰叁肆伍陆柒捌玖拾佰仟圆"  # digits written in words (大写), never in a figure

TICKED = "☑☒⊠⌧■▇█√✓✔×✗✘XxＸｘ"
UNTICKED = "□☐口"


def category_from_text(items: list[TextItem], options: tuple[str, ...]) -> list[str] | None:
    """Ticked options from glyphs printed before each option (text layers, or a tick the OCR read): the
    character before the option, or a tick typed before its box (``√□新办``).  None when no glyph is found."""
    text = "".join(unicodedata.normalize("NFKC", it.text) for it in items)
    text = re.sub(r"\s", "", text)
    found = False
    ticked: list[str] = []
    for opt in options:
        for m in re.finditer(re.escape(opt), text):
            last = text[m.start() - 1] if m.start() >= 1 else ""
            first = text[m.start() - 2] if m.start() >= 2 else ""
            if (last and last in TICKED) or (last and last in UNTICKED and first and first in TICKED):
                ticked.append(opt)
                found = True
                break
            if last and last in UNTICKED:
                found = True
    return ticked if found else None
