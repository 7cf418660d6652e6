"""Security checks that can fail: masking in logs, no shell, names confined, keys protected — and the review
workspace under attack (issue #15): each test below is an attack that once worked."""

from __future__ import annotations

import logging
import os
import random
import re
import sqlite3
import stat
import threading
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from conftest import free_port
from defects import Case, _csr, register, write
from fastapi.testclient import TestClient
from hypothesis import given, settings
from hypothesis import strategies as st

from pipeline.cli import main
from pipeline.ingest.names import safe_name
from pipeline.logsafe import MaskingFilter, mask
from pipeline.models import Evidence, Field
from pipeline.review import actions, auth
from pipeline.review.actions import ActionRefused, Actor
from pipeline.review.web import WebConfig, create_app
from pipeline.stages import Context, ingest_path, process_case

ROOT = Path(__file__).resolve().parent.parent


def test_ids_phones_and_secrets_are_masked_in_logs(caplog) -> None:
    logger = logging.getLogger("cert_intake.test")
    caplog.handler.addFilter(MaskingFilter())
    logger.warning("case failed for 350203197204141799 phone 13812345678 password=hunter2 on %s", "x")
    text = caplog.text
    assert "350203197204141799" not in text and "350203********1799" in text
    assert "13812345678" not in text and "138****5678" in text
    assert "hunter2" not in text
    assert mask("USCC 91350200MA2YHR4E5X stays") == "USCC 91350200MA2YHR4E5X stays"  # not personal data


def test_no_subprocess_with_a_shell() -> None:
    for path in (ROOT / "pipeline").rglob("*.py"):
        source = path.read_text(encoding="utf-8")
        assert not re.search(r"shell\s*=\s*True", source), path
        assert "os.system(" not in source and "os.popen(" not in source, path


@settings(max_examples=300, deadline=None)
@given(st.text(max_size=80))
def test_names_from_outside_stay_inside(raw: str) -> None:
    name = safe_name(raw)
    assert name and "/" not in name and "\\" not in name and "\x00" not in name
    assert not name.startswith(".") and len(name) <= 120
    base = Path("/srv/case")
    assert (base / name).resolve().parent == base


# =========================================================================== the review workspace under attack
# (issue #15: each test is one attack that worked before; see SECURITY.md for the threat model)

REG = Actor("reg", "registrar")
REG2 = Actor("reg2", "registrar")
APP = Actor("app", "approver")
CLK = Actor("clk", "clerk")
PASSWORDS = {"reg": "registrar password 1", "app": "approver password 1", "clk": "clerk password 1"}
BAD_ID = "350203199508049797"  # the check digit is wrong (the example)


def _case(
    ctx: Context, root: Path, name: str, csr: str = "ok", seed: int = 5, bad_code: bool = False
) -> tuple[str, dict[str, str]]:
    """A generated DOCX case (form, licence, ID copies, product certificate, CSR unless ``csr='none'``);
    ``bad_code``: the 统一社会信用代码 on the form has a wrong check digit (the licence has the right one)."""
    from common import generator

    gen = generator()
    rng = random.Random(seed)
    t = gen.random_truth(rng)
    a = gen.attachment_truth(rng, t)
    right = t["org_code"]
    if bad_code:
        t["org_code"] = gen.corrupt_uscc_check(right)
    register(ctx, a)
    [o] = ingest_path(ctx, write(gen, root, Case(name, None, t, a, csr=csr)))
    process_case(ctx, o.case_id)
    return o.case_id, {**t, "right_org_code": right}


def _review_case(ctx: Context, root: Path) -> str:
    """A case in review whose only problem a registrar settles (it then needs verification and approval)."""
    case_id, t = _case(ctx, root, "c", bad_code=True)
    assert ctx.store.get_case(case_id).status == "review"
    actions.correct_field(ctx, REG, case_id, "org_code", t["right_org_code"])
    assert ctx.store.get_case(case_id).status == "review"
    return case_id


# --------------------------------------------------------------------------- 1. verification outlived a change


