"""Prefect flows over the plain stage functions (the only module that imports Prefect).

``process_batch`` ingests paths and runs ``process_case`` for each case as a task; a case that fails
is recorded as failed in the store and reported — it never fails the batch.  With no Prefect server
configured, Prefect runs an ephemeral one; call :func:`pipeline.config.prepare_prefect_env` before
importing this module so each home gets its own Prefect database.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from prefect import flow, task

from pipeline.config import Settings, load_settings
from pipeline.issue.ledger import write_ledger
from pipeline.stages import Context, case_contract, ingest_path, process_outcomes
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
