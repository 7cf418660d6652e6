"""Issuance throughput and SM2 speed against OpenSSL, measured in the same run.

    python bench/issuance.py --cases 20

1. Builds N 新办 DOCX cases with fresh OpenSSL SM2 CSRs, runs extract + validate (not timed), then
   times the issue stage (sign.cer + env.cer + envprivatekey + CSRResponse + 告知书 + zip + .eml) per case.
2. Times our SM2 sign and verify (gmssl arithmetic, CSPRNG nonces) and `openssl speed sm2`, and prints
   the ratios.
"""

from __future__ import annotations

import argparse
import json
import random
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "bench"))

from common import generator  # noqa: E402
from defects import register as defects_register  # noqa: E402

from pipeline.config import load_settings  # noqa: E402
from pipeline.pki import sm2  # noqa: E402
from pipeline.review import actions  # noqa: E402
from pipeline.stages import Context, ingest_path, run_extract, run_issue, run_validate  # noqa: E402


def register(rows: list[dict[str, str]], att: dict[str, str]) -> None:
    rows.append(att)


def issuance_throughput(n: int, work: Path) -> dict[str, float]:
    gen = generator()
    rng = random.Random(4242)
    ctx_rows: list[dict[str, str]] = []
    for i in range(n):
        truth = gen.random_truth(rng)
        folder = work / "cases" / f"case-{i:03d}"
        folder.mkdir(parents=True)
        gen.render_form_docx(truth, folder / "申请表.docx")
        gen.make_csr(truth["applicant_name"], truth["common_name"], folder / "request.csr")
        att = gen.attachment_truth(rng, truth)
        gen.write_attachments_docx(folder, att)
        register(ctx_rows, att)
    ctx = Context(load_settings(work / "home", use_prefect=False))
    _ = ctx.local_ca  # CA creation is not issuance
    for att in ctx_rows:
        defects_register(ctx, att)
    ids = [o.case_id for o in ingest_path(ctx, work / "cases")]
    for cid in ids:
        run_extract(ctx, cid)
        run_validate(ctx, cid)
    # typed DOCX forms carry no seal: the office policy sends them to review (FORM_NOT_SEALED); a registrar
    # verifies and an approver approves them, as the office would, before the timed issue stage
    for cid in ids:
        if ctx.store.get_case(cid).status == "review":
            if actions.verification_needed(ctx, cid):
                actions.verify(ctx, actions.Actor("bench-registrar", "registrar"), cid, "核对原件无误")
            actions.approve(ctx, actions.Actor("bench-approver", "approver"), cid, "同意")
    ready = [cid for cid in ids if ctx.store.get_case(cid).status in ("validated", "approved")]
    start = time.perf_counter()
    for cid in ready:
        run_issue(ctx, cid)
    seconds = time.perf_counter() - start
    issued = sum(ctx.store.get_case(cid).status == "issued" for cid in ready)
    return {"cases": issued, "seconds": round(seconds, 3), "cases_per_s": round(issued / seconds, 2)}


def our_sm2_speed(seconds: float = 2.0) -> dict[str, float]:
    key = sm2.generate_private_key()
    msg = b"x" * 64
    count, start = 0, time.perf_counter()
    sig = b""
    while time.perf_counter() - start < seconds:
        sig = sm2.sign(key, msg)
        count += 1
    sign_s = count / (time.perf_counter() - start)
    count, start = 0, time.perf_counter()
    while time.perf_counter() - start < seconds:
        assert sm2.verify(key.public_key, msg, sig)
        count += 1
    verify_s = count / (time.perf_counter() - start)
    return {"sign_per_s": round(sign_s, 1), "verify_per_s": round(verify_s, 1)}


def openssl_sm2_speed(seconds: int = 2) -> dict[str, float]:
    out = subprocess.run(
        ["openssl", "speed", "-seconds", str(seconds), "sm2"], capture_output=True, text=True, check=True
    ).stdout
    m = re.search(r"SM2 \(CurveSM2\)\s+\S+\s+\S+\s+([\d.]+)\s+([\d.]+)", out)
    if not m:
        raise SystemExit(f"cannot parse `openssl speed sm2` output:\n{out}")
    return {"sign_per_s": float(m.group(1)), "verify_per_s": float(m.group(2))}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--cases", type=int, default=20)
    args = ap.parse_args()
    work = Path(tempfile.mkdtemp(prefix="cert-intake-issuance-"))
    thr = issuance_throughput(args.cases, work)
    ours = our_sm2_speed()
    theirs = openssl_sm2_speed()
    summary = {
        "issuance": thr,
        "sm2_ours": ours,
        "sm2_openssl": theirs,
        "sign_ratio_ours_to_openssl": round(ours["sign_per_s"] / theirs["sign_per_s"], 4),
        "verify_ratio_ours_to_openssl": round(ours["verify_per_s"] / theirs["verify_per_s"], 4),
    }
    print(
        f"issuance: {thr['cases']} cases in {thr['seconds']} s = {thr['cases_per_s']} cases/s "
        "(sign.cer + env.cer + envelope + CSRResponse + 告知书 + zip + .eml)"
    )
    print(
        f"SM2 sign/s   ours {ours['sign_per_s']:>9}  openssl {theirs['sign_per_s']:>9}  "
        f"ratio {summary['sign_ratio_ours_to_openssl']}"
    )
    print(
        f"SM2 verify/s ours {ours['verify_per_s']:>9}  openssl {theirs['verify_per_s']:>9}  "
        f"ratio {summary['verify_ratio_ours_to_openssl']}"
    )
    print(json.dumps(summary, ensure_ascii=False))


if __name__ == "__main__":
    main()