def test_a_merge_after_verification_voids_it_and_no_certificate_is_issued(ctx: Context, tmp_path: Path) -> None:
    """Registrar A verified a case with no CSR, registrar B merged a CSR-only case into it, an approver
    approved: certificates came out over a CSR nobody verified."""
    case_id, truth = _case(ctx, tmp_path / "a", "no-csr", csr="none")
    assert ctx.store.get_case(case_id).status == "review"
    assert "MATERIAL_MISSING" in {f.code for f in ctx.store.findings(case_id, unresolved_only=True)}
    actions.verify(ctx, REG, case_id)
    # the CSR comes in a mail of its own: a case with nothing but the CSR
    from common import generator

    alone = tmp_path / "csr-alone"
    alone.mkdir()
    _csr(generator(), alone, truth["applicant_name"], "ok")
    [o] = ingest_path(ctx, alone)
    process_case(ctx, o.case_id)
    actions.merge(ctx, REG2, case_id, o.case_id)
    assert process_case(ctx, case_id)["status"] == "review"
    assert "MATERIAL_MISSING" not in {f.code for f in ctx.store.findings(case_id, unresolved_only=True)}
    with pytest.raises(ActionRefused, match="重新验核") as refused:
        actions.approve(ctx, APP, case_id)
    assert "材料文件" in str(refused.value)  # the approver is told what changed
    assert ctx.store.get_case(case_id).status == "review" and ctx.store.certificates(case_id) == []
    # a registrar who verifies the case as it is now makes it approvable (by someone else)
    actions.verify(ctx, REG, case_id)
    with pytest.raises(ActionRefused, match="双人原则"):
        actions.approve(ctx, Actor("reg2", "admin"), case_id)  # merged it: touched it
    actions.approve(ctx, APP, case_id)
    assert ctx.store.get_case(case_id).status == "approved"
    approve = next(a for a in ctx.store.review_actions(case_id) if a.action == "approve")
    verify = [a for a in ctx.store.review_actions(case_id) if a.action == "verify"][-1]
    assert approve.detail and verify.detail and approve.detail["digest"] == verify.detail["digest"]


def _add_file(ctx: Context, case_id: str, tmp: Path) -> None:
    other = tmp / "extra"
    other.mkdir()
    (other / "说明.txt").write_text("补充说明", encoding="utf-8")
    [o] = ingest_path(ctx, other)
    ctx.store.merge_files(o.case_id, case_id)  # a new file, with no review action saying so


def _reread(ctx: Context, case_id: str, _tmp: Path) -> None:
    ctx.store.transition(case_id, "received", detail="read again")
    assert process_case(ctx, case_id)["status"] == "review"


def _field_changed(ctx: Context, case_id: str, _tmp: Path) -> None:
    old = ctx.store.fields(case_id)["email"]
    ctx.store.replace_fields(case_id, {"email": Field("x" + old.value, old.confidence, old.evidence)}, "reviewer")


def _finding_changed(ctx: Context, case_id: str, _tmp: Path) -> None:
    from pipeline.models import warning

    ctx.store.replace_findings(case_id, "ingest", [warning("SOMETHING_NEW", None, "新的校验结果")])


CHANGES = {
    "correction": (lambda ctx, c, _t: actions.correct_field(ctx, REG2, c, "email", "cert@example.com"), "更正"),
    "confirmation": (lambda ctx, c, _t: actions.confirm_field(ctx, REG2, c, "applicant_name"), "确认"),
    "new file": (_add_file, "材料文件"),
    "re-read": (_reread, "重新识别"),
    "field value": (_field_changed, "字段值"),
    "finding": (_finding_changed, "校验结果"),
}


@pytest.mark.parametrize("change", sorted(CHANGES))
def test_every_change_after_verification_makes_it_stale(ctx: Context, tmp_path: Path, change: str) -> None:
    case_id = _review_case(ctx, tmp_path)
    actions.verify(ctx, REG, case_id)
    assert actions.approval_blockers(ctx, APP, case_id) == []  # as verified: approvable
    do, told = CHANGES[change]
    do(ctx, case_id, tmp_path)
    blockers = actions.approval_blockers(ctx, APP, case_id)
    assert any("重新验核" in b and told in b for b in blockers), blockers
    with pytest.raises(ActionRefused, match="重新验核"):
        actions.approve(ctx, APP, case_id)
    actions.verify(ctx, REG, case_id)
    actions.approve(ctx, APP, case_id)
    assert ctx.store.get_case(case_id).status == "approved"


