"""Review rules without a browser: roles, the two-person rule, decisions and their notices, the audit chain,
logins with throttling, CSRF and role checks over HTTP."""

from __future__ import annotations

import dataclasses
import random
import sqlite3
from datetime import timedelta
from pathlib import Path

import pytest
from conftest import REPO, run
from defects import Case, register, write
from docx import Document
from fastapi.testclient import TestClient

from pipeline.cli import main
from pipeline.review import actions, auth
from pipeline.review.actions import ActionRefused, Actor
from pipeline.stages import Context, ingest_path, process_case

REGISTRAR = Actor("reg", "registrar")
APPROVER = Actor("app", "approver")
CLERK = Actor("clk", "clerk")
ADMIN = Actor("adm", "admin")


def review_case(ctx: Context, root: Path, name: str = "bad-uscc", seed: int = 11) -> tuple[str, str]:
    """A DOCX case whose 统一社会信用代码 has a wrong check digit (goes to review); returns (case, right code)."""
    from common import generator

    gen = generator()
    rng = random.Random(seed)
    t = gen.random_truth(rng)
    a = gen.attachment_truth(rng, t)
    right = t["org_code"]
    t["org_code"] = gen.corrupt_uscc_check(right)
    register(ctx, a)
    folder = write(gen, root, Case(name, "ORG_CODE_CHECKSUM", t, a))
    [o] = ingest_path(ctx, folder)
    r = process_case(ctx, o.case_id)
    assert r["status"] == "review", r["findings"]
    assert "ORG_CODE_CHECKSUM" in {f["code"] for f in r["findings"]}
    return o.case_id, right


def test_correction_revalidates_and_needs_a_second_person(ctx: Context, tmp_path: Path) -> None:
    case_id, right = review_case(ctx, tmp_path)
    with pytest.raises(ActionRefused):
        actions.approve(ctx, APPROVER, case_id)  # not verified yet, and the error is still there
    actions.correct_field(ctx, REGISTRAR, case_id, "org_code", right)
    case = ctx.store.get_case(case_id)
    # validation ran again at once: the checksum error is gone, but a person touched the case → review
    assert case.status == "review"
    codes = {f.code for f in ctx.store.findings(case_id, unresolved_only=True)}
    assert "ORG_CODE_CHECKSUM" not in codes and "APPROVAL_REQUIRED" in codes
    assert ctx.store.fields(case_id)["org_code"].value == right
    with pytest.raises(ActionRefused, match="验核"):
        actions.approve(ctx, APPROVER, case_id)
    actions.verify(ctx, REGISTRAR, case_id)
    with pytest.raises(ActionRefused, match="无权"):
        actions.approve(ctx, CLERK, case_id)
    with pytest.raises(ActionRefused, match="无权"):
        actions.approve(ctx, REGISTRAR, case_id)
    # an admin may approve in general, but not a case they corrected (two-person rule)
    actions.correct_field(ctx, ADMIN, case_id, "email", ctx.store.fields(case_id)["email"].value)
    actions.verify(ctx, REGISTRAR, case_id)
    with pytest.raises(ActionRefused, match="双人原则"):
        actions.approve(ctx, ADMIN, case_id)
    # a clean, re-validated case must still not issue without approval
    assert process_case(ctx, case_id)["status"] == "review"
    actions.approve(ctx, APPROVER, case_id)
    assert ctx.store.get_case(case_id).status == "approved"
    r = process_case(ctx, case_id)  # what the batch flow (or the web app's runner) does next
    assert r["status"] in ("issued", "delivered") and r["outputs"]["serial"]
    who = [(a.actor, a.action) for a in ctx.store.review_actions(case_id)]
    assert ("reg", "correct") in who and ("reg", "verify") in who and ("app", "approve") in who


def test_two_person_rule_can_be_switched_off_per_office(ctx: Context, tmp_path: Path) -> None:
    case_id, right = review_case(ctx, tmp_path)
    office = ctx.store.get_case(case_id).office
    profile = ctx.profiles[office]
    assert profile.settings is not None
    off = profile.settings.model_copy(
        update={"review": profile.settings.review.model_copy(update={"two_person": False})}
    )
    ctx.profiles[office] = dataclasses.replace(profile, settings=off)
    actions.correct_field(ctx, ADMIN, case_id, "org_code", right)
    actions.verify(ctx, ADMIN, case_id)
    actions.approve(ctx, ADMIN, case_id)
    assert ctx.store.get_case(case_id).status == "approved"


