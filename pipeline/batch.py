"""The scheduled run, written once: an ordered list of steps, each a plain function of the Context.

``STEPS`` is the run — sweep temporary files, fetch mail, take the settled inbox, (read media,) process
every pending case, execute due revocations, publish the CRL, rebuild the ledger.  :func:`run_plain`
walks it in this process (``cert-intake batch --no-prefect``, the benchmarks, the crash test);
``flows.batch`` walks the same list as Prefect tasks and ``flows.dispatch`` too, with its own "process"
step that starts one flow run per pending case.

Each step succeeds or fails on its own: a failure becomes a :class:`StepResult` with a one-line error
and the run goes on with the next step, so a dead mail server delays the mail only.  A step is retried
when its exception says time can fix it (:func:`pipeline.errors.is_retryable`), after the delays of its
``retry_delays`` (``retries:`` in config.yaml overrides them per step).  Every step is idempotent: a run
killed at any point and started again picks up where the store says.
"""

from __future__ import annotations

import logging
import sys
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, replace
from functools import partial
from pathlib import Path
from typing import Any

from pipeline.config import Settings
from pipeline.errors import ConfigError, StepIncomplete, is_retryable
from pipeline.fsutil import sweep_temp
from pipeline.ingest.imap import fetch
from pipeline.ingest.watch import InboxWatcher
from pipeline.issue.ledger import write_ledger
from pipeline.issue.revoke import execute_due, publish_crl
from pipeline.models import CaseStatus
from pipeline.stages import Context, imap_config, ingest_path, process_case

log = logging.getLogger("cert_intake")
# new, interrupted between stages or mid-issue, approved by a reviewer; `failed` waits for a person
PENDING = (CaseStatus.RECEIVED, CaseStatus.EXTRACTED, CaseStatus.VALIDATED, CaseStatus.APPROVED, CaseStatus.ISSUING)
Progress = Callable[[int, int, dict[str, Any]], None]
StepFn = Callable[[Context], Any]
ProcessOne = Callable[[str], Any]


# --------------------------------------------------------------------------- the steps' work


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


def intake_media(media: Sequence[str], ctx: Context) -> list[str]:
    """A mounted CD/USB folder or an .iso: each becomes cases."""
    return [o.case_id for m in media for o in ingest_path(ctx, Path(m), medium=True)]


def pending_cases(ctx: Context) -> list[str]:
    return [c.id for status in PENDING for c in ctx.store.list_cases(status)]


def process_pending(ctx: Context, process_one: ProcessOne, progress: Progress | None = None) -> list[Any]:
    """``process_one`` on every pending case.  A case that raises (``stages.process_case`` records its own
    failures, so this is the store itself failing) does not stop the others; the step then fails with
    :class:`StepIncomplete` carrying what was done."""
    pending = pending_cases(ctx)
    done: list[Any] = []
    errors: list[BaseException] = []
    for case_id in pending:
        try:
            done.append(process_one(case_id))
        except Exception as exc:  # one case never stops the step; reported below
            log.warning("case %s raised: %s", case_id, one_line(exc))
            errors.append(exc)
            continue
        if progress is not None and isinstance(done[-1], dict):
            progress(len(done), len(pending), done[-1])
    if errors:
        first = one_line(errors[0])
        raise StepIncomplete(
            f"{len(errors)} of {len(pending)} case(s) raised; first: {first}",
            partial=done,
            retryable=all(is_retryable(e) for e in errors),
        )
    return done


def process_here(ctx: Context, progress: Progress | None = None) -> list[dict[str, Any]]:
    """The "process" step in this process: every pending case through ``stages.process_case``."""
    return process_pending(ctx, partial(process_case, ctx), progress)


def execute_revocations(ctx: Context) -> list[str]:
    """Revoke what is due (更新: the old pair one month after the new one); the serials revoked."""
    return execute_due(ctx.store)


def crl(ctx: Context) -> dict[str, Any]:
    path, number = publish_crl(ctx.store, ctx.local_ca, ctx.settings.crl_path)
    return {"crl": str(path), "crl_number": number}


def day_ledger(ctx: Context) -> str:
    path = str(write_ledger(ctx.store, ctx.settings.ledger_path, ctx.profiles))  # the actions' wording
    print(ctx.store.audit_head_line(), file=sys.stderr, flush=True)  # to be recorded outside the database
    return path


# --------------------------------------------------------------------------- the list


@dataclass(frozen=True)
class Step:
    """One step of the scheduled run.  ``retry_delays``: seconds to wait before each retry (one retry per
    delay), taken only when the exception is retryable."""

    name: str
    label_zh: str  # what the office reads in a failure line
    fn: StepFn
    retry_delays: tuple[float, ...] = ()

    @property
    def retries(self) -> int:
        return len(self.retry_delays)

    def configured(self, settings: Settings) -> Step:
        """The delays of ``retries: {<name>: [...]}`` in config.yaml, when given."""
        delays = settings.retries.get(self.name)
        return self if delays is None else replace(self, retry_delays=tuple(delays))


@dataclass(frozen=True)
class StepResult:
    name: str
    ok: bool
    error: str | None  # one line: the exception's type and message
    seconds: float
    value: Any = None
    attempts: int = 1
    label_zh: str = ""

    def to_json(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "label": self.label_zh,
            "ok": self.ok,
            "error": self.error,
            "seconds": round(self.seconds, 3),
            "attempts": self.attempts,
        }


