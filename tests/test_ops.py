"""Operations: OCR cache by file hash, the batch artifact, crash safety under SIGKILL, `serve`."""

from __future__ import annotations

import os
import random
import signal
import sqlite3
import subprocess
import sys
import time
import urllib.request
from collections.abc import Callable
from pathlib import Path

import pytest
from conftest import child_env, copy_case, free_port, with_registry
from defects import Case, register, write

from pipeline.config import load_settings
from pipeline.extract import extract_case
from pipeline.extract.ocr import OcrEngine, get_engine
from pipeline.stages import Context, ingest_path


class Counting:
    def __init__(self, engine: OcrEngine) -> None:
        self.engine, self.name, self.calls = engine, engine.name, 0

    def recognize(self, image):  # type: ignore[no-untyped-def]
        self.calls += 1
        return self.engine.recognize(image)


@pytest.mark.slow
def test_ocr_cache_by_file_hash_skips_ocr_on_a_rerun(ctx: Context, tmp_path: Path) -> None:
    [o] = ingest_path(ctx, copy_case("xiamen-new-scan", tmp_path))
    files = [(f.name, f.sha256, ctx.store.blobs.get(f.sha256)) for f in ctx.store.case_files(o.case_id)]
    counting = Counting(get_engine("rapidocr"))

    def run() -> tuple[dict, float]:
        _p, result, _docs = extract_case(
            files, ctx.profiles, "xiamen-eport", lambda: counting, ctx.attachment_specs, cache=ctx.store.ocr_cache
        )
        return {k: f.to_json() for k, f in result.fields.items()}, result.timings["ocr_s"]

    first, ocr_s = run()
    calls = counting.calls
    assert calls >= 5 and ocr_s > 0
    again, ocr_again = run()
    assert counting.calls == calls and ocr_again == 0.0  # no OCR the second time
    assert again == first  # same values, confidences and boxes (page preparation is deterministic)


def test_batch_summary_markdown_lists_every_case() -> None:
    from pipeline.flows import summary_markdown

    results = [
        {"case_id": "C1", "office": "x", "route": "issue", "status": "issued", "findings": [], "timings": {}},
        {
            "case_id": "C2",
            "office": "x",
            "route": "review",
            "status": "failed",
            "findings": [{"code": "ORG_CODE_CHECKSUM", "severity": "error"}],
            "failure": "RuntimeError: a|b",
            "timings": {"extract_s": 1.5, "ocr_pages": 5},
        },
    ]
    md = summary_markdown("batch", results, 3.2)
    assert "2 case(s) in 3.2 s · failed: 1 · issued: 1" in md
    assert "| C2 | x | review | failed | ORG_CODE_CHECKSUM | 1.50 | 5 | 0.00 | RuntimeError: a/b |" in md


# --------------------------------------------------------------------------- crash safety


def _clean_cases(ctx: Context, root: Path, n: int, seed: int, prefix: str = "clean") -> list[Path]:
    from common import generator

    gen = generator()
    rng = random.Random(seed)
    folders = []
    for i in range(n):
        t = gen.random_truth(rng)
        a = gen.attachment_truth(rng, t)
        register(ctx, a)
        folders.append(write(gen, root, Case(f"{prefix}-{i}", None, t, a)))
    return folders


def _arrive(folders: list[Path], inbox: Path, gen: Path) -> dict[Path, bytes]:
    """Submissions dropped into the inbox (settled: their files a minute old); their files' bytes by path."""
    originals = {p.relative_to(gen): p.read_bytes() for f in folders for p in f.rglob("*") if p.is_file()}
    for f in folders:
        f.rename(inbox / f.name)
    old = time.time() - 60
    for f in folders:
        for p in (inbox / f.name).rglob("*"):
            os.utime(p, (old, old))
    return originals


