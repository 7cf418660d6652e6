"""``cert-intake serve``: everything one office needs, in one process on one machine.

* the review web app (uvicorn, a thread);
* the inbox watcher (a thread): each settled submission is ingested and processed at once;
* the schedules: Prefect's ``serve`` runs the ``batch`` flow (e.g. every 10 minutes) and ``revocations``
  (daily) as deployments with the cron strings of ``schedules:`` in config.yaml.  Prefect's scheduler
  lives in its server (an ephemeral one cannot schedule), so with no ``PREFECT_API_URL`` configured
  ``serve`` starts ``prefect server start`` on loopback (SQLite under ``<home>/prefect``, the Prefect UI
  on ``prefect_port``) and stops it on the way out.

SIGTERM (or Ctrl-C) stops all three cleanly: the scheduler stops taking runs, the watcher finishes the
submission it is on, the web app finishes its requests and the review worker its case — within STOP_GRACE
seconds, past which the process exits whatever still hangs.
"""

from __future__ import annotations

import logging
import os
import signal
import subprocess
import sys
import threading
import time
import urllib.request
from collections.abc import Callable
from pathlib import Path
from typing import Any

from pipeline.config import Settings, prepare_prefect_env
from pipeline.errors import CertIntakeError

log = logging.getLogger("cert_intake")


class _Stop(Exception):
    pass


def schedule_args(spec: str) -> dict[str, Any]:
    """``"*/10 * * * *"`` → cron; ``"600"`` → every 600 seconds."""
    spec = spec.strip()
    return {"interval": int(spec)} if spec.isdigit() else {"cron": spec}


def serve(
    settings: Settings,
    host: str = "127.0.0.1",
    port: int = 8080,
    review_only: bool = False,
    watch: bool = True,
    secure_cookie: bool | None = None,
) -> int:
    """``secure_cookie``: mark the session cookie Secure (the app is reached over HTTPS through a proxy);
    None takes ``web: {secure_cookie}`` from config.yaml."""
    import uvicorn

    from pipeline.ingest.watch import InboxWatcher
    from pipeline.review.web import WebConfig, create_app
    from pipeline.stages import Context, take_inbox_entry

    prefect_server = None
    if not review_only:
        prepare_prefect_env(settings)
        if "PREFECT_API_URL" not in os.environ:
            prefect_server = start_prefect_server(settings.home / "prefect", settings.prefect_port)
    ctx = Context(settings)
    web_cfg = WebConfig.from_settings(settings.web, secure_cookie)
    app = create_app(ctx, web_cfg)
    # the client address of throttling comes from X-Forwarded-For only when a trusted proxy sent it
    proxies = str(settings.web.get("forwarded_allow_ips") or "127.0.0.1")
    web = uvicorn.Server(
        uvicorn.Config(app, host=host, port=port, log_level="warning", proxy_headers=True, forwarded_allow_ips=proxies)
    )
    threads = [threading.Thread(target=web.run, name="review-web", daemon=True)]
    watcher = None
    if watch and not review_only:
        inbox = settings.inbox_dir or settings.home / "inbox"

        def handle(entry: Path) -> None:
            take_inbox_entry(ctx, entry)

        watcher = InboxWatcher(inbox, handle, settle=settings.watch_settle, polling=settings.watch_polling)
        threads.append(threading.Thread(target=watcher.run, name="inbox-watcher", daemon=True))
    for t in threads:
        t.start()
    log.info("review app on http://%s:%d; watcher %s", host, port, "on" if watcher else "off")
    print(f"cert-intake serve: review app http://{host}:{port}/", flush=True)
    if not web_cfg.secure_cookie and host not in ("127.0.0.1", "localhost", "::1"):
        print("cert-intake serve: warning: session cookie without Secure; use TLS and --secure-cookie", flush=True)

    stop = threading.Event()

    def on_term(_sig: int, _frame: Any) -> None:
        if not stop.is_set():
            stop.set()
            threading.Thread(target=_stop_within, args=(STOP_GRACE, prefect_server), daemon=True).start()
        raise _Stop  # unwinds the scheduler (or the wait below) in the main thread

    previous = signal.signal(signal.SIGTERM, on_term)
    try:
        if review_only:
            stop.wait()
        else:
            _run_schedules(settings, on_term)
    except (_Stop, KeyboardInterrupt):
        pass
    finally:
        signal.signal(signal.SIGTERM, previous)
        log.info("shutting down")
        if watcher is not None:
            watcher.stop()
        web.should_exit = True
        for t in threads:
            t.join(timeout=30)
        app.state.pool.shutdown(wait=True)
        app.state.login_pool.shutdown(wait=False, cancel_futures=True)
        if prefect_server is not None:
            prefect_server.terminate()
            try:
                prefect_server.wait(timeout=30)
            except subprocess.TimeoutExpired:
                prefect_server.kill()
        print("cert-intake serve: stopped", flush=True)
    return 0