# --------------------------------------------------------------------------- 2. personal data reached clerks


def _clients(ctx: Context, app) -> dict[str, str]:  # type: ignore[no-untyped-def]
    for name, role in (("reg", "registrar"), ("app", "approver"), ("clk", "clerk")):
        if ctx.store.get_user(name) is None:
            auth.add_user(ctx.store, name, role, PASSWORDS[name])
    return PASSWORDS


def _login(client: TestClient, name: str) -> str:
    page = client.get("/login")
    token = page.text.split('name="csrf" value="')[1].split('"')[0]
    r = client.post("/login", data={"csrf": token, "username": name, "password": PASSWORDS[name], "next": "/"})
    assert r.status_code == 303 and r.headers["location"] == "/", r.text
    return client.get("/").text.split('name="csrf" value="')[1].split('"')[0]


def test_finding_messages_keep_id_numbers_and_phones_out(ctx: Context, tmp_path: Path) -> None:
    case_id = _review_case(ctx, tmp_path)
    actions.correct_field(ctx, REG, case_id, "legal_rep_id_number", BAD_ID)
    actions.correct_field(ctx, REG, case_id, "handler_phone", "05925551234")
    by_code = {f.code: f.message_zh for f in ctx.store.findings(case_id, unresolved_only=True)}
    assert by_code["ID_NUMBER_CHECKSUM"] == "法定代表人证件号码 3502**********9797 校验位错误"
    assert "05925551234" not in by_code["PHONE_NOT_MOBILE"] and "059******34" in by_code["PHONE_NOT_MOBILE"]
    copy = by_code.get("LEGAL_REP_ID_COPY_MISMATCH", "")
    assert BAD_ID not in copy and "3502**********9797" in copy
    assert not any(BAD_ID in m for m in by_code.values())


def test_a_clerk_sees_no_full_number_anywhere_and_no_original(ctx: Context, tmp_path: Path) -> None:
    case_id = _review_case(ctx, tmp_path)
    fields = ctx.store.fields(case_id)
    legal_id, phone = fields["legal_rep_id_number"].value, fields["handler_phone"].value
    # a finding written before messages were masked still holds the full numbers
    from pipeline.models import error

    old = error("ID_NUMBER_CHECKSUM", "legal_rep_id_number", f"法定代表人证件号码 {legal_id} 电话 {phone} 校验位错误")
    ctx.store.replace_findings(case_id, "ingest", [old])
    # page images as extraction saved them: the form (with the ID number's box) and an ID-card copy
    from io import BytesIO

    from PIL import Image

    def jpeg(colour: tuple[int, int, int]) -> bytes:
        buf = BytesIO()
        Image.new("RGB", (400, 300), colour).save(buf, "JPEG")
        return buf.getvalue()

    ctx.store.save_pages(case_id, [("申请表.docx", 1, jpeg((255, 255, 255)), 400, 300, 1.0)])
    ctx.store.save_pages(case_id, [("法定代表人身份证.docx", 1, jpeg((200, 200, 255)), 400, 300, 1.0)])
    ctx.store.save_pages(
        case_id,
        [
            ("申请表.docx", 1, jpeg((255, 255, 255)), 400, 300, 1.0),
            ("法定代表人身份证.docx", 1, jpeg((200, 200, 255)), 400, 300, 1.0),
        ],
    )
    ev = Evidence("申请表.docx", 1, (100.0, 100.0, 300.0, 130.0))
    ctx.store.replace_fields(case_id, {"legal_rep_id_number": Field(legal_id, 0.99, ev)}, source="reviewer")
    pages = {p.document: p for p in ctx.store.case_pages(case_id)}
    app = create_app(ctx, runner=lambda _c: None)
    _clients(ctx, app)
    with TestClient(app, follow_redirects=False) as client:
        _login(client, "clk")
        for text in (client.get("/").text, client.get(f"/cases/{case_id}").text):
            assert legal_id not in text and phone not in text
            assert legal_id[:6] + "********" + legal_id[-4:] in text or legal_id[:3] + "*" in text
        files = ctx.store.case_files(case_id, role=None)
        for f in files:  # originals: none for a clerk
            assert client.get(f"/cases/{case_id}/files/{f.id}").status_code == 403
        assert client.get(f"/cases/{case_id}/pages/{pages['法定代表人身份证.docx'].id}.jpg").status_code == 403
        form = client.get(f"/cases/{case_id}/pages/{pages['申请表.docx'].id}.jpg")
        assert form.status_code == 200
        with Image.open(BytesIO(form.content)) as img:  # the ID number's box is blacked out, the rest is not
            assert sum(img.convert("RGB").getpixel((200, 115))) < 60
            assert sum(img.convert("RGB").getpixel((20, 20))) > 700
        case_page = client.get(f"/cases/{case_id}").text
        assert f"/cases/{case_id}/files/" not in case_page and "法定代表人身份证.docx 第" not in case_page
    with TestClient(app, follow_redirects=False) as client:
        _login(client, "reg")  # a registrar verifies identities: full values, the copies and the originals
        page = client.get(f"/cases/{case_id}").text
        assert legal_id in page
        id_page = client.get(f"/cases/{case_id}/pages/{pages['法定代表人身份证.docx'].id}.jpg")
        assert id_page.status_code == 200 and id_page.content == ctx.store.blobs.get(
            pages["法定代表人身份证.docx"].sha256
        )
        assert client.get(f"/cases/{case_id}/files/{files[0].id}").status_code == 200
    audit = [(a.actor, a.action, a.detail) for a in ctx.store.audit_log(case_id)]
    assert ("clk", "view_page", "page 申请表.docx p1 (redacted)") in audit
    assert ("reg", "view_page", "page 法定代表人身份证.docx p1") in audit
    assert any(a[:2] == ("clk", "forbidden") for a in audit) and any(a[:2] == ("reg", "view_file") for a in audit)