@pytest.mark.slow
def test_sigkill_at_random_points_then_restart_ends_every_case_once(tmp_path: Path) -> None:
    home = tmp_path / "home"
    ctx = with_registry(Context(load_settings(home, use_prefect=False)))
    ctx.local_ca
    inbox = home / "inbox"
    inbox.mkdir()
    folders = _clean_cases(ctx, tmp_path / "gen", 24, seed=5)
    originals = _arrive(folders, inbox, tmp_path / "gen")
    env = child_env(("CERT_INTAKE_",))
    env["CERT_INTAKE_WATCH_SETTLE"] = "0"
    cmd = [sys.executable, "-m", "pipeline.cli", "--home", str(home), "batch", "--no-prefect"]
    rng = random.Random(2026)
    kills, runs, progress = 0, 0, []
    while kills < 6 and runs < 16:  # kill at a random moment: while ingesting, extracting, signing, writing …
        runs += 1
        proc = subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        time.sleep(rng.uniform(1.0, 2.5))
        if proc.poll() is not None:
            # this run finished its work before its kill (a fast machine): more submissions arrive, as they
            # do while an office works, and the next run is killed among them
            more = _clean_cases(ctx, tmp_path / "gen", 6, seed=5 + runs, prefix=f"late{runs}")
            folders += more
            originals |= _arrive(more, inbox, tmp_path / "gen")
            continue
        proc.send_signal(signal.SIGKILL)
        kills += 1
        proc.communicate(timeout=60)
        progress.append(sorted(c.status for c in Context(load_settings(home, use_prefect=False)).store.list_cases()))
    final = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=600, check=False)
    assert final.returncode == 0, final.stderr[-3000:]
    assert kills >= 4, progress  # the batch really was interrupted, at different points
    n = len(folders)

    store = Context(load_settings(home, use_prefect=False)).store
    cases = store.list_cases()
    # every submission became exactly one case, and every case ended issued (all were clean)
    assert len(cases) == n, [(c.source_path, c.status) for c in cases]
    assert sorted(Path(c.source_path).name for c in cases) == sorted(f.name for f in folders)
    assert {c.status for c in cases} == {"issued"}, [(c.id, c.status, c.failure) for c in cases]
    certs = store.certificates()
    assert len(certs) == 2 * n and len({c.serial for c in certs}) == 2 * n
    assert all(c.state == "issued" for c in certs)
    assert sorted((c.case_id, c.kind) for c in certs) == sorted((c.id, k) for c in cases for k in ("env", "sign"))
    # no original lost: every file of every submission is in the blob store, byte for byte
    stored = {store.blobs.get(f.sha256) for c in cases for f in store.case_files(c.id)}
    assert all(data in stored for data in originals.values())
    # no half-written output anywhere in the home
    assert not [p for p in home.rglob("*.tmp") if "prefect" not in p.parts]
    for c in cases:
        for path in store.outputs(c.id).values():
            assert Path(path).stat().st_size > 0
    assert store.verify_audit()[1] == []


# --------------------------------------------------------------------------- serve


def wait_for(
    done: Callable[[], bool],
    progress: Callable[[], object],
    what: str,
    ceiling: float = 900.0,
    stall: float = 300.0,
    alive: Callable[[], None] = lambda: None,
) -> None:
    """Poll until ``done()``.  A busy machine is slow, not stuck: fail only when ``progress()`` (a snapshot
    of what there is to see) has not changed for ``stall`` seconds, or after a generous ``ceiling``.
    ``alive()`` raises when a process the wait depends on died."""
    start = changed = time.monotonic()
    last = progress()
    while not done():
        alive()
        now, current = time.monotonic(), progress()
        if current != last:
            last, changed = current, now
        if now - changed > stall:
            raise AssertionError(f"{what}: no progress for {stall:.0f} s; last seen: {last!r}")
        if now - start > ceiling:
            raise AssertionError(f"{what}: not done within {ceiling:.0f} s; last seen: {last!r}")
        time.sleep(1.0)


def _prefect_rows(db: Path, sql: str) -> list[tuple]:
    """Rows of serve's Prefect database, or none while it is being created or is busy."""
    try:
        conn = sqlite3.connect(db, timeout=5)
        try:
            return conn.execute(sql).fetchall()
        finally:
            conn.close()
    except sqlite3.Error:
        return []


