"""End-to-end benchmark: a mixed batch (scans and text layers, clean and defective) through `process`.

    python bench/e2e.py --cases 100 [--seed 5] [--no-prefect]
    python bench/e2e.py --renderer office --cases 24 --no-prefect   # forms typed, printed by LibreOffice, scanned

``--renderer office`` builds the batch with samples/office_render.py (every variant, both offices, 新办 with
all attachments, one case in four with one defect); clean cases must be issued without review and no
defective case may be issued.

Runs the batch twice on fresh homes — the stage functions in a plain loop, then the Prefect
``process_batch`` flow (ephemeral server) — and prints cases/min, OCR seconds per page, seconds per
case by stage, Prefect overhead, issuance per second and peak RSS, then a JSON summary line.

A whole scanned case against the bare full-page OCR of its pages is given two ways: its extract stage in
the batch against bare OCR timed after the batch (``case_extract_vs_bare_ocr_*``, end to end, DB writes
included, open to the machine's drift over the batch), and its extraction and the bare OCR timed back to
back, alternating, least of two each (``case_extract_vs_bare_ocr_paired_*``).
"""

from __future__ import annotations

import argparse
import json
import os
import random
import resource
import statistics
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "bench"))
sys.path.insert(0, str(REPO / "bench"))

from common import generator, office_renderer  # noqa: E402

from pipeline.config import load_settings, prepare_prefect_env  # noqa: E402
from pipeline.validate.registry import read_registry  # noqa: E402

DEFECTS = ["bad-uscc", "landline", "licence-name", "csr-cn", "no-csr"]


def build(root: Path, n: int, seed: int) -> list[dict]:
    """Half scans (JPG at 150–300 dpi, degraded), half DOCX; one case in four has one defect."""
    gen = generator()
    rng = random.Random(seed)
    rows = []
    registry = []
    for i in range(n):
        truth = gen.random_truth(rng)
        att = gen.attachment_truth(rng, truth)
        defect = DEFECTS[i % len(DEFECTS)] if i % 4 == 3 else None
        if defect == "bad-uscc":
            truth["org_code"] = gen.corrupt_uscc_check(truth["org_code"])
        elif defect == "landline":
            truth["handler_phone"] = "05925653395"
        elif defect == "licence-name":
            att["license.name"] = "别家贸易有限公司"
        kind = "jpg" if i % 2 == 0 else "docx"
        style = gen.ScanStyle(
            dpi=rng.choice([150, 200, 300]),
            rotation=rng.uniform(-2, 2),
            blur=rng.uniform(0, 0.8),
            noise=rng.uniform(0, 8),
            jpeg_quality=rng.randint(60, 90),
        )
        name = f"e2e-{i:04d}"
        case = gen.write_case(root / "cases", root / "truth", name, truth, kind, style, rng, csr=defect != "no-csr")
        if defect == "csr-cn":
            gen.make_csr(truth["applicant_name"], "另一家公司", case / "request.csr")
        gen.write_attachments_docx(case, att)
        registry.append(att)
        rows.append({"name": name, "kind": kind, "defect": defect})
    gen.write_registry(root / "registry.csv", gen.registry_rows(registry, rng))
    return rows


def build_office(root: Path, n: int, seed: int) -> list[dict]:
    """Office-rendered 新办 cases with every attachment; about one in four with one defect."""
    office = office_renderer()
    specs = office.default_specs(n, seed, attachments_every=1, defects=0.25, prefix="e2e")
    for spec in specs:
        spec.category = "新办"
    made, _timing = office.build(specs, root, seed)  # writes root/cases, root/truth, root/registry.csv
    return [{"name": m["name"], "kind": m["variant"], "defect": m["truth"]["defect"]} for m in made]


TYPED = ("docx", "text-pdf", "pdf-text")  # typed forms carry no seal: FORM_NOT_SEALED sends them to review