def _docx_text(path: Path) -> str:
    doc = Document(str(path))
    cells = [c.text for t in doc.tables for row in t.rows for c in row.cells]
    return "\n".join([p.text for p in doc.paragraphs] + cells)


def test_reject_and_request_materials_write_notices(ctx: Context, tmp_path: Path) -> None:
    c1, _ = review_case(ctx, tmp_path / "a", "one", seed=1)
    c2, _ = review_case(ctx, tmp_path / "b", "two", seed=2)
    with pytest.raises(ActionRefused, match="理由"):
        actions.reject(ctx, REGISTRAR, c1, "   ")
    with pytest.raises(ActionRefused, match="无权"):
        actions.reject(ctx, CLERK, c1, "x")
    path = actions.reject(ctx, REGISTRAR, c1, "统一社会信用代码校验位错误\n营业执照复印件不清晰")
    assert ctx.store.get_case(c1).status == "rejected"
    text = _docx_text(path)
    assert "不予受理通知书" in text and "1. 统一社会信用代码校验位错误" in text and "2. 营业执照复印件不清晰" in text
    assert c1 in text and "{" not in text
    assert ctx.store.outputs(c1)["refusal"] == str(path)

    path2 = actions.request_materials(ctx, REGISTRAR, c2, "加盖公章的营业执照复印件", working_days=3)
    assert ctx.store.get_case(c2).status == "awaiting"
    text2 = _docx_text(path2)
    assert "补正材料通知书" in text2 and "加盖公章的营业执照复印件" in text2 and "{deadline}" not in text2
    with pytest.raises(ActionRefused, match="状态"):
        actions.correct_field(ctx, REGISTRAR, c2, "org_code", "x")


def test_merge_takes_a_separately_sent_csr(ctx: Context, tmp_path: Path) -> None:
    case_id, _ = review_case(ctx, tmp_path)
    files = {f.name: f for f in ctx.store.case_files(case_id)}
    csr = ctx.store.blobs.get(files["request.csr"].sha256)
    # the CSR came on its own (a second mail): one case with only the CSR
    alone = tmp_path / "csr-alone"
    alone.mkdir()
    (alone / "server.csr").write_bytes(csr)
    [o] = ingest_path(ctx, alone)
    process_case(ctx, o.case_id)
    with pytest.raises(ActionRefused, match="无权"):
        actions.merge(ctx, CLERK, case_id, o.case_id)
    with pytest.raises(ActionRefused, match="不存在"):
        actions.merge(ctx, REGISTRAR, case_id, "C-nope")
    actions.merge(ctx, REGISTRAR, case_id, o.case_id)
    assert ctx.store.get_case(o.case_id).status == "merged"
    assert ctx.store.get_case(o.case_id).duplicate_of == case_id
    assert "server.csr" in {f.name for f in ctx.store.case_files(case_id)}
    assert ctx.store.get_case(case_id).status == "received"
    assert process_case(ctx, case_id)["status"] == "review"  # read again; the bad code is still bad


def test_mark_duplicate(ctx: Context, tmp_path: Path) -> None:
    c1, _ = review_case(ctx, tmp_path / "a", "one", seed=1)
    c2, _ = review_case(ctx, tmp_path / "b", "two", seed=2)
    with pytest.raises(ActionRefused):
        actions.mark_duplicate(ctx, REGISTRAR, c2, c2)
    actions.mark_duplicate(ctx, REGISTRAR, c2, c1)
    assert ctx.store.get_case(c2).status == "duplicate" and ctx.store.get_case(c2).duplicate_of == c1


def test_clerk_cannot_correct_id_numbers_and_keys_are_checked(ctx: Context, tmp_path: Path) -> None:
    case_id, _ = review_case(ctx, tmp_path)
    with pytest.raises(ActionRefused, match="证件号码"):
        actions.correct_field(ctx, CLERK, case_id, "handler_id_number", "350203199001011234")
    with pytest.raises(ActionRefused, match="无效"):
        actions.correct_field(ctx, REGISTRAR, case_id, "../../etc", "x")
    with pytest.raises(ActionRefused, match="没有字段"):
        actions.correct_field(ctx, REGISTRAR, case_id, "no_such_field", "x")
    with pytest.raises(ActionRefused, match="不能为空"):
        actions.correct_field(ctx, REGISTRAR, case_id, "email", "  ")


