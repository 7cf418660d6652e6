"""The scheduled run's steps as plain functions (no Prefect): ``flows.batch`` wraps each one as a task;
``run_plain`` calls them in a loop (``cert-intake batch --no-prefect``, the benchmarks, the crash test).

Every step is idempotent: a run killed at any point and started again picks up where the store says.
"""

from __future__ import annotations

import logging
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

from pipeline.fsutil import sweep_temp
from pipeline.ingest.imap import fetch
from pipeline.ingest.watch import InboxWatcher
from pipeline.issue.ledger import write_ledger
from pipeline.issue.revoke import execute_due, publish_crl
from pipeline.stages import Context, imap_config, ingest_path, process_case

log = logging.getLogger("cert_intake")
# new, interrupted between stages or mid-issue, approved by a reviewer; `failed` waits for a person
PENDING = ("received", "extracted", "validated", "approved", "issuing")
Progress = Callable[[int, int, dict[str, Any]], None]


def sweep(ctx: Context) -> int:
    """Remove temporary files a killed writer left (outputs, outbox, ledger, CRL)."""
    s = ctx.settings
    dirs = (s.outputs_dir, s.outbox_dir, s.ledger_path.parent, s.crl_path.parent, s.blob_dir, s.ca_dir)
    removed = [p for d in dirs for p in sweep_temp(d)]
    for p in removed:
        log.info("removed leftover temporary file %s", p)
    return len(removed)


def intake_mail(ctx: Context) -> list[str]:
    if not ctx.settings.imap.get("host"):
        return []
    return [o.case_id for o in fetch(ctx.store, imap_config(ctx), ctx.settings.default_office)]


def intake_inbox(ctx: Context) -> list[str]:
    inbox = ctx.settings.inbox_dir or ctx.settings.home / "inbox"
    ids: list[str] = []

    def take(entry: Path) -> None:
        ids.extend(o.case_id for o in ingest_path(ctx, entry, from_inbox=True))

    watcher = InboxWatcher(inbox, take, settle=ctx.settings.watch_settle)
    watcher.take_settled()
    return ids


def pending_cases(ctx: Context) -> list[str]:
    return [c.id for status in PENDING for c in ctx.store.list_cases(status)]


def revocations(ctx: Context) -> dict[str, Any]:
    done = execute_due(ctx.store)
    path, number = publish_crl(ctx.store, ctx.local_ca, ctx.settings.crl_path)
    return {"revoked": done, "crl": str(path), "crl_number": number}


def day_ledger(ctx: Context) -> str:
    path = str(write_ledger(ctx.store, ctx.settings.ledger_path))
    print(ctx.store.audit_head_line(), file=sys.stderr, flush=True)  # to be recorded outside the database
    return path


def summary(results: list[dict[str, Any]], revoked: dict[str, Any], ledger: str) -> dict[str, Any]:
    statuses: dict[str, int] = {}
    for r in results:
        statuses[r["status"]] = statuses.get(r["status"], 0) + 1
    return {"processed": len(results), "statuses": statuses, "revoked": revoked, "ledger": ledger}


def run_plain(ctx: Context, progress: Progress | None = None) -> dict[str, Any]:
    """The whole scheduled run in this process, without Prefect."""
    sweep(ctx)
    intake_mail(ctx)
    intake_inbox(ctx)
    pending = pending_cases(ctx)
    results = []
    for case_id in pending:
        results.append(process_case(ctx, case_id))
        if progress is not None:
            progress(len(results), len(pending), results[-1])
    return summary(results, revocations(ctx), day_ledger(ctx))
