"""Prefect flows over the plain stage functions (the only module that imports Prefect).

``process_batch`` ingests paths and runs ``process_case`` for each case as a task; a case that fails
is recorded as failed in the store and reported — it never fails the batch.  ``batch`` is the scheduled
run — the steps of ``pipeline.batch.STEPS``: sweep, fetch mail, take the settled inbox, process everything
pending (new, approved, interrupted), execute due revocations, publish the CRL, rebuild the ledger — each
step a task with its own retries (on retryable exceptions only) that fails on its own; ``dispatch`` is
the same run fanned out to workers; ``revocations`` and ``intake`` are parts of it.
With no Prefect server configured, Prefect runs an ephemeral one; call
:func:`pipeline.config.prepare_prefect_env` before importing this module so each home gets its own
Prefect database.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from prefect import flow, get_run_logger, task
from prefect.artifacts import create_markdown_artifact
from prefect.cache_policies import NO_CACHE
from prefect.states import Completed

from pipeline import batch as steps
from pipeline.config import Settings, load_settings
from pipeline.errors import is_retryable
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


def _cell(text: str, width: int = 80) -> str:
    return text.replace("|", "/").replace("\n", " ")[:width] or "-"


def steps_markdown(results: Sequence[steps.StepResult]) -> list[str]:
    """The scheduled run's steps: ok or failed with the error, seconds, attempts."""
    bad = [r for r in results if not r.ok]
    head = "every step ok" if not bad else f"**{len(bad)} step(s) failed: {', '.join(r.name for r in bad)}**"
    lines = [head, "", "| step | result | seconds | attempts | error |", "|---|---|---|---|---|"]
    for r in results:
        state = "ok" if r.ok else "FAILED"
        lines.append(f"| {r.name} | {state} | {r.seconds:.2f} | {r.attempts} | {_cell(r.error or '', 200)} |")
    return [*lines, ""]


