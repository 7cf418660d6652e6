"""Extraction accuracy on a labelled synthetic corpus (the three forms, scans and text layers, degraded).

    python bench/accuracy.py --cases 120 --seed 777
    python bench/accuracy.py --renderer office --cases 60 --seed 11

``--renderer generator`` (the default) draws the corpus with samples/generate.py; ``--renderer office``
with samples/office_render.py: the 申请表 typed into a Word table, printed to PDF by LibreOffice, then
scanned (JPG 150/200/300 dpi, image-only PDF), kept as text PDF or DOCX, stacked into one multi-page
scanner PDF with the attachments, or photographed with a phone — 厦门 and 杭州 forms.

Generates the corpus with samples/generate.py (a seed different from the tests'), runs extraction, and
prints per-field exact-match accuracy, per-document-kind accuracy, per-input-kind accuracy, seconds
per OCR page, and — for 统一社会信用代码 and ID numbers — how many wrong values came back with high
confidence (the goal is zero: a wrong code must be repaired or flagged).  Also times one bare full-page
RapidOCR call per scanned form to compare with the whole extraction of that page (both twice, back to back,
least of each).  A JSON line ends it.
"""

from __future__ import annotations

import argparse
import json
import random
import statistics
import sys
import tempfile
import time
from collections import defaultdict
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "bench"))

from common import generator, office_renderer  # noqa: E402

from pipeline.extract import extract_case  # noqa: E402
from pipeline.extract.images import load_pages, prepare  # noqa: E402
from pipeline.extract.ocr import get_engine  # noqa: E402
from pipeline.profiles import load_attachment_specs, load_profiles  # noqa: E402
from pipeline.store import sha256_bytes  # noqa: E402

CODES = ("org_code", "legal_rep_id_number", "handler_id_number")
OFFICES = {"xiamen": "xiamen-eport", "hangzhou": "hangzhou-eport", "netca": "netca-gd"}
KINDS = ["jpg150", "jpg200", "jpg300", "pdf-scan", "pdf-text", "docx"]