# --------------------------------------------------------------------------- 3. enumeration and lockout


class CountingHasher:
    """argon2 as it is, counting the verifications."""

    def __init__(self, inner) -> None:  # type: ignore[no-untyped-def]
        self.inner, self.calls = inner, 0

    def verify(self, digest: str, password: str) -> bool:
        self.calls += 1
        return self.inner.verify(digest, password)

    def __getattr__(self, name: str):  # type: ignore[no-untyped-def]
        return getattr(self.inner, name)


def test_unknown_and_known_names_answer_the_same_after_the_same_work(ctx: Context, monkeypatch) -> None:
    app = create_app(ctx, runner=lambda _c: None)
    _clients(ctx, app)
    counting = CountingHasher(auth._hasher)
    monkeypatch.setattr(auth, "_hasher", counting)
    answers = {}
    calls = {}
    with TestClient(app, follow_redirects=False) as client:
        for name in ("reg", "no-such-user", "app"):
            page = client.get("/login")
            token = page.text.split('name="csrf" value="')[1].split('"')[0]
            before = counting.calls
            r = client.post("/login", data={"csrf": token, "username": name, "password": "wrong password!!"})
            calls[name] = counting.calls - before
            answers[name] = (r.status_code, r.headers["location"], client.get(r.headers["location"]).text)
    for name, (status, location, text) in answers.items():  # the page's own CSRF token is random
        answers[name] = (status, location, re.sub(r'name="csrf" value="[^"]*"', "", text))
    assert answers["reg"] == answers["no-such-user"] == answers["app"]
    assert "用户名或密码错误" in answers["reg"][2] and "锁定" not in answers["reg"][2]
    assert calls == {"reg": 1, "no-such-user": 1, "app": 1}  # one argon2 verification each
    ctx.store.set_user("app", "test", active=False)  # a disabled account reads the same too
    assert auth.login(ctx.store, "app", PASSWORDS["app"], "10.9.9.9").message == auth.FAILED
    assert counting.calls == 4


