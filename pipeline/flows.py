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
from prefect.cache_policies import NO_CACHE
from sqlalchemy.exc import OperationalError

from pipeline import batch as steps
from pipeline.config import Settings, load_settings
from pipeline.ingest.imap import ImapError
from pipeline.issue.ledger import write_ledger
from pipeline.stages import Context, case_contract, ingest_path, process_outcomes
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


# NO_CACHE: the store is the memory of a case (a cached result would skip its side effects); not hashing
# every call's inputs for a cache key is also what keeps a task's overhead small
@task(name="process-case", retries=0, cache_policy=NO_CACHE, persist_result=False)
def process_case_task(home: str, case_id: str) -> dict[str, Any]:
    return process_case_plain(_context(home), case_id)


@task(name="process-cases", retries=0, cache_policy=NO_CACHE, persist_result=False)
def process_cases_task(home: str, case_ids: list[str]) -> list[dict[str, Any]]:
    """A few cases in one task: the orchestration cost (task run, states, events) is paid once per chunk."""
    ctx = _context(home)
    return [process_case_plain(ctx, cid) for cid in case_ids]


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
def process_batch(home: str, paths: list[str], cases_per_task: int = 5) -> list[dict[str, Any]]:
    """Ingest the paths, then process every new case, ``cases_per_task`` cases to a task (the artifact
    lists every case); one failing case never fails the batch."""
    start = time.perf_counter()
    ctx = _context(home)
    outcomes = [o for p in paths for o in ingest_path(ctx, Path(p))]
    by_id: dict[str, dict[str, Any]] = {o.case_id: case_contract(ctx, o.case_id) for o in outcomes if o.duplicate_of}
    todo = [o.case_id for o in outcomes if not o.duplicate_of]
    size = max(1, cases_per_task)
    for chunk in (todo[i : i + size] for i in range(0, len(todo), size)):
        try:
            by_id.update(zip(chunk, process_cases_task(home, chunk), strict=True))
        except Exception:  # defensive: process_case_plain already records failures in the store
            by_id.update((cid, case_contract(ctx, cid)) for cid in chunk)
        _progress(len(by_id), len(outcomes), by_id[chunk[-1]])
    results = [by_id[o.case_id] for o in outcomes]
    _publish("process-batch", "cert-intake process_batch", results, time.perf_counter() - start)
    return results


def _transient(task: Any, run: Any, state: Any) -> bool:
    """Retry only what a network or database hiccup explains — never bad input."""
    try:
        state.result()
    except (OSError, TimeoutError, ImapError, OperationalError):
        return True
    except Exception:
        return False
    return False


def _retrying(name: str) -> Any:
    """A task retried with backoff on transient errors only (IMAP/SMTP/network, database hiccups)."""
    return task(name=name, retries=3, retry_delay_seconds=[10, 60, 300], retry_condition_fn=_transient)


@_retrying("fetch-mail")
def fetch_mail_task(home: str) -> list[str]:
    return steps.intake_mail(_context(home))


@_retrying("intake-inbox")
def intake_inbox_task(home: str) -> list[str]:
    return steps.intake_inbox(_context(home))


@task(name="intake-media")
def intake_media_task(home: str, media: list[str]) -> list[str]:
    ctx = _context(home)
    return [o.case_id for m in media for o in ingest_path(ctx, Path(m), medium=True)]


@_retrying("revocations")
def revocations_task(home: str) -> dict[str, Any]:
    return steps.revocations(_context(home))


@_retrying("ledger")
def ledger_task(home: str) -> str:
    return steps.day_ledger(_context(home))


@flow(name="revocations", log_prints=False)
def revocations(home: str) -> dict[str, Any]:
    """Daily: execute due scheduled revocations (更新) and publish a fresh CRL."""
    return revocations_task(home)


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
    steps.sweep(ctx)
    intake(home)
    pending = steps.pending_cases(ctx)
    results = []
    for cid in pending:
        results.append(process_case_task(home, cid))
        _progress(len(results), len(pending), results[-1])
    out = steps.summary(results, revocations_task(home), ledger_task(home))
    _publish("batch", "cert-intake batch", results, time.perf_counter() - start)
    return out


@flow(name="dispatch", log_prints=False)
def dispatch(home: str, deployment: str = "process_case/process-case") -> dict[str, Any]:
    """The scheduled run on several hosts: intake, then one ``process_case`` flow run per pending case on the
    work pool (any worker takes it), then revocations and the ledger.  A case dispatched twice (two runs
    overlapping, a worker slow to start) is still processed once: the store's case lock and its
    compare-and-set transitions decide, not the dispatcher."""
    from prefect.deployments import run_deployment

    ctx = _context(home)
    steps.sweep(ctx)
    intake(home)
    pending = steps.pending_cases(ctx)
    runs: list[str] = []
    for cid in pending:
        run: Any = run_deployment(deployment, parameters={"home": home, "case_id": cid}, timeout=0, as_subflow=False)
        runs.append(str(run.id))
    return {"dispatched": len(runs), "flow_runs": runs, "revoked": revocations_task(home), "ledger": ledger_task(home)}


def in_process() -> Any:
    """Settings for a flow run in this very process (the CLI's batches): no flow-run heartbeats.  They
    exist so a server can tell a dead worker's run from a live one; here the caller is the process, and
    the heartbeat thread's shutdown costs about a second per flow run."""
    from prefect.settings import PREFECT_FLOWS_HEARTBEAT_FREQUENCY, temporary_settings

    return temporary_settings(updates={PREFECT_FLOWS_HEARTBEAT_FREQUENCY: None})


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
        with in_process():
            results = process_batch(str(settings.home), [str(p) for p in paths])
    write_ledger(ctx.store, settings.ledger_path)
    return ctx, results
