"""Prefect overhead and memory: text-layer batches through the flows and through a plain loop.

    python bench/overhead.py [--cases 50] [--rss 50,500] [--seed 3] [--repeat 3]

1. ``--cases`` clean DOCX submissions (text layer: no OCR, so the orchestration cost is not hidden behind
   OCR time) are processed twice, each time on a fresh home, in a fresh process: the stage functions in
   a plain loop (``process_outcomes``), then the Prefect ``process_batch`` flow (one task per case).  The
   ratio is printed cold (with the ephemeral Prefect server's start) and warm (the server started by a
   no-op flow first and given 5 s to settle, outside the timing — the steady state of a long-running
   server).  ``process_batch`` runs 5 cases to a task.  Goal: warm ratio ≤ 1.10.
2. Peak RSS of a plain batch of each size in ``--rss`` (a fresh process each); goal: flat.

The last line is a JSON summary.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "bench"))

from common import generator  # noqa: E402
from defects import Case, write  # noqa: E402

from pipeline.validate.registry import RegistryRow, parse_date  # noqa: E402

# runs in a child process: (mode, home, cases dir, registry csv) → JSON timing on the last line
CHILD = r"""
import json, sys, time
from pathlib import Path
mode, home, root, registry = sys.argv[1:5]
from pipeline.config import load_settings, prepare_prefect_env
settings = load_settings(home, use_prefect=(mode != "plain"))
if mode != "plain":
    prepare_prefect_env(settings)
from pipeline.stages import Context
from pipeline.validate.registry import read_registry
ctx = Context(settings)
ctx.store.import_registry(read_registry(Path(registry)))
ctx.local_ca
paths = sorted(Path(root).iterdir())
warmup = 0.0
if mode == "prefect-warm":
    from prefect import flow
    @flow
    def noop() -> int:
        return 1
    t = time.perf_counter(); noop(); warmup = time.perf_counter() - t
    time.sleep(5)  # let the server finish its start-up work (migrations, services): a long-running one has
start = time.perf_counter()
if mode == "plain":
    from pipeline.stages import ingest_path, process_outcomes
    results = [r for p in paths for r in process_outcomes(ctx, ingest_path(ctx, p))]
else:
    from pipeline.flows import in_process, process_batch
    with in_process():  # as the CLI runs it
        results = process_batch(str(settings.home), [str(p) for p in paths])
seconds = time.perf_counter() - start
statuses = {}
for r in results:
    statuses[r["status"]] = statuses.get(r["status"], 0) + 1
# VmHWM: this process's own peak (ru_maxrss would include the parent's size at fork, kept across exec)
rss = next(int(l.split()[1]) for l in open("/proc/self/status") if l.startswith("VmHWM")) / 1024
print(json.dumps({"mode": mode, "cases": len(results), "seconds": seconds, "warmup": warmup,
                  "statuses": statuses, "rss_mb": rss}))
"""


def build(root: Path, n: int, seed: int) -> Path:
    """``n`` clean DOCX submissions and the registry CSV that lists their product certificates."""
    gen = generator()
    rng = random.Random(seed)
    rows = []
    for i in range(n):
        t = gen.random_truth(rng)
        a = gen.attachment_truth(rng, t)
        write(gen, root / "cases", Case(f"case-{i:04d}", None, t, a))
        rows.append(
            RegistryRow(
                a["product_cert.number"],
                a["product_cert.product"],
                a["product_cert.model"],
                a["product_cert.maker"],
                None,
                parse_date(a["product_cert.valid_until"]),
            )
        )
    registry = root / "registry.csv"
    lines = ["证书编号,产品名称,型号,生产者,有效期至"]
    lines += [f"{r.number},{r.product_name},{r.model},{r.maker},{r.valid_until}" for r in rows]
    registry.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return registry


def child(mode: str, root: Path, registry: Path) -> dict:
    home = Path(tempfile.mkdtemp(prefix=f"bench-{mode}-"))
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PREFECT_", "CERT_INTAKE_"))}
    r = subprocess.run(
        [sys.executable, "-c", CHILD, mode, str(home), str(root / "cases"), str(registry)],
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    if r.returncode != 0:
        raise SystemExit(f"{mode} failed:\n{r.stderr[-4000:]}")
    return json.loads(r.stdout.strip().splitlines()[-1])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--cases", type=int, default=50)
    ap.add_argument("--rss", default="50,500", help="comma-separated batch sizes for the memory runs")
    ap.add_argument("--seed", type=int, default=3)
    ap.add_argument("--repeat", type=int, default=3, help="plain/warm pairs; medians are compared")
    args = ap.parse_args()
    work = Path(tempfile.mkdtemp(prefix="bench-overhead-"))
    t = time.perf_counter()
    registry = build(work / "ratio", args.cases, args.seed)
    print(f"generated {args.cases} DOCX cases in {time.perf_counter() - t:.1f}s")
    cold = child("prefect", work / "ratio", registry)
    # plain and warm alternate, --repeat times each; the medians are compared
    pairs = [(child("plain", work / "ratio", registry), child("prefect-warm", work / "ratio", registry))]
    pairs += [
        (child("plain", work / "ratio", registry), child("prefect-warm", work / "ratio", registry))
        for _ in range(args.repeat - 1)
    ]
    plain = sorted((p for p, _w in pairs), key=lambda r: r["seconds"])[len(pairs) // 2]
    warm = sorted((w for _p, w in pairs), key=lambda r: r["seconds"])[len(pairs) // 2]
    print("plain runs:", ", ".join(f"{p['seconds']:.2f}s" for p, _w in pairs))
    print("warm runs: ", ", ".join(f"{w['seconds']:.2f}s" for _p, w in pairs))
    for r in (plain, cold, warm):
        print(
            f"{r['mode']:>13}: {r['cases']} cases in {r['seconds']:.2f}s "
            f"({r['seconds'] / max(1, r['cases']) * 1000:.0f} ms/case) {r['statuses']} RSS {r['rss_mb']:.0f} MB"
            + (f" (server start {r['warmup']:.1f}s, not timed)" if r["warmup"] else "")
        )
    ratio_cold = cold["seconds"] / plain["seconds"]
    ratio_warm = warm["seconds"] / plain["seconds"]
    print(f"Prefect/plain: cold {ratio_cold:.2f} (includes the ephemeral server start), warm {ratio_warm:.2f}")
    rss: dict[str, float] = {}
    for size in [int(x) for x in args.rss.split(",") if x.strip()]:
        root = work / f"rss-{size}"
        reg = build(root, size, args.seed + size)
        r = child("plain", root, reg)
        rss[str(size)] = round(r["rss_mb"], 1)
        print(f"RSS plain batch of {size}: {r['rss_mb']:.0f} MB peak ({r['seconds']:.1f}s, {r['statuses']})")
    print(
        json.dumps(
            {
                "cases": args.cases,
                "plain_s": round(plain["seconds"], 2),
                "prefect_cold_s": round(cold["seconds"], 2),
                "prefect_warm_s": round(warm["seconds"], 2),
                "ratio_cold": round(ratio_cold, 3),
                "ratio_warm": round(ratio_warm, 3),
                "rss_mb": rss,
            }
        )
    )


if __name__ == "__main__":
    main()