def test_a_stranger_cannot_lock_anyone_out(ctx: Context, monkeypatch) -> None:
    monkeypatch.setattr(auth, "ACCOUNT_MAX_DELAY", 0.2)  # keep the test quick: the bound, not its size
    app = create_app(ctx, runner=lambda _c: None)
    _clients(ctx, app)
    with TestClient(app, follow_redirects=False, client=("10.66.6.6", 4000)) as stranger:
        for _ in range(12):
            page = stranger.get("/login")
            token = page.text.split('name="csrf" value="')[1].split('"')[0]
            stranger.post("/login", data={"csrf": token, "username": "reg", "password": "guess guess guess"})
        page = stranger.get("/login")
        token = page.text.split('name="csrf" value="')[1].split('"')[0]
        r = stranger.post("/login", data={"csrf": token, "username": "reg", "password": PASSWORDS["reg"]})
        assert "过于频繁" in stranger.get(r.headers["location"]).text  # the guessing address waits
    user = ctx.store.get_user("reg")
    assert user is not None and not ctx.store.is_locked(user)
    with TestClient(app, follow_redirects=False, client=("10.1.2.3", 5000)) as office:
        _login(office, "reg")  # the registrar at their own desk gets in
    assert auth.account_delay(ctx.store, "reg") == 0  # and the success forgot the strangers' failures


# --------------------------------------------------------------------------- 4. argon2 stalled the event loop


@pytest.fixture
def live(ctx: Context) -> Iterator[str]:
    import time

    import uvicorn

    app = create_app(ctx, runner=lambda _c: None)
    _clients(ctx, app)
    port = free_port()
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    while not server.started and thread.is_alive():
        time.sleep(0.05)
    yield f"http://127.0.0.1:{port}"
    server.should_exit = True
    thread.join(30)


def test_a_login_being_hashed_does_not_stall_other_requests(live: str, monkeypatch) -> None:
    import httpx

    entered, release = threading.Event(), threading.Event()
    real = auth._hasher

    class Blocking(CountingHasher):
        def verify(self, digest: str, password: str) -> bool:
            entered.set()
            release.wait(120)
            return real.verify(digest, password)

    monkeypatch.setattr(auth, "_hasher", Blocking(real))
    answered = threading.Event()
    with httpx.Client(base_url=live, follow_redirects=False, timeout=120) as a:
        page = a.get("/login")
        token = page.text.split('name="csrf" value="')[1].split('"')[0]
        form = {"csrf": token, "username": "reg", "password": "wrong password!!"}
        login = threading.Thread(target=lambda: a.post("/login", data=form), daemon=True)
        login.start()
        try:
            assert entered.wait(60), "the login never reached the password check"

            def other() -> None:
                with httpx.Client(base_url=live, timeout=120) as b:
                    if b.get("/login").status_code == 200:
                        answered.set()

            threading.Thread(target=other, daemon=True).start()
            # while the first login's hash is still being computed, the other request is served
            assert answered.wait(60), "a page waited for another client's password hashing"
            assert not release.is_set()
        finally:
            release.set()
            login.join(60)


# --------------------------------------------------------------------------- 5. cookies and lifetimes


def test_secure_cookie_from_config_and_command_line(ctx: Context, monkeypatch) -> None:
    app = create_app(ctx, WebConfig(secure_cookie=True), runner=lambda _c: None)
    _clients(ctx, app)
    with TestClient(app, base_url="https://testserver", follow_redirects=False) as client:
        page = client.get("/login")
        assert "secure" in page.headers["set-cookie"].lower()
        token = page.text.split('name="csrf" value="')[1].split('"')[0]
        r = client.post("/login", data={"csrf": token, "username": "reg", "password": PASSWORDS["reg"]})
        cookie = next(c for c in r.headers.get_list("set-cookie") if c.startswith("ci_session=")).lower()
        assert "secure" in cookie and "httponly" in cookie and "samesite=strict" in cookie
    (ctx.settings.home / "config.yaml").write_text("web: {secure_cookie: true, session_max_age_s: 3600}\n")
    from pipeline.config import load_settings

    cfg = WebConfig.from_settings(load_settings(ctx.settings.home).web)
    assert cfg.secure_cookie and cfg.max_age == timedelta(hours=1)
    seen = {}

    def fake_serve(settings, **kw) -> int:  # type: ignore[no-untyped-def]
        seen.update(kw)
        return 0

    monkeypatch.setattr("pipeline.serve.serve", fake_serve)
    assert main(["--home", str(ctx.settings.home), "serve", "--secure-cookie", "--review-only"]) == 0
    assert seen["secure_cookie"] is True


