"""The scheduled run as one list of steps that fail on their own: with the mail server refusing
connections (a real refused TCP connection on loopback, no mock), the plain runner and the Prefect
``batch`` flow still take the inbox, process the pending cases, publish the CRL and rebuild the ledger,
report the mail step as failed, and `cert-intake batch` exits with the "partly failed" code."""

from __future__ import annotations

import json
import socket
import sqlite3
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import pytest
from conftest import child_env, with_registry
from test_ops import _clean_cases

from pipeline import batch
from pipeline.cli import EXIT_PARTLY_FAILED
from pipeline.config import load_settings
from pipeline.errors import CaseBusy, ConfigError, ImapError, ImapLoginRefused, InputError, is_retryable
from pipeline.stages import Context, ingest_path

CLI = [sys.executable, "-m", "pipeline.cli"]
STEP_ORDER = ["sweep", "mail", "inbox", "process", "revocations", "crl", "ledger"]


def refused_port() -> int:
    """A loopback port where nothing listens: bound to learn a free one, then closed (connect → refused)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = int(s.getsockname()[1])
    with socket.socket() as probe:  # prove it: the kernel refuses the connection
        assert probe.connect_ex(("127.0.0.1", port)) != 0
    return port


@dataclass(frozen=True)
class Office:
    home: Path
    ctx: Context
    pending_id: str  # stored earlier, never processed (a crash, a restart)
    dropped: str  # the folder a clerk dropped into the inbox


def _office(tmp_path: Path) -> Office:
    """A home whose IMAP server refuses connections, one pending case and one settled inbox submission."""
    home = tmp_path / "home"
    home.mkdir()
    (home / "config.yaml").write_text(
        f"imap:\n  host: 127.0.0.1\n  port: {refused_port()}\n  security: none\n  username: intake\n"
        "watch_settle: 0\nretries:\n  mail: [0.1, 0.1]\n",
        encoding="utf-8",
    )
    ctx = with_registry(Context(load_settings(home, use_prefect=False)))
    pending_folder, dropped = _clean_cases(ctx, tmp_path / "gen", 2, seed=14)
    [pending] = ingest_path(ctx, pending_folder)
    (home / "inbox").mkdir()
    dropped.rename(home / "inbox" / dropped.name)
    return Office(home, ctx, pending.case_id, dropped.name)


def _batch(office: Office, *extra: str) -> tuple[subprocess.CompletedProcess[str], dict]:
    r = subprocess.run(
        [*CLI, "--home", str(office.home), "batch", *extra],
        env=child_env(),
        capture_output=True,
        text=True,
        timeout=900,
        check=False,
    )
    assert r.stdout.strip(), r.stderr[-3000:]
    return r, json.loads(r.stdout.strip().splitlines()[-1])


def _assert_everything_but_mail_done(office: Office, summary: dict) -> None:
    steps = {s["name"]: s for s in summary["steps"]}
    assert [s["name"] for s in summary["steps"]] == STEP_ORDER
    assert summary["ok"] is False and summary["failed"] == ["mail"]
    mail = steps["mail"]
    assert mail["attempts"] == 3  # retried twice: a refused connection is retryable
    assert "ImapError" in mail["error"] and "refused" in mail["error"].lower() and "\n" not in mail["error"]
    assert all(steps[name]["ok"] and steps[name]["error"] is None for name in STEP_ORDER if name != "mail")
    # the inbox submission was taken, stored and processed; the pending case too
    store = office.ctx.store
    [dropped] = [c for c in store.list_cases() if Path(c.source_path).name == office.dropped]
    assert summary["ingested"] == [dropped.id]
    assert store.get_case(dropped.id).status == "issued"
    assert store.get_case(office.pending_id).status == "issued"
    assert summary["processed"] == 2 and summary["statuses"] == {"issued": 2}
    assert not any((office.home / "inbox").iterdir())
    # due revocations ran, the CRL and the ledger were written
    assert summary["revoked"]["revoked"] == [] and summary["revoked"]["crl_number"] >= 1
    crl, ledger = Path(summary["revoked"]["crl"]), Path(summary["ledger"])
    assert crl == office.ctx.settings.crl_path and crl.stat().st_size > 0
    assert ledger == office.ctx.settings.ledger_path and ledger.stat().st_size > 0


@pytest.mark.slow
def test_plain_batch_with_imap_refused_does_every_other_step_and_exits_partly_failed(tmp_path: Path) -> None:
    office = _office(tmp_path)
    r, summary = _batch(office, "--no-prefect")
    assert r.returncode == EXIT_PARTLY_FAILED == 8, r.stderr[-3000:]
    assert "Traceback" not in r.stderr
    failures = [line for line in r.stderr.splitlines() if line.startswith("cert-intake batch:")]
    assert len(failures) == 1 and "「收取邮件」(mail) 失败，共尝试 3 次: ImapError: cannot connect" in failures[0]
    _assert_everything_but_mail_done(office, summary)
    # a run with every step ok says so with exit 0 (nothing pending, no mail server configured any more)
    (office.home / "config.yaml").write_text("watch_settle: 0\n", encoding="utf-8")
    again, summary = _batch(office, "--no-prefect")
    assert again.returncode == 0 and summary["ok"] is True and summary["failed"] == [], again.stderr[-3000:]
    assert summary["processed"] == 0 and "cert-intake batch:" not in again.stderr


@pytest.mark.slow
def test_prefect_batch_with_imap_refused_completes_and_reports_the_mail_step(tmp_path: Path) -> None:
    office = _office(tmp_path)
    r, summary = _batch(office)  # the Prefect `batch` flow on an ephemeral server under <home>/prefect
    assert r.returncode == EXIT_PARTLY_FAILED, r.stderr[-3000:]
    assert "「收取邮件」(mail) 失败，共尝试 3 次" in r.stderr
    _assert_everything_but_mail_done(office, summary)
    db = sqlite3.connect(office.home / "prefect" / "prefect.db")
    # the flow returned: Completed, with a message naming the failed step
    [(state, message)] = db.execute(
        "SELECT fr.state_type, s.message FROM flow_run fr JOIN flow_run_state s ON s.id = fr.state_id "
        "WHERE fr.flow_id IN (SELECT id FROM flow WHERE name = 'batch')"
    ).fetchall()
    assert state == "COMPLETED" and message == "1 of 7 step(s) failed: mail"
    # the mail task ran three times (two retries) and failed; every other step's task completed
    tasks = db.execute("SELECT name, state_type, run_count FROM task_run").fetchall()
    mail = [t for t in tasks if t[0].startswith("mail-")]
    assert [(t[1], t[2]) for t in mail] == [("FAILED", 3)], tasks
    others = [t for t in tasks if t[0].split("-")[0] in {"sweep", "inbox", "revocations", "crl", "ledger"}]
    assert len(others) == 5 and {t[1] for t in others} == {"COMPLETED"}, tasks
    # the artifact lists the steps, the failed one with its error
    [markdown] = [row[0] for row in db.execute("SELECT data FROM artifact WHERE key = 'batch'")]
    assert "1 step(s) failed: mail" in markdown
    assert "| mail | FAILED |" in markdown and "ImapError: cannot connect to 127.0.0.1" in markdown
    assert "| ledger | ok |" in markdown and "2 case(s)" in markdown


# --------------------------------------------------------------------------- the parts, quickly


def test_retryable_is_decided_by_the_exception() -> None:
    from sqlalchemy.exc import OperationalError

    assert is_retryable(ImapError("down")) and is_retryable(CaseBusy("held"))
    assert is_retryable(ConnectionRefusedError(111, "refused")) and is_retryable(TimeoutError())
    assert is_retryable(OperationalError("SELECT 1", {}, Exception("database is locked")))
    assert not is_retryable(ImapLoginRefused("bad password")) and not is_retryable(ConfigError("typo"))
    assert not is_retryable(InputError("garbage")) and not is_retryable(ValueError("bug"))
    assert not is_retryable(FileNotFoundError(2, "gone")) and not is_retryable(PermissionError(13, "no"))


def _step(name: str, exc: Exception, delays: tuple[float, ...]) -> tuple[batch.Step, list[float]]:
    calls: list[float] = []

    def fail(_ctx: Context) -> None:
        calls.append(time.monotonic())
        raise exc

    return batch.Step(name, "测试", fail, delays), calls


def test_run_step_retries_only_retryable_failures_after_its_delays(ctx: Context) -> None:
    waited: list[float] = []
    step, calls = _step("mail", ConnectionResetError(104, "reset by peer"), (0.5, 2.0))
    result = batch.run_step(ctx, step, sleep=waited.append)
    assert not result.ok and result.attempts == 3 and len(calls) == 3 and waited == [0.5, 2.0]
    assert result.error == "ConnectionResetError: [Errno 104] reset by peer"
    waited.clear()
    step, calls = _step("mail", ConfigError("no IMAP password\nsecond line"), (0.5, 2.0))
    result = batch.run_step(ctx, step, sleep=waited.append)
    assert not result.ok and result.attempts == 1 and waited == [] and result.error == "ConfigError: no IMAP password"
    ok = batch.run_step(ctx, batch.Step("sweep", "清理临时文件", batch.sweep), sleep=waited.append)
    assert ok.ok and ok.value == 0 and ok.error is None


def test_retries_are_configured_per_step_and_unknown_steps_refused(tmp_path: Path) -> None:
    home = tmp_path / "home"
    home.mkdir()
    (home / "config.yaml").write_text("retries:\n  mail: [1, 2, 3]\n  ledger: []\n", encoding="utf-8")
    plan = {s.name: s for s in batch.plan(load_settings(home))}
    assert list(plan) == STEP_ORDER
    assert plan["mail"].retry_delays == (1.0, 2.0, 3.0) and plan["mail"].retries == 3
    assert plan["ledger"].retries == 0 and plan["inbox"].retry_delays == batch.LOCAL
    media = batch.plan(load_settings(home), media=["/mnt/cdrom"], only=("mail", "inbox", "media"))
    assert [s.name for s in media] == ["mail", "inbox", "media"]
    (home / "config.yaml").write_text("retries:\n  mial: [1]\n", encoding="utf-8")
    with pytest.raises(ConfigError, match=r"unknown step.*mial"):
        batch.plan(load_settings(home))
    (home / "config.yaml").write_text("retries:\n  mail: 5\n", encoding="utf-8")
    with pytest.raises(ConfigError, match=r"retries\.mail"):
        load_settings(home)


def test_a_case_that_raises_does_not_stop_the_process_step(ctx: Context, monkeypatch: pytest.MonkeyPatch) -> None:
    done: list[str] = []

    def one(case_id: str) -> dict:
        if case_id == "C-2":
            raise CaseBusy("C-2 is held")
        done.append(case_id)
        return {"case_id": case_id, "status": "issued"}

    monkeypatch.setattr(batch, "pending_cases", lambda _ctx: ["C-1", "C-2", "C-3"])
    waited: list[float] = []
    step = batch.Step("process", "处理待办案件", lambda c: batch.process_pending(c, one), (0.0,))
    result = batch.run_step(ctx, step, sleep=waited.append)
    # CaseBusy is retryable: the step ran twice, the other cases were done each time, C-2 is reported
    assert not result.ok and result.attempts == 2 and waited == [0.0]
    assert done == ["C-1", "C-3", "C-1", "C-3"] and [r["case_id"] for r in result.value] == ["C-1", "C-3"]
    assert result.error == "StepIncomplete: 1 of 3 case(s) raised; first: CaseBusy: C-2 is held"
