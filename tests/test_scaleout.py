"""Scale-out for real: a PostgreSQL server (Debian package) holding both the Prefect database and the case
store, a Prefect server on loopback, the deployments of `cert-intake deploy`, and two process workers.
Every pending case is dispatched twice (two overlapping scheduled runs); each must be processed exactly
once: one issuance, two certificates, unique serials, one `issuing` transition."""

from __future__ import annotations

import glob
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest
from conftest import child_env, free_port, with_registry
from test_ops import _clean_cases, wait_for

from pipeline.config import load_settings
from pipeline.stages import Context, ingest_path

pytestmark = pytest.mark.slow
DISPATCH = "import sys; from pipeline.flows import dispatch; print(dispatch(sys.argv[1]))"


def _as_postgres(cmd: list[str]) -> list[str]:
    """PostgreSQL refuses to run as root: drop to the Debian package's `postgres` user when we are root."""
    return ["runuser", "-u", "postgres", "--", *cmd] if os.geteuid() == 0 else cmd


@pytest.fixture
def postgres() -> Iterator[str]:
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"))
    assert found, "PostgreSQL is missing (.ci/run installs the Debian package `postgresql`)"
    bindir = Path(found[-1]).parent
    root = Path(tempfile.mkdtemp(prefix="cert-intake-pg-"))  # pytest's tmp dirs are 0700 root: not for postgres
    data, sock = root / "data", root / "sock"
    sock.mkdir()
    if os.geteuid() == 0:
        shutil.chown(root, "postgres")
        shutil.chown(sock, "postgres")
    r = subprocess.run(
        _as_postgres([str(bindir / "initdb"), "-D", str(data), "-U", "postgres", "--auth=trust", "-E", "UTF8"]),
        capture_output=True,
        text=True,
        check=False,
    )
    assert r.returncode == 0, r.stderr
    port = free_port()
    pg = [str(bindir / "postgres"), "-D", str(data), "-p", str(port), "-k", str(sock), "-h", "127.0.0.1"]
    pg += ["-c", "max_connections=200", "-c", "fsync=off"]
    server = subprocess.Popen(
        _as_postgres(pg),
        stdout=subprocess.DEVNULL,
        stderr=open(root / "server.log", "wb"),
    )
    psql = ["psql", "-h", "127.0.0.1", "-p", str(port), "-U", "postgres", "-v", "ON_ERROR_STOP=1"]
    deadline = time.monotonic() + 60
    while subprocess.run([*psql, "-c", "select 1"], capture_output=True, check=False).returncode != 0:
        assert time.monotonic() < deadline and server.poll() is None, (root / "server.log").read_text()
        time.sleep(0.3)
    for db in ("store", "prefect"):
        subprocess.run([*psql, "-c", f"CREATE DATABASE {db}"], check=True, capture_output=True)
    yield f"127.0.0.1:{port}"
    server.terminate()
    server.wait(30)
    shutil.rmtree(root, ignore_errors=True)


def _wait_http(url: str, proc: subprocess.Popen, log: Path, timeout: float = 600) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        assert proc.poll() is None, log.read_text(errors="replace")[-3000:]
        try:
            with urllib.request.urlopen(url, timeout=2) as r:
                if r.status == 200:
                    return
        except OSError:
            time.sleep(0.5)
    raise AssertionError(f"{url} did not answer: {log.read_text(errors='replace')[-3000:]}")


def _flow_runs(api: str) -> list[dict]:
    req = urllib.request.Request(
        f"{api}/flow_runs/filter", data=b'{"limit": 200}', headers={"Content-Type": "application/json"}
    )
    with urllib.request.urlopen(req, timeout=10) as r:
        return json.loads(r.read())