def test_a_session_ends_at_its_absolute_lifetime_however_busy(ctx: Context) -> None:
    app = create_app(ctx, WebConfig(max_age=timedelta(hours=12)), runner=lambda _c: None)
    _clients(ctx, app)
    with TestClient(app, follow_redirects=False) as client:
        _login(client, "reg")
        assert client.get("/").status_code == 200
        db = sqlite3.connect(ctx.settings.home / "cert-intake.db")
        old = (datetime.now(UTC) - timedelta(hours=13)).strftime("%Y-%m-%d %H:%M:%S.%f")
        db.execute("UPDATE web_sessions SET created_at = ?", (old,))  # last_seen stays fresh: not idle
        db.commit()
        r = client.get("/")
        assert r.status_code == 303 and r.headers["location"].startswith("/login")
        assert db.execute("SELECT count(*) FROM web_sessions").fetchone()[0] == 0
    assert "session_end" in {a.action for a in ctx.store.audit_log()}


# --------------------------------------------------------------------------- 6. the audit chain's end


def _head(home: Path, capsys) -> str:  # type: ignore[no-untyped-def]
    assert main(["--home", str(home), "audit", "verify"]) == 0
    line = next(x for x in capsys.readouterr().out.splitlines() if x.startswith("audit head:"))
    return line


def test_a_cut_end_is_found_against_the_recorded_head(ctx: Context, capsys) -> None:
    home = ctx.settings.home
    for i in range(3):
        ctx.store.audit("login", f"user{i}", "login")
    recorded = _head(home, capsys)
    head_file = home.parent / "heads.txt"  # kept outside the database (another machine, paper)
    head_file.write_text(recorded + "\n", encoding="utf-8")
    db = sqlite3.connect(home / "cert-intake.db")
    seq, prev = db.execute("SELECT seq, prev_hash FROM audit ORDER BY seq DESC LIMIT 1").fetchone()
    db.execute("DELETE FROM audit WHERE seq = ?", (seq,))
    db.execute("UPDATE audit_head SET seq = ?, hash = ?", (seq - 1, prev))
    db.commit()
    assert main(["--home", str(home), "audit", "verify"]) == 0  # the chain alone cannot tell
    capsys.readouterr()
    assert main(["--home", str(home), "audit", "verify", "--head-file", str(head_file)]) == 1
    assert "truncated" in capsys.readouterr().out
    digest = recorded.split("hash ")[1]
    assert main(["--home", str(home), "audit", "verify", "--head", f"{seq}:{digest}"]) == 1
    assert main(["--home", str(home), "audit", "verify", "--head", digest]) == 1


def _rewrite(db_path: Path, detail: str, key: bytes | None = None) -> None:
    """What an attacker with the database does: edit a row and recompute every hash after it."""
    from pipeline.store import auditchain

    db = sqlite3.connect(db_path)
    db.execute("UPDATE audit SET detail = ? WHERE seq = 2", (detail,))
    cols = "id, seq, case_id, actor, at, action, from_status, to_status, detail, scheme"
    prev = auditchain.GENESIS
    for row in db.execute(f"SELECT {cols} FROM audit ORDER BY seq").fetchall():
        view = auditchain._RowView(
            seq=row[1],
            case_id=row[2],
            actor=row[3],
            at=row[4],
            from_status=row[6],
            to_status=row[7],
            detail=row[8],
            action=row[5],
            scheme=None,
        )
        h = auditchain.link(prev, view, key)
        db.execute("UPDATE audit SET prev_hash = ?, row_hash = ?, scheme = NULL WHERE id = ?", (prev, h, row[0]))
        prev = h
    db.execute("UPDATE audit_head SET hash = ?", (prev,))
    db.commit()