NETWORK = (5.0, 30.0)  # a mail server that stays down costs a run ~35 s; the next run tries again
LOCAL = (2.0, 10.0)  # a database or file-system hiccup
STEPS: tuple[Step, ...] = (
    Step("sweep", "清理临时文件", sweep),
    Step("mail", "收取邮件", intake_mail, NETWORK),
    Step("inbox", "接收收件箱", intake_inbox, LOCAL),
    Step("process", "处理待办案件", process_here, LOCAL[:1]),
    Step("revocations", "执行到期注销", execute_revocations, LOCAL),
    Step("crl", "发布证书撤销列表", crl, LOCAL),
    Step("ledger", "重建受理登记表", day_ledger, LOCAL),
)
MEDIA = Step("media", "读取介质", partial(intake_media, ()))  # placed after "inbox" when media are given
STEP_NAMES = (*(s.name for s in STEPS), MEDIA.name)


def plan(
    settings: Settings,
    process: StepFn | None = None,
    media: Sequence[str] = (),
    only: Iterable[str] | None = None,
) -> tuple[Step, ...]:
    """The steps of one run, in order, with their configured retries.  ``process`` replaces the "process"
    step's work (Prefect tasks, dispatched flow runs); ``only`` keeps the named steps (the ``intake`` and
    ``revocations`` flows are parts of the run)."""
    unknown = sorted(set(settings.retries) - set(STEP_NAMES))
    if unknown:
        raise ConfigError(f"retries: unknown step(s) {', '.join(unknown)}; the steps are {', '.join(STEP_NAMES)}")
    keep = set(only) if only is not None else None
    out: list[Step] = []
    for step in STEPS:
        if step.name == "process" and process is not None:
            step = replace(step, fn=process)
        out.append(step)
        if step.name == "inbox" and media:
            out.append(replace(MEDIA, fn=partial(intake_media, tuple(media))))
    return tuple(s.configured(settings) for s in out if keep is None or s.name in keep)


# --------------------------------------------------------------------------- running


def one_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    message = f"{type(exc).__name__}: {text[0]}" if text else type(exc).__name__
    return message if len(message) <= 300 else message[:299] + "…"


def failed(step: Step, exc: BaseException, seconds: float, attempts: int) -> StepResult:
    value = exc.partial if isinstance(exc, StepIncomplete) else None
    return StepResult(step.name, False, one_line(exc), seconds, value, attempts, step.label_zh)


def run_step(ctx: Context, step: Step, sleep: Callable[[float], None] = time.sleep) -> StepResult:
    """Run one step, retrying a retryable failure after each of its delays; never raises an Exception."""
    start = time.perf_counter()
    attempt = 1
    while True:
        try:
            value = step.fn(ctx)
        except Exception as exc:  # a failed step is a result, the run goes on
            if attempt > step.retries or not is_retryable(exc):
                return failed(step, exc, time.perf_counter() - start, attempt)
            delay = step.retry_delays[attempt - 1]
            log.info("step %s: %s; retry %d of %d in %.1f s", step.name, one_line(exc), attempt, step.retries, delay)
            sleep(delay)
            attempt += 1
            continue
        return StepResult(step.name, True, None, time.perf_counter() - start, value, attempt, step.label_zh)


def summarize(results: Sequence[StepResult]) -> dict[str, Any]:
    """The run's summary: per step ok/error, and what the steps did (cases, revocations, CRL, ledger)."""
    by = {r.name: r for r in results}

    def value(name: str) -> Any:
        r = by.get(name)
        return r.value if r is not None else None

    out: dict[str, Any] = {
        "ok": all(r.ok for r in results),
        "failed": [r.name for r in results if not r.ok],
        "steps": [r.to_json() for r in results],
        "ingested": [cid for name in ("mail", "inbox", "media") for cid in (value(name) or [])],
    }
    processed = [r for r in value("process") or [] if isinstance(r, dict)]
    if "process" in by:
        statuses: dict[str, int] = {}
        for r in processed:
            statuses[r["status"]] = statuses.get(r["status"], 0) + 1
        out.update(processed=len(processed), statuses=statuses)
    if "revocations" in by or "crl" in by:
        published = value("crl") or {}
        out["revoked"] = {
            "revoked": value("revocations") or [],
            "crl": published.get("crl"),
            "crl_number": published.get("crl_number"),
        }
    if "ledger" in by:
        out["ledger"] = value("ledger")
    return out


def failure_lines(summary: dict[str, Any]) -> list[str]:
    """One line per failed step of a run's summary, for the office (Chinese)."""
    lines = []
    for step in summary.get("steps", []):
        if not step["ok"]:
            tries = f"，共尝试 {step['attempts']} 次" if step["attempts"] > 1 else ""
            lines.append(f"步骤「{step['label'] or step['name']}」({step['name']}) 失败{tries}: {step['error']}")
    return lines


def processed_cases(results: Sequence[StepResult]) -> list[dict[str, Any]]:
    """The case results of the run's "process" step (for the artifact)."""
    return [r for s in results if s.name == "process" for r in (s.value or []) if isinstance(r, dict)]


def run_plain(ctx: Context, progress: Progress | None = None, media: Sequence[str] = ()) -> dict[str, Any]:
    """The whole scheduled run in this process, without Prefect; failed steps are in the summary."""
    steps = plan(ctx.settings, process=partial(process_here, progress=progress), media=media)
    return summarize([run_step(ctx, s) for s in steps])
