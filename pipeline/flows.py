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

from pathlib import Path
from typing import Any

from prefect import flow, task

from pipeline.config import Settings, load_settings
from pipeline.ingest.imap import ImapError, fetch
from pipeline.ingest.watch import InboxWatcher
from pipeline.issue.ledger import write_ledger
from pipeline.issue.revoke import execute_due, publish_crl
from pipeline.stages import Context, case_contract, imap_config, ingest_path, process_outcomes
from pipeline.stages import process_case as process_case_plain

_CONTEXTS: dict[str, Context] = {}


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


@flow(name="process_batch", log_prints=False)
def process_batch(home: str, paths: list[str]) -> list[dict[str, Any]]:
    """Ingest the paths, then process every new case; one failing case never fails the batch."""
    ctx = _context(home)
    outcomes = [o for p in paths for o in ingest_path(ctx, Path(p))]
    results = []
    for o in outcomes:
        if o.duplicate_of:
            results.append(case_contract(ctx, o.case_id))
            continue
        try:
            results.append(process_case_task(home, o.case_id))
        except Exception:  # defensive: process_case_plain already records failures in the store
            results.append(case_contract(ctx, o.case_id))
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


@flow(name="batch", log_prints=False)
def batch(home: str) -> dict[str, Any]:
    """The scheduled run; one failing case never fails it."""
    ctx = _context(home)
    fetch_mail_task(home)
    intake_inbox_task(home)
    pending = [c.id for status in PENDING for c in ctx.store.list_cases(status)]
    results = [process_case_task(home, cid) for cid in pending]
    revoked = revocations_task(home)
    ledger = write_ledger(ctx.store, ctx.settings.ledger_path)
    statuses: dict[str, int] = {}
    for r in results:
        statuses[r["status"]] = statuses.get(r["status"], 0) + 1
    return {"processed": len(results), "statuses": statuses, "revoked": revoked, "ledger": str(ledger)}


def run_batch(settings: Settings, paths: list[Path]) -> tuple[Context, list[dict[str, Any]]]:
    """Entry point for the CLI: through Prefect (default) or a plain loop (``use_prefect=False``).
    The 受理登记表 is rebuilt from the store after the batch."""
    ctx = _context(str(settings.home))
    if not settings.use_prefect:
        results = [r for p in paths for r in process_outcomes(ctx, ingest_path(ctx, p))]
    else:
        results = process_batch(str(settings.home), [str(p) for p in paths])
    write_ledger(ctx.store, settings.ledger_path)
    return ctx, results