def test_a_rewritten_chain_is_found_by_the_head_and_impossible_with_a_key(
    ctx: Context, tmp_path: Path, capsys, monkeypatch
) -> None:
    home = ctx.settings.home
    for i in range(3):
        ctx.store.audit("login", f"user{i}", "login")
    recorded = _head(home, capsys)
    _rewrite(home / "cert-intake.db", "nothing happened")
    assert main(["--home", str(home), "audit", "verify"]) == 0  # an unkeyed chain, rewritten whole, verifies
    capsys.readouterr()
    assert main(["--home", str(home), "audit", "verify", "--head", recorded]) == 1
    assert "rewritten" in capsys.readouterr().out

    # a keyed office: the same rewrite (without the key) is found by the chain itself
    from conftest import with_registry

    from pipeline.config import load_settings

    keyed_home = tmp_path / "keyed"
    keyed_home.mkdir()
    plain = with_registry(Context(load_settings(keyed_home, use_prefect=False)))
    plain.store.audit("login", "before-the-key", "rows written before the key stay verifiable")
    monkeypatch.setenv("CERT_INTAKE_AUDIT_KEY", "office audit key 0123456789")
    from pipeline.errors import StoreError
    from pipeline.store import Store

    url, blobs = f"sqlite:///{keyed_home / 'cert-intake.db'}", keyed_home / "blobs"
    with pytest.raises(StoreError, match="start-keyed"):  # a new key starts its segment on purpose, once
        Store.open(url, blobs)
    assert main(["--home", str(keyed_home), "audit", "start-keyed"]) == 0
    keyed = Context(load_settings(keyed_home, use_prefect=False))
    keyed.store.audit("login", "after-the-key", "keyed row")
    assert keyed.store.verify_audit()[1] == []
    actions_by_seq = {a.seq: (a.action, a.scheme) for a in keyed.store.audit_log()}
    assert ("audit_keyed", "hmac-sm3") in actions_by_seq.values() and ("login", None) in actions_by_seq.values()
    assert main(["--home", str(keyed_home), "audit", "verify"]) == 0
    assert "keyed (HMAC-SM3)" in capsys.readouterr().out
    _rewrite(keyed_home / "cert-intake.db", "nothing happened")
    assert main(["--home", str(keyed_home), "audit", "verify"]) == 1
    assert "does not end in a keyed row" in capsys.readouterr().out
    with pytest.raises(StoreError, match="rewritten"):  # and no process carries on over it
        Store.open(url, blobs)
    _rewrite(keyed_home / "cert-intake.db", "nothing happened", key=b"a guessed key 0123456789")
    problems = keyed.store.verify_audit()[1]
    assert problems  # rows claiming no key after the keyed ones, or a wrong key: both found
    # a process without the key may not write to a keyed chain (its rows would be a downgrade)
    monkeypatch.delenv("CERT_INTAKE_AUDIT_KEY")
    fresh = tmp_path / "fresh"
    fresh.mkdir()
    monkeypatch.setenv("CERT_INTAKE_AUDIT_KEY", "office audit key 0123456789")
    store = Context(load_settings(fresh, use_prefect=False)).store
    store.audit("login", "x", "keyed from the start")
    monkeypatch.delenv("CERT_INTAKE_AUDIT_KEY")
    with pytest.raises(StoreError, match="keyed"):
        Store.open(f"sqlite:///{fresh / 'cert-intake.db'}", fresh / "blobs")
    monkeypatch.setenv("CERT_INTAKE_AUDIT_KEY", "short")
    with pytest.raises(StoreError, match="shorter"):
        Store.open(f"sqlite:///{fresh / 'cert-intake.db'}", fresh / "blobs")


def test_the_batch_prints_the_head_and_the_ledger_keeps_it(ctx: Context, capsys) -> None:
    from openpyxl import load_workbook

    from pipeline.batch import run_plain

    run_plain(ctx)
    seq, digest = ctx.store.audit_head()
    assert f"audit head: seq {seq} hash {digest}" in capsys.readouterr().err
    wb = load_workbook(ctx.settings.ledger_path)
    sheet = wb["审计链"]
    assert sheet["B2"].value == seq and sheet["C2"].value == digest