def bare_ocr_seconds(case: Path) -> float:
    """One bare full-page RapidOCR call on every page of every scanned file of a case (what reading the case
    page by page without any of our shortcuts would cost), measured in this run."""
    from pipeline.extract import images
    from pipeline.extract.classify import sniff
    from pipeline.extract.ocr import get_engine
    from pipeline.extract.textlayer import pdf_items

    engine, total = get_engine(), 0.0
    for path in sorted(case.iterdir()):
        data = path.read_bytes()
        kind = sniff(data, path.name)
        pages = images.load_pages(data) if kind == "image" else pdf_items(data).page_images if kind == "pdf" else []
        for page in pages:
            total += engine.recognize(images.prepare(page).image).seconds
    return total


def paired_ratio(case: Path, rounds: int = 2) -> float:
    """The case's extraction (every file read as the extract stage reads it, without the OCR cache, and its
    review snapshots) against the bare OCR of its pages, timed back to back, ``rounds`` times alternating:
    the machine's speed drifts over a long batch, so a case timed in the batch and its bare OCR timed
    minutes later can differ by the drift alone.  The least of each is taken."""
    from pipeline.extract import extract_case
    from pipeline.extract.ocr import get_engine
    from pipeline.extract.snapshots import snapshots
    from pipeline.profiles import load_attachment_specs, load_profiles
    from pipeline.store import sha256_bytes

    profiles, specs = load_profiles(REPO / "forms"), load_attachment_specs(REPO / "forms")
    files = [(p.name, sha256_bytes(data), data) for p in sorted(case.iterdir()) for data in [p.read_bytes()]]
    ours, bare = [], []
    for _ in range(rounds):
        start = time.perf_counter()
        _profile, _result, docs = extract_case(files, profiles, "xiamen-eport", get_engine, specs)
        snapshots(files, docs)
        ours.append(time.perf_counter() - start)
        bare.append(bare_ocr_seconds(case))
    return min(ours) / min(bare)