def summary_markdown(
    title: str, results: list[dict[str, Any]], seconds: float, run_steps: Sequence[steps.StepResult] = ()
) -> str:
    """The batch's Prefect artifact: the run's steps (when it has some), counts by status and route,
    failures, timings, one row per case."""
    statuses: dict[str, int] = {}
    for r in results:
        statuses[r["status"]] = statuses.get(r["status"], 0) + 1
    lines = [
        f"# {title}",
        "",
        *(steps_markdown(run_steps) if run_steps else []),
        f"{len(results)} case(s) in {seconds:.1f} s · " + " · ".join(f"{k}: {v}" for k, v in sorted(statuses.items())),
        "",
        "| case | office | route | status | findings | extract s | OCR pages | issue s | failure |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for r in results:
        t = r.get("timings", {})
        codes = ", ".join(sorted({f["code"] for f in r["findings"] if f["severity"] != "info"})) or "-"
        failure = _cell(r.get("failure") or "")
        lines.append(
            f"| {r['case_id']} | {r['office']} | {r['route'] or '-'} | {r['status']} | {codes} | "
            f"{t.get('extract_s', 0):.2f} | {t.get('ocr_pages', 0):.0f} | {t.get('issue_s', 0):.2f} | {failure} |"
        )
    return "\n".join(lines)


def _publish(
    key: str, title: str, results: list[dict[str, Any]], seconds: float, run_steps: Sequence[steps.StepResult] = ()
) -> None:
    bad = [r.name for r in run_steps if not r.ok]
    description = f"{len(results)} case(s)" + (f"; failed step(s): {', '.join(bad)}" if bad else "")
    create_markdown_artifact(
        key=key, markdown=summary_markdown(title, results, seconds, run_steps), description=description
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


def _retry_condition(task: Any, run: Any, state: Any) -> bool:
    """Retry what the exception says time can fix (``errors.is_retryable``) — never bad input."""
    try:
        state.result()
    except Exception as exc:  # the failed state's exception, judged below
        return is_retryable(exc)
    return False


_ATTEMPTS: dict[str, int] = {}  # task runs of each step in this process (its retries included)


@task(name="step", cache_policy=NO_CACHE, persist_result=False)
def step_task(home: str, step: steps.Step) -> Any:
    """One step of the scheduled run as a task (named after the step, retried per the step)."""
    _ATTEMPTS[step.name] = _ATTEMPTS.get(step.name, 0) + 1
    return step.fn(_context(home))


def _run_step(home: str, step: steps.Step) -> steps.StepResult:
    """The step as a Prefect task; its failure is a result, the run goes on."""
    start = time.perf_counter()
    _ATTEMPTS[step.name] = 0
    configured = step_task.with_options(
        name=step.name,
        retries=step.retries,
        retry_delay_seconds=list(step.retry_delays) or 0,
        retry_condition_fn=_retry_condition,
    )
    state = configured(home, step, return_state=True)
    seconds, attempts = time.perf_counter() - start, max(1, _ATTEMPTS[step.name])
    if state.is_completed():
        return steps.StepResult(step.name, True, None, seconds, state.result(), attempts, step.label_zh)
    exc = state.result(raise_on_failure=False)
    if not isinstance(exc, BaseException):  # crashed or cancelled: the state's message says why
        exc = RuntimeError(state.message or str(state.type))
    return steps.failed(step, exc, seconds, attempts)


def _run_steps(home: str, plan: tuple[steps.Step, ...]) -> list[steps.StepResult]:
    results = [_run_step(home, s) for s in plan]
    logger = get_run_logger()
    for r in results:
        if not r.ok:
            logger.warning("step %s failed after %d attempt(s): %s", r.name, r.attempts, r.error)
    return results


def _finish(value: Any, results: list[steps.StepResult]) -> Any:
    """The flow's return: its value, in a Completed state that names the failed steps when some failed
    (the run did everything else; Prefect hands the caller the value either way)."""
    bad = [r.name for r in results if not r.ok]
    if not bad:
        return value
    return Completed(message=f"{len(bad)} of {len(results)} step(s) failed: {', '.join(bad)}", data=value)


def _process_tasks(home: str) -> Callable[[Context], Any]:
    """The "process" step of ``batch``: one ``process-case`` task per pending case."""

    def process(ctx: Context) -> list[dict[str, Any]]:
        return steps.process_pending(ctx, lambda cid: process_case_task(home, cid), _progress)

    return process


def _dispatch_runs(home: str, deployment: str) -> Callable[[Context], Any]:
    """The "process" step of ``dispatch``: one ``process_case`` flow run per pending case on the work pool."""
    from prefect.deployments import run_deployment

    def start(case_id: str) -> str:
        parameters = {"home": home, "case_id": case_id}
        run: Any = run_deployment(deployment, parameters=parameters, timeout=0, as_subflow=False)
        return str(run.id)

    def dispatch_all(ctx: Context) -> list[str]:
        return steps.process_pending(ctx, start)

    return dispatch_all


@flow(name="revocations", log_prints=False)
def revocations(home: str) -> dict[str, Any]:
    """Daily: execute due scheduled revocations (更新) and publish a fresh CRL (two steps of the run)."""
    results = _run_steps(home, steps.plan(_context(home).settings, only=("revocations", "crl")))
    return _finish(steps.summarize(results), results)


@flow(name="intake", log_prints=False)
def intake(home: str, media: list[str] | None = None) -> list[str]:
    """Folder + mailbox + media → cases (ingest only; ``batch`` processes them)."""
    plan = steps.plan(_context(home).settings, media=media or (), only=("mail", "inbox", "media"))
    results = _run_steps(home, plan)
    return _finish(steps.summarize(results)["ingested"], results)


@flow(name="batch", log_prints=False)
def batch(home: str, media: list[str] | None = None) -> dict[str, Any]:
    """The scheduled run: every step of ``pipeline.batch.STEPS`` as a task, each failing on its own.
    Returns the summary (per step ok/error); the flow run ends Completed — with a message naming the
    failed steps when some failed — since everything else was done."""
    start = time.perf_counter()
    results = _run_steps(home, steps.plan(_context(home).settings, process=_process_tasks(home), media=media or ()))
    out = steps.summarize(results)
    _publish("batch", "cert-intake batch", steps.processed_cases(results), time.perf_counter() - start, results)
    return _finish(out, results)


@flow(name="dispatch", log_prints=False)
def dispatch(home: str, deployment: str = "process_case/process-case") -> dict[str, Any]:
    """The scheduled run on several hosts: the same steps as ``batch``, but "process" starts one
    ``process_case`` flow run per pending case on the work pool (any worker takes it).  A case dispatched
    twice (two runs overlapping, a worker slow to start) is still processed once: the store's case lock
    and its compare-and-set transitions decide, not the dispatcher."""
    start = time.perf_counter()
    results = _run_steps(home, steps.plan(_context(home).settings, process=_dispatch_runs(home, deployment)))
    out = steps.summarize(results)
    runs = [r for s in results if s.name == "process" for r in (s.value or [])]
    out.update(dispatched=len(runs), flow_runs=runs)
    _publish("dispatch", "cert-intake dispatch", [], time.perf_counter() - start, results)
    return _finish(out, results)


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
    write_ledger(ctx.store, settings.ledger_path, ctx.profiles)
    return ctx, results