# --------------------------------------------------------------------------- 7. the smaller ones


def test_a_clerk_cannot_confirm_personal_fields_and_nobody_edits_csr_fields(ctx: Context, tmp_path: Path) -> None:
    case_id = _review_case(ctx, tmp_path)
    with pytest.raises(ActionRefused, match="证件号码"):
        actions.confirm_field(ctx, CLK, case_id, "legal_rep_id_number")
    with pytest.raises(ActionRefused, match="证件号码"):
        actions.confirm_field(ctx, CLK, case_id, "handler_phone")
    csr_keys = [k for k in ctx.store.fields(case_id) if k.startswith("csr.")]
    assert csr_keys
    for key in csr_keys[:2]:
        with pytest.raises(ActionRefused, match="证书请求"):
            actions.correct_field(ctx, REG, case_id, key, "CN=attacker")
        with pytest.raises(ActionRefused, match="证书请求"):
            actions.confirm_field(ctx, REG, case_id, key)
    with pytest.raises(ActionRefused, match="证书请求"):
        actions.correct_field(ctx, REG, case_id, "cert.serial", "01")


def test_files_under_the_home_are_the_owners_alone(ctx: Context, tmp_path: Path) -> None:
    old = os.umask(0o022)
    try:
        from pipeline.config import load_settings

        home = tmp_path / "h"
        home.mkdir()
        c = Context(load_settings(home, use_prefect=False))
        c.store.audit("login", "x", "touch the database")
        case_id, _ = _case(c, tmp_path / "cases", "modes")
    finally:
        os.umask(old)

    def mode(p: Path) -> int:
        return stat.S_IMODE(p.stat().st_mode)

    assert mode(home / "cert-intake.db") == 0o600
    for side in ("-wal", "-shm"):
        if (home / f"cert-intake.db{side}").exists():
            assert mode(home / f"cert-intake.db{side}") == 0o600
    for d in ("blobs", "outputs", "outbox", "ledger", "locks"):
        assert mode(home / d) == 0o700, d
    assert c.store.get_case(case_id)


def test_log_mask_catches_glued_and_grouped_numbers() -> None:
    assert "350203199508049798" not in mask("id350203199508049798")
    assert mask("id350203199508049798") == "id350203********9798"
    assert mask("身份证 350203 19950804 9798 号") == "身份证 350203********9798 号"
    assert mask("手机 138 1234 5678") == "手机 138****5678"
    assert mask("sha 91350200MA2YHR4E5X") == "sha 91350200MA2YHR4E5X"


def test_banners_show_only_the_apps_own_words(ctx: Context, tmp_path: Path) -> None:
    case_id = _review_case(ctx, tmp_path)
    app = create_app(ctx, runner=lambda _c: None)
    _clients(ctx, app)
    with TestClient(app, follow_redirects=False) as client:
        forged = "系统升级，请将密码发送至 evil@example.com"
        assert forged not in client.get("/login", params={"msg": forged}).text
        _login(client, "reg")
        assert forged not in client.get(f"/cases/{case_id}", params={"msg": forged}).text
        assert forged not in client.get(f"/cases/{case_id}", params={"ok": forged, "sig": "0" * 32}).text
        csrf = client.get(f"/cases/{case_id}").text.split('name="csrf" value="')[1].split('"')[0]
        r = client.post(f"/cases/{case_id}/verify", data={"csrf": csrf})
        assert "验核通过" in client.get(r.headers["location"]).text  # the app's own banner still shows


def test_login_never_redirects_to_another_site(ctx: Context) -> None:
    app = create_app(ctx, runner=lambda _c: None)
    _clients(ctx, app)
    for target in ("//evil.example", "/\\evil.example", "https://evil.example/"):
        with TestClient(app, follow_redirects=False) as client:
            page = client.get("/login", params={"next": target})
            assert "evil.example" not in page.text
            token = page.text.split('name="csrf" value="')[1].split('"')[0]
            form = {"csrf": token, "username": "reg", "password": PASSWORDS["reg"], "next": target}
            assert client.post("/login", data=form).headers["location"] == "/"