def build(root: Path, n: int, seed: int, attachments_every: int) -> list[dict]:
    gen = generator()
    rng = random.Random(seed)
    made = []
    for i in range(n):
        office = list(OFFICES)[i % 3]
        kind = KINDS[(i // 3) % len(KINDS)]
        truth = gen.random_truth(rng, office=office)
        dpi = {"jpg150": 150, "jpg300": 300}.get(kind, 200)
        style = gen.ScanStyle(
            dpi=dpi,
            rotation=rng.uniform(-3, 3),
            blur=rng.uniform(0, 1.0),
            noise=rng.uniform(0, 10),
            jpeg_quality=rng.randint(50, 90),
            grey=rng.random() < 0.25,
            tick=rng.choice(["check", "fill", "cross"]),
        )
        name = f"{office}-{kind}-{i:04d}"
        file_kind = "jpg" if kind.startswith("jpg") else kind
        case = gen.write_case(
            root / "cases", root / "truth", name, truth, file_kind, style, rng, csr=False, office=office
        )
        att = None
        if attachments_every and i % attachments_every == 0 and office == "xiamen":
            att = gen.attachment_truth(rng, truth)
            gen.write_attachments(case, att, style, rng)
        made.append({"name": name, "office": office, "kind": kind, "truth": truth, "att": att, "path": case})
    return made


ATT_KEYS = (
    "license.org_code",
    "license.name",
    "license.legal_rep",
    "license.address",
    "id_card.1.name",
    "id_card.1.number",
    "id_card.2.name",
    "id_card.2.number",
    "product_cert.number",
    "product_cert.product",
    "product_cert.model",
    "product_cert.valid_until",
    "invoice.buyer",
    "invoice.amount",
)


def build_office(root: Path, n: int, seed: int, attachments_every: int) -> tuple[list[dict], dict]:
    """The office renderer's corpus: every variant, both offices; attachments on every Nth case and every stack."""
    office = office_renderer()
    specs = office.default_specs(n, seed, attachments_every)
    made, timing = office.build(specs, root, seed)
    corpus = []
    for m in made:
        t = m["truth"]
        form = next(name for name, kind in t["files"].items() if kind in ("application_form", "stack"))
        corpus.append(
            {
                "name": m["name"],
                "office": m["office"],
                "kind": m["variant"],
                "truth": t["fields"],
                "att": {k: v for k, v in t["attachments"].items() if k in ATT_KEYS} or None,
                "path": m["path"],
                "form_file": m["path"] / form,
            }
        )
    return corpus, timing


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--renderer", choices=["generator", "office"], default="generator")
    ap.add_argument("--cases", type=int, default=120)
    ap.add_argument("--seed", type=int, default=777)
    ap.add_argument("--attachments-every", type=int, default=4, help="every Nth 厦门 case also gets attachment scans")
    args = ap.parse_args()
    work = Path(tempfile.mkdtemp(prefix="cert-intake-accuracy-"))
    t0 = time.perf_counter()
    render_timing: dict = {}
    if args.renderer == "office":
        corpus, render_timing = build_office(work, args.cases, args.seed, args.attachments_every)
    else:
        corpus = build(work, args.cases, args.seed, args.attachments_every)
    gen_s = time.perf_counter() - t0
    profiles = load_profiles(REPO / "forms")
    specs = load_attachment_specs(REPO / "forms")
    engine = get_engine()
    per_field: dict[str, list[bool]] = defaultdict(list)
    per_kind: dict[str, list[bool]] = defaultdict(list)
    per_doc: dict[str, list[bool]] = defaultdict(list)
    wrong_confident: list[tuple[str, str, str, str]] = []
    misses: list[tuple[str, str, str, str | None]] = []
    ocr_s = ocr_pages = 0.0
    ratios = []
    ratios_by_kind: dict[str, list[float]] = defaultdict(list)
    for c in corpus:
        files = [(p.name, sha256_bytes(p.read_bytes()), p.read_bytes()) for p in sorted(c["path"].iterdir())]
        start = time.perf_counter()
        _profile, res, _docs = extract_case(files, profiles, OFFICES[c["office"]], get_engine, specs)
        whole = time.perf_counter() - start
        ocr_s += res.timings["ocr_s"]
        ocr_pages += res.timings["ocr_pages"]
        threshold = profiles[OFFICES[c["office"]]].confidence_threshold
        for key, value in c["truth"].items():
            got = res.fields.get(key)
            ok = got is not None and got.value == value
            per_field[key].append(ok)
            per_kind[c["kind"]].append(ok)
            per_doc["application_form"].append(ok)
            if not ok:
                misses.append((c["name"], key, value, got.value if got else None))
            if key in CODES and got is not None and got.value != value and got.confidence >= threshold:
                wrong_confident.append((c["name"], key, value, got.value))
        for key, value in (c["att"] or {}).items():
            if args.renderer == "generator" and (key.startswith("invoice.") or key == "product_cert.maker"):
                continue
            got = res.fields.get(key)
            ok = got is not None and got.value == value
            per_doc[key.split(".")[0]].append(ok)
            if args.renderer == "office" and c["kind"] in ("stack", "photo"):
                per_kind[c["kind"]].append(ok)  # a stack or a set of photos is read as a whole
                if not ok:
                    misses.append((c["name"], key, value, got.value if got else None))
        if args.renderer == "office":
            # whole extraction vs one bare RapidOCR call on the form page (scans) or the full photo, timed
            # back to back twice, least of each: one timing of either swings by a fifth on a shared machine
            if c["att"] is None and (c["kind"].startswith("scan-jpg") or c["kind"] == "photo"):
                page = load_pages(c["form_file"].read_bytes())[0]
                bare = engine.recognize(prepare(page).image).seconds
                start = time.perf_counter()
                extract_case(files, profiles, OFFICES[c["office"]], get_engine, specs)
                whole = min(whole, time.perf_counter() - start)
                bare = min(bare, engine.recognize(prepare(page).image).seconds)
                ratios.append(whole / bare if bare else 0)
                ratios_by_kind["photo" if c["kind"] == "photo" else "scan"].append(whole / bare if bare else 0)
        elif c["kind"].startswith("jpg") and c["att"] is None:
            page = load_pages((c["path"] / "申请表.jpg").read_bytes())[0]
            bare = engine.recognize(prepare(page).image).seconds
            ratios.append(whole / bare if bare else 0)

    def pct(xs: list[bool]) -> float:
        return round(100 * sum(xs) / len(xs), 2) if xs else 0.0

    all_form = [x for xs in per_field.values() for x in xs]
    summary = {
        "cases": len(corpus),
        "seed": args.seed,
        "form_fields": len(all_form),
        "form_field_exact_match_pct": pct(all_form),
        "per_field_pct": {k: pct(v) for k, v in sorted(per_field.items())},
        "per_input_kind_pct": {k: pct(v) for k, v in per_kind.items()},
        "per_document_kind_pct": {k: pct(v) for k, v in per_doc.items()},
        "codes_wrong_with_high_confidence": len(wrong_confident),
        "ocr_s_per_page": round(ocr_s / ocr_pages, 3) if ocr_pages else None,
        "extraction_vs_bare_ocr_ratio_median": round(statistics.median(ratios), 3) if ratios else None,
        "generate_s": round(gen_s, 1),
    }
    if args.renderer == "office":
        summary["renderer"] = "office"
        summary["extraction_vs_bare_ocr_ratio_median_by_kind"] = {
            k: round(statistics.median(v), 3) for k, v in ratios_by_kind.items()
        }
        summary["render"] = render_timing
    print(
        f"cases {summary['cases']} (seed {args.seed}); form fields {summary['form_fields']}: "
        f"{summary['form_field_exact_match_pct']} % exact"
    )
    for k, v in summary["per_field_pct"].items():
        print(f"  {k:<24} {v:6.2f} %")
    print("input kinds:", summary["per_input_kind_pct"])
    print("document kinds:", summary["per_document_kind_pct"])
    print(f"codes wrong with high confidence: {len(wrong_confident)} {wrong_confident[:5]}")
    print(
        f"OCR s/page {summary['ocr_s_per_page']}; whole extraction / bare full-page OCR (median) "
        f"{summary['extraction_vs_bare_ocr_ratio_median']}"
        + (f" {summary['extraction_vs_bare_ocr_ratio_median_by_kind']}" if args.renderer == "office" else "")
    )
    for m in misses[:30]:
        print("  miss:", m)
    print(json.dumps(summary, ensure_ascii=False))


if __name__ == "__main__":
    main()