def test_two_workers_on_postgresql_process_every_case_exactly_once(postgres: str, tmp_path: Path) -> None:
    home = tmp_path / "home"
    home.mkdir()
    (home / "config.yaml").write_text(
        f"database_url: postgresql+psycopg://postgres@{postgres}/store\n", encoding="utf-8"
    )
    ctx = with_registry(Context(load_settings(home, use_prefect=False)))
    assert ctx.store.engine.dialect.name == "postgresql"
    ctx.local_ca
    n = 6
    case_ids = [o.case_id for f in _clean_cases(ctx, tmp_path / "gen", n, seed=8) for o in ingest_path(ctx, f)]
    assert len(case_ids) == n

    base = child_env()
    port = free_port()
    api = f"http://127.0.0.1:{port}/api"
    server_env = {
        **base,
        "PREFECT_HOME": str(tmp_path / "prefect-server"),
        "PREFECT_API_DATABASE_CONNECTION_URL": f"postgresql+asyncpg://postgres@{postgres}/prefect",
        "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
    }
    procs: list[subprocess.Popen] = []
    logs = {name: tmp_path / f"{name}.log" for name in ("server", "w1", "w2")}
    try:
        procs.append(
            subprocess.Popen(
                [sys.executable, "-m", "prefect", "server", "start", "--host", "127.0.0.1", "--port", str(port)],
                env=server_env,
                stdout=open(logs["server"], "wb"),
                stderr=subprocess.STDOUT,
            )
        )
        _wait_http(f"{api}/health", procs[0], logs["server"])
        client_env = {**base, "PREFECT_API_URL": api, "CERT_INTAKE_HOME": str(home)}
        r = subprocess.run(
            [sys.executable, "-m", "pipeline.cli", "--home", str(home), "deploy", "--no-schedule"],
            env={**client_env, "PREFECT_HOME": str(tmp_path / "client")},
            capture_output=True,
            text=True,
            timeout=900,
            check=False,
        )
        assert r.returncode == 0, r.stderr[-3000:]
        assert set(json.loads(r.stdout.strip().splitlines()[-1])) == {
            "process-case",
            "intake",
            "dispatch",
            "revocations",
        }
        worker = [sys.executable, "-m", "prefect", "worker", "start", "--pool", "cert-intake", "--type", "process"]
        for name in ("w1", "w2"):
            procs.append(
                subprocess.Popen(
                    [*worker, "--limit", "2", "--name", name],
                    env={**client_env, "PREFECT_HOME": str(tmp_path / name)},
                    stdout=open(logs[name], "wb"),
                    stderr=subprocess.STDOUT,
                )
            )
        # two scheduled runs overlap: every pending case is dispatched twice
        for _ in range(2):
            r = subprocess.run(
                [sys.executable, "-c", DISPATCH, str(home)],
                env={**client_env, "PREFECT_HOME": str(tmp_path / "client")},
                capture_output=True,
                text=True,
                timeout=900,
                check=False,
            )
            assert r.returncode == 0, r.stderr[-3000:]
            assert "'failed': []" in r.stdout, r.stdout[-3000:]  # every step of the run went well

        store = ctx.store

        def states() -> tuple[str, ...]:
            """The case flow runs' states and the issued count: a run changing state, a new run, a case
            issued is progress."""
            issued = f"issued={sum(store.get_case(cid).status == 'issued' for cid in case_ids)}"
            try:
                runs = [fr for fr in _flow_runs(api) if fr["name"] and fr["parameters"].get("case_id")]
            except OSError as exc:  # a busy server's slow answer: seen as it is, waited on like the rest
                return (f"api: {exc}", issued)
            return (*sorted(fr["state_type"] for fr in runs), issued)

        def all_final() -> bool:
            seen = states()[:-1]
            return len(seen) == 2 * n and all(s in ("COMPLETED", "FAILED", "CRASHED", "CANCELLED") for s in seen)

        def workers_alive() -> None:
            for name, proc in zip(("w1", "w2"), procs[1:], strict=True):
                assert proc.poll() is None, logs[name].read_text(errors="replace")[-3000:]

        # a busy machine is slow, not stuck: wait while the runs progress (flow runs start as fresh processes)
        wait_for(all_final, states, "12 dispatched flow runs", ceiling=1800, stall=300, alive=workers_alive)
        runs = [fr for fr in _flow_runs(api) if fr["parameters"].get("case_id")]
        assert len(runs) == 2 * n
        assert {fr["state_type"] for fr in runs} == {"COMPLETED"}, [(fr["name"], fr["state_type"]) for fr in runs]
    finally:
        for p in reversed(procs):
            p.terminate()
        for p in procs:
            try:
                p.wait(30)
            except subprocess.TimeoutExpired:
                p.kill()
    # both workers took flow runs
    for name in ("w1", "w2"):
        assert "flow run" in logs[name].read_text(errors="replace").lower(), logs[name].read_text()[-2000:]
    store = Context(load_settings(home, use_prefect=False)).store
    cases = [store.get_case(cid) for cid in case_ids]
    assert {c.status for c in cases} == {"issued"}, [(c.id, c.status, c.failure) for c in cases]
    certs = store.certificates()
    assert len(certs) == 2 * n and len({c.serial for c in certs}) == 2 * n
    for cid in case_ids:
        issuing = [a for a in store.audit_rows(cid) if a.to_status == "issuing"]
        assert len(issuing) == 1, (cid, [(a.actor, a.from_status, a.to_status) for a in store.audit_rows(cid)])
    assert store.verify_audit()[1] == []