# SIGTERM stops serve within this many seconds: the orderly stop below takes at most ~100 s (threads 30 s each,
# the Prefect server 30 s); past it, whatever hangs (a scheduler shutdown stuck in Prefect's runner) is cut
STOP_GRACE = 150.0


def _stop_within(grace: float, prefect_server: subprocess.Popen[bytes] | None) -> None:
    time.sleep(grace)
    log.warning("shutdown took over %.0f s; exiting", grace)
    if prefect_server is not None and prefect_server.poll() is None:
        prefect_server.kill()
        try:
            prefect_server.wait(timeout=10)
        except subprocess.TimeoutExpired:
            pass
    print(f"cert-intake serve: stopped (the orderly stop took over {grace:.0f} s)", flush=True)
    os._exit(0)


def start_prefect_server(prefect_home: Path, port: int, timeout: float = 300.0) -> subprocess.Popen[bytes]:
    """``prefect server start`` on loopback for this home; sets PREFECT_API_URL for this process."""
    prefect_home.mkdir(parents=True, exist_ok=True)
    env = {**os.environ, "PREFECT_HOME": str(prefect_home), "PREFECT_SERVER_ANALYTICS_ENABLED": "false"}
    log_file = (prefect_home / "server.log").open("ab")
    proc = subprocess.Popen(
        [sys.executable, "-m", "prefect", "server", "start", "--host", "127.0.0.1", "--port", str(port)],
        env=env,
        stdout=log_file,
        stderr=subprocess.STDOUT,
    )
    url = f"http://127.0.0.1:{port}/api"
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise CertIntakeError(f"prefect server exited ({proc.returncode}); see {prefect_home / 'server.log'}")
        try:
            with urllib.request.urlopen(f"{url}/health", timeout=2) as r:  # noqa: S310 - loopback URL we built
                if r.status == 200:
                    os.environ["PREFECT_API_URL"] = url
                    log.info("Prefect server on %s (UI http://127.0.0.1:%d)", url, port)
                    return proc
        except OSError:
            time.sleep(0.5)
    proc.kill()
    raise CertIntakeError(f"prefect server did not answer on {url} within {timeout:.0f}s")


def _run_schedules(settings: Settings, on_term: Callable[[int, Any], None]) -> None:
    """The schedules as Prefect deployments, served by a Prefect runner in this (the main) thread until
    ``on_term`` unwinds it.  ``prefect.serve`` is not used: its runner installs its own SIGTERM handler, which
    stops the runner from inside the signal handler and can hang there (a serve test waited 300 s for the
    process to end); the runner here installs ``on_term`` instead."""
    import asyncio

    from prefect.runner import Runner

    from pipeline.flows import batch, revocations

    home = str(settings.home)
    deployments = [
        batch.to_deployment(
            name="batch", parameters={"home": home}, **schedule_args(settings.schedules.get("batch", "*/10 * * * *"))
        ),
        revocations.to_deployment(
            name="revocations",
            parameters={"home": home},
            **schedule_args(settings.schedules.get("revocations", "0 1 * * *")),
        ),
    ]
    runner = Runner(pause_on_shutdown=True)  # as prefect.serve makes it
    for deployment in deployments:
        runner.add_deployment(deployment)  # type: ignore[arg-type]
    runner.handle_sigterm = on_term  # type: ignore[method-assign]  # what the runner installs for SIGTERM
    asyncio.run(runner.start())
