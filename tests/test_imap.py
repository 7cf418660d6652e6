"""The office mailbox over IMAP against a real Dovecot on loopback (installed by .ci/run)."""

from __future__ import annotations

import imaplib
import multiprocessing
import os
import shutil
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from conftest import free_port, with_registry
from test_ingest import _mail_with_case, case_names

from pipeline.config import load_settings
from pipeline.ingest import imap
from pipeline.stages import Context, process_outcomes

DOVECOT_CONF = """
protocols = imap
listen = 127.0.0.1
base_dir = {root}/run
state_dir = {root}/state
log_path = {root}/dovecot.log
ssl = no
disable_plaintext_auth = no
auth_mechanisms = plain login
first_valid_uid = 0
mail_location = maildir:{root}/mail/%u
default_internal_user = dovecot
default_login_user = dovenull
service anvil {{
  chroot =
}}
service imap-login {{
  inet_listener imap {{
    address = 127.0.0.1
    port = {port}
  }}
  inet_listener imaps {{
    port = 0
  }}
  chroot =
}}
passdb {{
  driver = passwd-file
  args = scheme=PLAIN {root}/passwd
}}
userdb {{
  driver = static
  args = uid=nobody gid=nogroup
}}
"""


@pytest.fixture
def dovecot() -> Iterator[imap.ImapConfig]:
    binary = shutil.which("dovecot") or "/usr/sbin/dovecot"
    assert Path(binary).exists(), "dovecot is required (apt-get install dovecot-imapd; .ci/run does it)"
    # dovecot's unprivileged processes must reach the files: not under pytest's 0700 tmp root
    root = Path(tempfile.mkdtemp(prefix="cert-intake-dovecot-"))
    os.chmod(root, 0o755)
    for sub in ("run", "state", "mail"):
        (root / sub).mkdir(parents=True)
    os.chmod(root / "mail", 0o777)
    port = free_port()
    (root / "passwd").write_text("intake:{PLAIN}throwaway-secret\n")
    (root / "dovecot.conf").write_text(DOVECOT_CONF.format(root=root, port=port))
    proc = subprocess.Popen(
        [binary, "-F", "-c", str(root / "dovecot.conf")], stdout=subprocess.PIPE, stderr=subprocess.STDOUT
    )
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
            break
        except OSError:
            time.sleep(0.2)
    else:
        proc.kill()
        raise AssertionError(f"dovecot did not start: {proc.stdout.read().decode() if proc.stdout else ''}")
    try:
        yield imap.ImapConfig(
            host="127.0.0.1", port=port, security="none", username="intake", password="throwaway-secret"
        )
    finally:
        proc.terminate()
        proc.wait(timeout=10)
        shutil.rmtree(root, ignore_errors=True)


def _append(cfg: imap.ImapConfig, raw: bytes) -> None:
    conn = imaplib.IMAP4(cfg.host, cfg.port)
    conn.login(cfg.username, cfg.password)
    typ, _ = conn.append("INBOX", None, None, raw)
    assert typ == "OK"
    conn.logout()


def _unseen(cfg: imap.ImapConfig) -> int:
    conn = imaplib.IMAP4(cfg.host, cfg.port)
    conn.login(cfg.username, cfg.password)
    conn.select("INBOX")
    _typ, data = conn.uid("SEARCH", "UNSEEN")
    conn.logout()
    return len((data[0] or b"").split())


def test_fetch_gbk_named_attachments_into_cases(dovecot: imap.ImapConfig, ctx: Context) -> None:
    _append(dovecot, _mail_with_case("xiamen-new-docx", "厦门中科供应链管理有限公司+数字证书申办", "gbk-raw"))
    _append(dovecot, _mail_with_case("xiamen-new-bad-uscc", "厦门启明信息技术有限公司＋数字证书申请", "rfc2047-gbk"))
    outcomes = imap.fetch(ctx.store, dovecot, "xiamen-eport")
    assert len(outcomes) == 2 and _unseen(dovecot) == 0
    results = process_outcomes(ctx, outcomes)
    by_company = {r["source"]["subject_company"]: r for r in results}
    docx = by_company["厦门中科供应链管理有限公司"]
    assert sorted(d["name"] for d in docx["documents"]) == case_names("xiamen-new-docx")
    assert docx["status"] == "issued" and docx["source"]["kind"] == "email"
    assert docx["source"]["path"].startswith(f"imap://intake@127.0.0.1:{dovecot.port}/INBOX;UIDVALIDITY=")
    bad = by_company["厦门启明信息技术有限公司"]
    assert sorted(d["name"] for d in bad["documents"]) == case_names("xiamen-new-bad-uscc")
    assert [o.name for o in ctx.store.case_files(docx["case_id"], role="original")] == ["原始邮件.eml"]
    assert imap.fetch(ctx.store, dovecot, "xiamen-eport") == []  # nothing unseen is left


def _fetch_and_die(home: str, cfg: imap.ImapConfig) -> None:
    """Child process: store the case, then die (SIGKILL-like) before flagging the message."""
    ctx = with_registry(Context(load_settings(home, use_prefect=False)))

    def die(*_a: object, **_k: object) -> None:
        os._exit(137)

    imap._flag = die  # type: ignore[assignment]
    imap.fetch(ctx.store, cfg, "xiamen-eport")


def test_crash_between_store_and_flag_gives_exactly_one_case(dovecot: imap.ImapConfig, home: Path) -> None:
    _append(dovecot, _mail_with_case("xiamen-new-docx", "厦门中科供应链管理有限公司+数字证书申办", "rfc2231-utf8"))
    child = multiprocessing.get_context("fork").Process(target=_fetch_and_die, args=(str(home), dovecot))
    child.start()
    child.join(60)
    assert child.exitcode == 137
    ctx = Context(load_settings(home, use_prefect=False))
    assert len(ctx.store.list_cases()) == 1 and _unseen(dovecot) == 1  # stored, not yet flagged
    again = imap.fetch(ctx.store, dovecot, "xiamen-eport")
    assert again == [] and _unseen(dovecot) == 0
    assert len(ctx.store.list_cases()) == 1
    [case] = ctx.store.list_cases()
    assert case.source_kind == "email" and case.subject_company == "厦门中科供应链管理有限公司"


def test_fetch_mail_cli(dovecot: imap.ImapConfig, home: Path) -> None:
    import json
    import sys

    (home / "config.yaml").write_text(
        f"imap:\n  host: 127.0.0.1\n  port: {dovecot.port}\n  security: none\n  username: intake\n"
        "  password_env: TEST_IMAP_PASSWORD\n",
        encoding="utf-8",
    )
    _append(dovecot, _mail_with_case("xiamen-new-docx", "厦门中科供应链管理有限公司+数字证书申办", "rfc2231-utf8"))
    with_registry(Context(load_settings(home, use_prefect=False)))
    env = {**os.environ, "CERT_INTAKE_HOME": str(home), "TEST_IMAP_PASSWORD": dovecot.password}
    r = subprocess.run(
        [sys.executable, "-m", "pipeline.cli", "fetch-mail", "--json"],
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert r.returncode == 0, r.stderr
    [line] = r.stdout.splitlines()
    assert json.loads(line)["status"] == "issued"