@pytest.mark.slow
def test_serve_watches_schedules_serves_and_stops_on_sigterm(tmp_path: Path) -> None:
    home = tmp_path / "home"
    ctx = with_registry(Context(load_settings(home, use_prefect=False)))
    (home / "inbox").mkdir()
    web, prefect = free_port(), free_port()
    (home / "config.yaml").write_text(
        f'schedules:\n  batch: "5"\n  revocations: "3600"\nwatch_settle: 1\nprefect_port: {prefect}\n',
        encoding="utf-8",
    )
    env = child_env()
    proc = subprocess.Popen(
        [sys.executable, "-m", "pipeline.cli", "--home", str(home), "serve", "--port", str(web)],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    db = home / "prefect" / "prefect.db"
    server_log = home / "prefect" / "server.log"

    def alive() -> None:
        if proc.poll() is not None:  # say why: serve's own output and the Prefect server's log
            _out, err = proc.communicate(timeout=60)
            tail = server_log.read_text(errors="replace")[-2000:] if server_log.exists() else ""
            raise AssertionError(f"serve exited (rc {proc.returncode}):\n{err[-3000:]}\n{tail}")

    try:
        login: list[str] = []

        def page() -> bool:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{web}/login", timeout=5) as r:
                    login.append(r.read().decode())
            except OSError:
                return False
            return True

        # serve starts a Prefect server first (slow on a busy machine): its log growing is progress
        wait_for(page, lambda: server_log.stat().st_size if server_log.exists() else 0, "serve's web app", alive=alive)
        assert "审核工作台登录" in login[0]
        # a clerk drops a submission: the watcher takes it as soon as it settles
        copy_case("xiamen-new-docx", home / "inbox")

        # the scheduled batch runs on its own: it writes the ledger and the CRL, then publishes its artifact
        def seen() -> tuple:
            return (
                tuple(sorted(c.status for c in ctx.store.list_cases())),
                ctx.settings.ledger_path.exists(),
                ctx.settings.crl_path.exists(),
                _prefect_rows(db, "SELECT count(*) FROM flow_run WHERE state_type = 'COMPLETED'"),
                _prefect_rows(db, "SELECT key FROM artifact WHERE key = 'batch'"),
            )

        def batch_done() -> bool:
            statuses, ledger, crl, completed, artifacts = seen()
            return (
                statuses == ("issued",) and ledger and crl and bool(completed and completed[0][0]) and bool(artifacts)
            )

        wait_for(
            batch_done, seen, "the watched case issued and a scheduled batch's ledger, CRL and artifact", alive=alive
        )
        assert {c.status for c in ctx.store.list_cases()} == {"issued"}
        assert ctx.settings.ledger_path.exists() and ctx.settings.crl_path.exists()
        # the batch artifact lists the run's steps, all ok (no mail server configured: nothing to fetch)
        [(markdown,)] = _prefect_rows(db, "SELECT data FROM artifact WHERE key = 'batch' ORDER BY created DESC LIMIT 1")
        assert "every step ok" in markdown and "| ledger | ok |" in markdown
    finally:
        proc.send_signal(signal.SIGTERM)
        out, err = proc.communicate(timeout=300)
    assert proc.returncode == 0, err[-3000:]
    assert "stopped" in out
    # the Prefect server serve started is gone with it
    with pytest.raises(OSError):
        urllib.request.urlopen(f"http://127.0.0.1:{prefect}/api/health", timeout=2)


def test_a_case_held_by_another_worker_is_left_alone(ctx: Context, tmp_path: Path) -> None:
    from pipeline.errors import CaseBusy
    from pipeline.stages import process_case

    [o] = ingest_path(ctx, copy_case("xiamen-new-docx", tmp_path))
    holder = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "import sys, time; from pipeline.config import load_settings; from pipeline.stages import Context;"
            "ctx = Context(load_settings(sys.argv[1]));"
            "cm = ctx.store.case_lock(sys.argv[2]); cm.__enter__(); print('held', flush=True); time.sleep(60)",
            str(ctx.settings.home),
            o.case_id,
        ],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert holder.stdout is not None and holder.stdout.readline().strip() == "held"
        with pytest.raises(CaseBusy), ctx.store.case_lock(o.case_id):
            pass
        assert process_case(ctx, o.case_id)["status"] == "received"  # not touched, not failed
    finally:
        holder.send_signal(signal.SIGKILL)
        holder.wait()
    # the holder died: its lock went with it
    assert process_case(ctx, o.case_id)["status"] == "issued"


def test_a_stop_that_hangs_past_the_grace_still_ends_serve_and_its_prefect_server() -> None:
    """The watchdog SIGTERM starts: when the orderly stop hangs past the grace (here the main thread sleeps on),
    the Prefect server serve started is killed and the process ends with its 'stopped' line."""
    code = (
        "import subprocess, sys, threading, time\n"
        "from pipeline.serve import _stop_within\n"
        "server = subprocess.Popen([sys.executable, '-c', 'import time; time.sleep(600)'])\n"
        "print(server.pid, flush=True)\n"
        "threading.Thread(target=_stop_within, args=(0.5, server), daemon=True).start()\n"
        "time.sleep(600)\n"
    )
    proc = subprocess.run([sys.executable, "-c", code], env=child_env(), capture_output=True, text=True, timeout=300)
    pid_line, stopped = proc.stdout.splitlines()[:2]
    assert proc.returncode == 0 and stopped.startswith("cert-intake serve: stopped")
    with pytest.raises(ProcessLookupError):  # killed and reaped before serve exits
        os.kill(int(pid_line), 0)