def run(root: Path, home: Path, prefect: bool) -> tuple[list[dict], float]:
    settings = load_settings(home, use_prefect=prefect)
    if prefect:
        prepare_prefect_env(settings)
    from pipeline.flows import _context, run_batch

    _context(str(home)).store.import_registry(read_registry(root / "registry.csv"))
    _ = _context(str(home)).local_ca
    start = time.perf_counter()
    _ctx, results = run_batch(settings, [root / "cases"])
    return results, time.perf_counter() - start


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--cases", type=int, default=100)
    ap.add_argument("--seed", type=int, default=5)
    ap.add_argument("--no-prefect", action="store_true", help="skip the Prefect run (no overhead figure)")
    ap.add_argument("--renderer", choices=["generator", "office"], default="generator")
    ap.add_argument(
        "--ratio-cases", type=int, default=8, help="clean scanned cases (and photo cases) timed against bare OCR"
    )
    args = ap.parse_args()
    work = Path(tempfile.mkdtemp(prefix="cert-intake-e2e-"))
    prepare_prefect_env(load_settings(work / "home-prefect"))  # before Prefect is first imported
    t0 = time.perf_counter()
    made = (
        build_office(work, args.cases, args.seed) if args.renderer == "office" else build(work, args.cases, args.seed)
    )
    gen_s = time.perf_counter() - t0
    results, plain_s = run(work, work / "home-plain", prefect=False)
    prefect_s = None
    if not args.no_prefect:
        os.environ.pop("PREFECT_API_URL", None)
        _r2, prefect_s = run(work, work / "home-prefect", prefect=True)
    pages = sum(r.get("timings", {}).get("ocr_pages", 0) for r in results)
    ocr = sum(r.get("timings", {}).get("ocr_s", 0) for r in results)
    issued = [r for r in results if r["status"] == "issued"]
    by_name = {Path(r["source"]["path"]).name: r for r in results}
    defect_ok = sum(1 for m in made if m["defect"] and by_name[m["name"]]["route"] == "review")
    clean_ok = sum(1 for m in made if not m["defect"] and by_name[m["name"]]["status"] == "issued")

    def med(key: str) -> float | None:
        xs = [r["timings"][key] for r in results if key in r.get("timings", {})]
        return round(statistics.median(xs), 3) if xs else None

    summary = {
        "cases": len(results),
        "scans": sum(m["kind"] == "jpg" or m["kind"].startswith(("scan", "stack", "photo")) for m in made),
        "defective": sum(1 for m in made if m["defect"]),
        "generate_s": round(gen_s, 1),
        "plain_s": round(plain_s, 1),
        "cases_per_min": round(len(results) / plain_s * 60, 1),
        "ocr_s_per_page": round(ocr / pages, 3) if pages else None,
        "ocr_pages": int(pages),
        "stage_median_s": {k: med(k) for k in ("extract_s", "validate_s", "issue_s")},
        "issued": len(issued),
        "issuance_per_s": round(len(issued) / sum(r["timings"].get("issue_s", 0) for r in issued), 2)
        if issued
        else None,
        "clean_issued": f"{clean_ok}/{sum(1 for m in made if not m['defect'])}",
        "defective_to_review": f"{defect_ok}/{sum(1 for m in made if m['defect'])}",
        "defective_issued": sum(1 for m in made if m["defect"] and by_name[m["name"]]["status"] == "issued"),
        "prefect_s": round(prefect_s, 1) if prefect_s else None,
        "prefect_overhead_ratio": round(prefect_s / plain_s, 3) if prefect_s else None,
        "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
    }
    if args.renderer == "office":
        scanned = [m for m in made if not m["defect"] and not m["kind"].startswith(TYPED)]
        typed = [m for m in made if not m["defect"] and m["kind"].startswith(TYPED)]
        summary["clean_scanned_issued"] = (
            f"{sum(by_name[m['name']]['status'] == 'issued' for m in scanned)}/{len(scanned)}"
        )
        summary["clean_typed_to_review_form_not_sealed"] = (
            f"{sum('FORM_NOT_SEALED' in [f['code'] for f in by_name[m['name']]['findings']] for m in typed)}"
            f"/{len(typed)}"
        )
        # a whole scanned case (scans and whole-stack PDFs) against the bare OCR of its pages; phone photos,
        # which must first be found on the desk and flattened, are timed apart
        ratios: list[float] = []
        photo_ratios: list[float] = []
        per_case: dict[str, float] = {}
        paired: list[float] = []
        for m in scanned:
            photo = "photo" in m["kind"]
            into = photo_ratios if photo else ratios
            if len(into) >= args.ratio_cases:
                continue
            bare = bare_ocr_seconds(work / "cases" / m["name"])
            if bare:
                into.append(by_name[m["name"]].get("timings", {}).get("extract_s", 0.0) / bare)
                per_case[m["name"]] = round(into[-1], 3)
                if not photo:
                    paired.append(paired_ratio(work / "cases" / m["name"]))
        summary["photo_case_extract_vs_bare_ocr_median"] = (
            round(statistics.median(photo_ratios), 3) if photo_ratios else None
        )
        summary["case_extract_vs_bare_ocr_cases"] = len(ratios)
        summary["case_extract_vs_bare_ocr_median"] = round(statistics.median(ratios), 3) if ratios else None
        summary["case_extract_vs_bare_ocr_max"] = round(max(ratios), 3) if ratios else None
        summary["case_extract_vs_bare_ocr_by_case"] = per_case
        summary["case_extract_vs_bare_ocr_paired_median"] = round(statistics.median(paired), 3) if paired else None
        summary["case_extract_vs_bare_ocr_paired_max"] = round(max(paired), 3) if paired else None
    for k, v in summary.items():
        print(f"{k:>24}: {v}")
    for m in made:  # clean cases a reviewer will see: why
        r = by_name[m["name"]]
        if not m["defect"] and r["status"] != "issued":
            print(f"  clean but {r['status']}: {m['name']} ({m['kind']}): {[f['code'] for f in r['findings']]}")
    print(json.dumps(summary, ensure_ascii=False))


if __name__ == "__main__":
    main()
