"""Prefect flows over the plain stage functions (the only module that imports Prefect).

``process_batch`` ingests paths and runs ``process_case`` for each case as a task; a case that fails
is recorded as failed in the store and reported — it never fails the batch.  ``batch`` is the scheduled
run: fetch mail, take the settled inbox, process everything pending (new, approved, interrupted),
execute due revocations, publish the CRL and rebuild the ledger; ``revocations`` is the daily part.
With no Prefect server configured, Prefect runs an ephemeral one; call
:func:`pipeline.config.prepare_prefect_env` before importing this module so each home gets its own
Prefect database.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from prefect import flow, task
from prefect.artifacts import create_markdown_artifact

from pipeline.config import Settings, load_settings
from pipeline.ingest.imap import ImapError, fetch
from pipeline.ingest.watch import InboxWatcher
from pipeline.issue.ledger import write_ledger
from pipeline.issue.revoke import execute_due, publish_crl
from pipeline.stages import Context, case_contract, imap_config, ingest_path, process_outcomes
from pipeline.stages import process_case as process_case_plain

_CONTEXTS: dict[str, Context] = {}
# called after each case of a batch in this process (the CLI's progress bar); not a flow parameter
_PROGRESS: list[Callable[[int, int, dict[str, Any]], None]] = []


def on_progress(callback: Callable[[int, int, dict[str, Any]], None] | None) -> None:
    _PROGRESS.clear()
    if callback is not None:
        _PROGRESS.append(callback)


def _progress(done: int, total: int, result: dict[str, Any]) -> None:
    for cb in _PROGRESS:
        cb(done, total, result)


def _context(home: str) -> Context:
    """One Context (store, profiles, OCR engine, CA) per process and home."""
    if home not in _CONTEXTS:
        _CONTEXTS[home] = Context(load_settings(home))
    return _CONTEXTS[home]


@task(name="process-case", retries=0)
def process_case_task(home: str, case_id: str) -> dict[str, Any]:
    return process_case_plain(_context(home), case_id)


@flow(name="process_case", log_prints=False)
def process_case(home: str, case_id: str) -> dict[str, Any]:
    """Extract → validate → route → issue for one stored case."""
    return process_case_task(home, case_id)


def summary_markdown(title: str, results: list[dict[str, Any]], seconds: float) -> str:
    """The batch's Prefect artifact: counts by status and route, failures, timings, one row per case."""
    statuses: dict[str, int] = {}
    for r in results:
        statuses[r["status"]] = statuses.get(r["status"], 0) + 1
    lines = [
        f"# {title}",
        "",
        f"{len(results)} case(s) in {seconds:.1f} s · " + " · ".join(f"{k}: {v}" for k, v in sorted(statuses.items())),
        "",
        "| case | office | route | status | findings | extract s | OCR pages | issue s | failure |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for r in results:
        t = r.get("timings", {})
        codes = ", ".join(sorted({f["code"] for f in r["findings"] if f["severity"] != "info"})) or "-"
        failure = (r.get("failure") or "").replace("|", "/").replace("\n", " ")[:80] or "-"
        lines.append(
            f"| {r['case_id']} | {r['office']} | {r['route'] or '-'} | {r['status']} | {codes} | "
            f"{t.get('extract_s', 0):.2f} | {t.get('ocr_pages', 0):.0f} | {t.get('issue_s', 0):.2f} | {failure} |"
        )
    return "\n".join(lines)


def _publish(key: str, title: str, results: list[dict[str, Any]], seconds: float) -> None:
    create_markdown_artifact(
        key=key, markdown=summary_markdown(title, results, seconds), description=f"{len(results)} case(s)"
    )


@flow(name="process_batch", log_prints=False)
def process_batch(home: str, paths: list[str]) -> list[dict[str, Any]]:
    """Ingest the paths, then process every new case; one failing case never fails the batch."""
    start = time.perf_counter()
    ctx = _context(home)
    outcomes = [o for p in paths for o in ingest_path(ctx, Path(p))]
    results: list[dict[str, Any]] = []
    for o in outcomes:
        if o.duplicate_of:
            results.append(case_contract(ctx, o.case_id))
        else:
            try:
                results.append(process_case_task(home, o.case_id))
            except Exception:  # defensive: process_case_plain already records failures in the store
                results.append(case_contract(ctx, o.case_id))
        _progress(len(results), len(outcomes), results[-1])
    _publish("process-batch", "cert-intake process_batch", results, time.perf_counter() - start)
    return results


PENDING = ("received", "approved", "issuing")


def _transient(task: Any, run: Any, state: Any) -> bool:
    """Retry only what a network or database hiccup explains — never bad input."""
    try:
        state.result()
    except (OSError, TimeoutError, ImapError):
        return True
    except Exception:
        return False
    return False


@task(name="fetch-mail", retries=3, retry_delay_seconds=[10, 60, 300], retry_condition_fn=_transient)
def fetch_mail_task(home: str) -> list[str]:
    ctx = _context(home)
    if not ctx.settings.imap.get("host"):
        return []
    return [o.case_id for o in fetch(ctx.store, imap_config(ctx), ctx.settings.default_office)]


@task(name="intake-inbox")
def intake_inbox_task(home: str) -> list[str]:
    ctx = _context(home)
    inbox = ctx.settings.inbox_dir or ctx.settings.home / "inbox"
    ids: list[str] = []
    watcher = InboxWatcher(
        inbox, lambda entry: ids.extend(o.case_id for o in ingest_path(ctx, entry)), settle=ctx.settings.watch_settle
    )
    watcher.take_settled()
    return ids


@task(name="revocations")
def revocations_task(home: str) -> dict[str, Any]:
    ctx = _context(home)
    done = execute_due(ctx.store)
    path, number = publish_crl(ctx.store, ctx.local_ca, ctx.settings.crl_path)
    return {"revoked": done, "crl": str(path), "crl_number": number}


@flow(name="revocations", log_prints=False)
def revocations(home: str) -> dict[str, Any]:
    """Daily: execute due scheduled revocations (更新) and publish a fresh CRL."""
    return revocations_task(home)


@task(name="intake-media")
def intake_media_task(home: str, media: list[str]) -> list[str]:
    ctx = _context(home)
    return [o.case_id for m in media for o in ingest_path(ctx, Path(m), medium=True)]


@flow(name="intake", log_prints=False)
def intake(home: str, media: list[str] | None = None) -> list[str]:
    """Folder + mailbox + media → cases (ingest only; ``batch`` processes them)."""
    ids = fetch_mail_task(home) + intake_inbox_task(home)
    if media:
        ids += intake_media_task(home, media)
    return ids


@flow(name="batch", log_prints=False)
def batch(home: str) -> dict[str, Any]:
    """The scheduled run; one failing case never fails it."""
    start = time.perf_counter()
    ctx = _context(home)
    intake(home)
    pending = [c.id for status in PENDING for c in ctx.store.list_cases(status)]
    results = []
    for cid in pending:
        results.append(process_case_task(home, cid))
        _progress(len(results), len(pending), results[-1])
    revoked = revocations_task(home)
    ledger = write_ledger(ctx.store, ctx.settings.ledger_path)
    statuses: dict[str, int] = {}
    for r in results:
        statuses[r["status"]] = statuses.get(r["status"], 0) + 1
    _publish("batch", "cert-intake batch", results, time.perf_counter() - start)
    return {"processed": len(results), "statuses": statuses, "revoked": revoked, "ledger": str(ledger)}


def run_batch(settings: Settings, paths: list[Path]) -> tuple[Context, list[dict[str, Any]]]:
    """Entry point for the CLI: through Prefect (default) or a plain loop (``use_prefect=False``).
    The 受理登记表 is rebuilt from the store after the batch."""
    ctx = _context(str(settings.home))
    if not settings.use_prefect:
        outcomes = [o for p in paths for o in ingest_path(ctx, p)]
        results = []
        for o in outcomes:
            results.extend(process_outcomes(ctx, [o]))
            _progress(len(results), len(outcomes), results[-1])
    else:
        results = process_batch(str(settings.home), [str(p) for p in paths])
    write_ledger(ctx.store, settings.ledger_path)
    return ctx, results
