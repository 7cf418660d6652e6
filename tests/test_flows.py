"""The scheduled `batch` flow through Prefect (ephemeral server in a subprocess): inbox, pending cases,
due revocations, CRL and ledger in one run; a broken submission does not fail it."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from conftest import SAMPLES, child_env, copy_case, with_registry

from pipeline.config import load_settings
from pipeline.stages import Context, ingest_path, process_case


@pytest.mark.slow
def test_batch_flow_takes_inbox_processes_pending_and_revokes_due(tmp_path: Path) -> None:
    home = tmp_path / "home"
    ctx = with_registry(Context(load_settings(home, use_prefect=False)))
    # an issued certificate whose revocation (更新: one month after the new one) is due
    [o] = ingest_path(ctx, copy_case("xiamen-new-docx", tmp_path / "earlier"))
    first = process_case(ctx, o.case_id)
    assert first["status"] == "issued"
    ctx.store.schedule_revocation(first["outputs"]["serial"], datetime.now(UTC) - timedelta(minutes=1), "C-test")
    # a received case that a crash left unprocessed
    pending = shutil.copytree(SAMPLES / "xiamen-new-bad-uscc", tmp_path / "pending")
    [p] = ingest_path(ctx, pending)
    # the clerk's inbox: one good submission dropped long enough ago, one broken
    inbox = home / "inbox"
    inbox.mkdir()
    shutil.copytree(SAMPLES / "xiamen-new-scan", inbox / "new-scan")
    (inbox / "broken.zip").write_bytes(b"PK\x03\x04 broken")
    old = datetime.now().timestamp() - 60
    for path in [*inbox.rglob("*"), *inbox.iterdir()]:
        os.utime(path, (old, old))
    env = child_env()
    r = subprocess.run(
        [sys.executable, "-m", "pipeline.cli", "--home", str(home), "batch"],
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    assert r.returncode == 0, r.stderr[-3000:]
    summary = json.loads(r.stdout.strip().splitlines()[-1])
    assert summary["ok"] is True and summary["failed"] == []  # every step of the run went well
    steps = ["sweep", "mail", "inbox", "process", "revocations", "crl", "ledger"]
    assert [s["name"] for s in summary["steps"]] == steps
    assert summary["processed"] == 3  # the pending case, the inbox case, the broken archive's case
    assert summary["statuses"] == {"review": 2, "issued": 1}
    assert sorted(summary["revoked"]["revoked"]) == sorted(c.serial for c in ctx.store.certificates(o.case_id))
    assert Path(summary["revoked"]["crl"]).exists() and Path(summary["ledger"]).exists()
    assert ctx.store.get_case(p.case_id).status == "review"
    assert not any(inbox.iterdir()) and len(list((home / "processed").iterdir())) == 2
