"""The defect corpus of bench/defects.py: every defective kind goes to review with its finding, clean cases issue."""

from __future__ import annotations

import sys
from pathlib import Path

from pipeline.stages import Context

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "bench"))
from defects import run_corpus


def test_defect_corpus_routes_every_defect_to_review(ctx: Context, tmp_path: Path) -> None:
    rows = run_corpus(tmp_path / "cases", ctx)
    defective = [r for r in rows if r["expected"] != "-"]
    clean = [r for r in rows if r["expected"] == "-"]
    assert len({r["expected"] for r in defective}) >= 15 and len(clean) >= 3
    for r in rows:
        assert r["ok"], r
    assert all(r["status"] == "issued" for r in clean)
    assert all(r["route"] == "review" and r["status"] == "review" for r in defective)
    # nothing was issued for a defective case
    issued_cases = {c.case_id for c in ctx.store.certificates()}
    reviewed = {c.id for c in ctx.store.list_cases("review")}
    assert not issued_cases & reviewed