# --------------------------------------------------------------------------- audit chain


def test_audit_verify_passes_untouched_and_names_an_edited_row(ctx: Context, tmp_path: Path, capsys) -> None:
    case_id, right = review_case(ctx, tmp_path)
    actions.correct_field(ctx, REGISTRAR, case_id, "org_code", right)
    home = str(ctx.settings.home)
    assert main(["--home", home, "audit", "verify"]) == 0
    assert "intact" in capsys.readouterr().out
    db = ctx.settings.home / "cert-intake.db"
    con = sqlite3.connect(db)
    [(row_id,)] = con.execute("SELECT id FROM audit WHERE action = 'correct'").fetchall()
    con.execute("UPDATE audit SET detail = 'org_code: nothing changed' WHERE id = ?", (row_id,))
    con.commit()
    assert main(["--home", home, "audit", "verify"]) == 1
    out = capsys.readouterr().out
    assert f"audit row id {row_id} " in out and "altered" in out
    con.execute("UPDATE audit SET detail = ? WHERE id = ?", (f"org_code: {'x'!r}", row_id))
    con.commit()
    # deleting a row in the middle is found too (a gap in the chain)
    con2 = sqlite3.connect(db)
    con2.execute("DELETE FROM audit WHERE seq = 2")
    con2.commit()
    assert main(["--home", home, "audit", "verify"]) == 1
    assert "seq 2..2 are missing" in capsys.readouterr().out


def test_audit_rows_written_before_the_chain_get_chained_by_the_migration(tmp_path: Path) -> None:
    from alembic import command
    from alembic.config import Config
    from sqlalchemy import create_engine, text

    from pipeline.store import MIGRATIONS, Store

    url = f"sqlite:///{tmp_path / 'old.db'}"
    engine = create_engine(url)
    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    with engine.begin() as conn:
        cfg.attributes["connection"] = conn
        command.upgrade(cfg, "0004")
        for i in range(3):
            conn.execute(
                text("INSERT INTO audit (case_id, actor, at, to_status, detail) VALUES (:c, 'system', :at, 'x', :d)"),
                {"c": f"C{i}", "at": f"2026-01-0{i + 1} 10:00:00.000000", "d": f"old row {i}"},
            )
    store = Store.open(url, tmp_path / "blobs")
    store.audit("login", "someone", "after the upgrade")
    checked, problems = store.verify_audit()
    assert checked == 4 and problems == []


# --------------------------------------------------------------------------- logins


def test_failed_logins_throttle_the_address_never_lock_the_account_and_cli_unlock(
    ctx: Context, monkeypatch: pytest.MonkeyPatch
) -> None:
    long_block = lambda n: timedelta(minutes=5) if n > auth.FREE_FAILURES else None  # noqa: E731
    monkeypatch.setattr(auth, "address_block", long_block)  # a slow machine cannot outlast it
    auth.add_user(ctx.store, "reg", "registrar", "correct horse battery")
    assert auth.login(ctx.store, "reg", "correct horse battery", "10.0.0.1").token
    for _ in range(auth.FREE_FAILURES + 1):
        assert auth.login(ctx.store, "reg", "wrong password!", "10.0.0.1").message == auth.FAILED
    # that address now waits (even with the right password) …
    throttled = auth.login(ctx.store, "reg", "correct horse battery", "10.0.0.1")
    assert throttled.token is None and throttled.message == auth.THROTTLED
    # … but the account is not locked: the right password from another address gets in
    user = ctx.store.get_user("reg")
    assert user is not None and not ctx.store.is_locked(user)
    assert auth.login(ctx.store, "reg", "correct horse battery", "10.0.0.2").token
    for i in range(8):  # failures for the name from many addresses only slow it down, and only a little
        auth.login(ctx.store, "reg", "wrong password!", f"10.1.0.{i}")
    assert 0 < auth.account_delay(ctx.store, "reg") <= auth.ACCOUNT_MAX_DELAY
    assert main(["--home", str(ctx.settings.home), "users", "unlock", "reg"]) == 0
    assert auth.account_delay(ctx.store, "reg") == 0
    assert auth.login(ctx.store, "reg", "correct horse battery", "10.0.0.3").token
    with pytest.raises(auth.AuthError):
        auth.add_user(ctx.store, "x", "registrar", "short")
    with pytest.raises(auth.AuthError):
        auth.add_user(ctx.store, "y", "boss", "long enough password")
    actions_logged = {a.action for a in ctx.store.audit_log()}
    assert {"login", "login_failed", "login_refused", "user_change"} <= actions_logged


