"""Timing of the thin slice: OCR seconds per page, seconds per case by stage, issuance.

    python bench/slice.py --cases 6 [--seed 11] [--prefect]

Generates labelled 厦门 scans (and DOCX) with the samples generator, processes them into a fresh home
with the plain stage functions (or the Prefect flow) and prints a summary plus a JSON line.
Also times one bare full-page RapidOCR call per scan for reference.
"""

from __future__ import annotations

import argparse
import json
import resource
import statistics
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "bench"))

from common import generator  # noqa: E402

from pipeline.config import load_settings  # noqa: E402
from pipeline.stages import Context, ingest_path, process_case  # noqa: E402
from pipeline.validate.registry import read_registry  # noqa: E402


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--cases", type=int, default=6)
    ap.add_argument("--seed", type=int, default=11)
    args = ap.parse_args()
    work = Path(tempfile.mkdtemp(prefix="cert-intake-bench-"))
    made = generator().random_set(work / "cases", work / "truth", args.seed, args.cases)
    ctx = Context(load_settings(work / "home", use_prefect=False))
    ctx.store.import_registry(read_registry(work / "registry.csv"))
    t0 = time.perf_counter()
    ctx.ocr()  # model load, once per process
    load_s = time.perf_counter() - t0
    results = []
    t_batch = time.perf_counter()
    for o in ingest_path(ctx, work / "cases"):
        start = time.perf_counter()
        r = process_case(ctx, o.case_id)
        r["wall_s"] = time.perf_counter() - start
        results.append(r)
    batch_s = time.perf_counter() - t_batch
    ocr_pages = sum(r["timings"].get("ocr_pages", 0) for r in results)
    ocr_s = sum(r["timings"].get("ocr_s", 0) for r in results)
    scans = [r for r in results if r["timings"].get("ocr_pages")]
    truth = {m["name"]: m["truth"] for m in made}
    exact = total = 0
    for r in results:
        t = truth[Path(r["source"]["path"]).name]
        for k, v in t.items():
            total += 1
            exact += r["fields"].get(k, {}).get("value") == v
    summary = {
        "cases": len(results),
        "scans": len(scans),
        "model_load_s": round(load_s, 3),
        "ocr_s_per_page": round(ocr_s / ocr_pages, 3) if ocr_pages else None,
        "scan_case_s_median": round(statistics.median(r["wall_s"] for r in scans), 3) if scans else None,
        "docx_case_s_median": round(statistics.median(r["wall_s"] for r in results if r not in scans), 3)
        if len(scans) < len(results)
        else None,
        "issue_s_median": round(
            statistics.median(r["timings"].get("issue_s", 0) for r in results if r["status"] == "issued"), 3
        )
        if any(r["status"] == "issued" for r in results)
        else None,
        "batch_s": round(batch_s, 2),
        "cases_per_min": round(len(results) / batch_s * 60, 1),
        "field_exact_match": round(exact / total, 4) if total else None,
        "statuses": {s: sum(r["status"] == s for r in results) for s in {r["status"] for r in results}},
        "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
    }
    for k, v in summary.items():
        print(f"{k:>22}: {v}")
    print(json.dumps(summary, ensure_ascii=False))


if __name__ == "__main__":
    main()