def test_users_add_from_the_command_line(home: Path) -> None:
    r = run(
        ["cert-intake", "--home", str(home), "users", "add", "wang", "--role", "approver", "--password-stdin"],
        input="a long enough secret\n",
    )
    assert r.returncode == 0, r.stderr
    r = run(["cert-intake", "--home", str(home), "users", "list"])
    assert "wang\tapprover\tactive" in r.stdout
    again = ["cert-intake", "--home", str(home), "users", "add", "wang", "--role", "clerk", "--password-stdin"]
    r = run(again, input="a long enough secret\n")
    assert r.returncode != 0


# --------------------------------------------------------------------------- HTTP: CSRF, roles, masking


def _login(client: TestClient, name: str, password: str) -> str:
    page = client.get("/login")
    token = page.text.split('name="csrf" value="')[1].split('"')[0]
    r = client.post("/login", data={"csrf": token, "username": name, "password": password, "next": "/"})
    assert r.status_code == 303 and r.headers["location"] == "/", r.text
    home = client.get("/")
    return home.text.split('name="csrf" value="')[1].split('"')[0]


def test_http_checks_csrf_and_roles_on_the_server(ctx: Context, tmp_path: Path) -> None:
    from pipeline.review.web import create_app

    case_id, right = review_case(ctx, tmp_path)
    auth.add_user(ctx.store, "clk", "clerk", "clerk password 1")
    auth.add_user(ctx.store, "reg", "registrar", "registrar password 1")
    ran: list[str] = []
    app = create_app(ctx, runner=ran.append)
    with TestClient(app, follow_redirects=False) as client:
        assert client.get("/").status_code == 303  # not logged in
        csrf = _login(client, "clk", "clerk password 1")
        queue = client.get("/").text
        handler_phone = ctx.store.fields(case_id)["handler_phone"].value
        assert case_id in queue and handler_phone not in queue and handler_phone[:3] + "*" in queue
        page = client.get(f"/cases/{case_id}").text
        assert handler_phone not in page  # a clerk sees personal numbers masked
        assert client.post(f"/cases/{case_id}/approve", data={"csrf": csrf}).status_code == 403
        assert client.post(f"/cases/{case_id}/verify", data={"csrf": csrf}).status_code == 403
        # no token, or a wrong one: refused before anything happens
        assert client.post(f"/cases/{case_id}/fields/org_code", data={"value": right}).status_code == 403
        assert client.post(f"/cases/{case_id}/fields/org_code", data={"value": right, "csrf": "x"}).status_code == 403
        assert ctx.store.fields(case_id)["org_code"].value != right
        r = client.post(f"/cases/{case_id}/fields/org_code", data={"value": right, "csrf": csrf})
        assert r.status_code == 303 and ctx.store.fields(case_id)["org_code"].value == right
        client.post("/logout", data={"csrf": csrf})
        assert client.get("/").status_code == 303
        csrf = _login(client, "reg", "registrar password 1")
        assert handler_phone in client.get(f"/cases/{case_id}").text  # a registrar sees it in full
        files = ctx.store.case_files(case_id)
        got = client.get(f"/cases/{case_id}/files/{files[0].id}")
        assert got.status_code == 200 and got.headers["content-type"] == "application/octet-stream"
        assert got.content == ctx.store.blobs.get(files[0].sha256)
    assert ran == []
    assert {"view", "view_file", "csrf_refused", "forbidden", "correct"} <= {a.action for a in ctx.store.audit_log()}


def test_templates_and_static_files_are_packaged() -> None:
    import tomllib

    data = tomllib.loads((REPO / "pyproject.toml").read_text(encoding="utf-8"))
    patterns = data["tool"]["setuptools"]["package-data"]["pipeline"]
    assert "review/templates/*.html" in patterns and "review/static/*" in patterns
