"""Issuance end to end on DOCX cases (no OCR): 新办 with 告知书, bundle, mail and ledger; 注销 with revocation
and CRL; 更新 with the old certificate revoked one month later; SMTP delivery to a real server on loopback;
the external issuer hand-off."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta
from email import policy
from email.parser import BytesParser
from pathlib import Path

import pytest
from conftest import free_port, generator, openssl_csr, openssl_sm2_key, run, through_review
from docx import Document
from openpyxl import load_workbook

from pipeline.config import load_settings
from pipeline.issue.revoke import execute_due
from pipeline.review.actions import Actor, correct_field
from pipeline.stages import Context, ingest_path, process_case


def make_case(
    root: Path,
    name: str,
    category: str,
    *,
    office: str = "xiamen",
    old_serial: str = "",
    cer: Path | None = None,
    seed: int = 5,
    with_csr: bool = True,
    ctx: Context | None = None,
    scan: bool = False,
) -> tuple[Path, dict]:
    gen = generator()
    truth = gen.random_truth(random.Random(seed), office=office)
    truth["category"] = category
    if old_serial:
        truth["old_cert_serial"] = old_serial
    folder = root / name
    folder.mkdir(parents=True)
    if scan:  # the sealed, signed scan a revocation needs
        gen.render_form_image(truth, gen.ScanStyle(), random.Random(seed), office=office).save(folder / "申请表.jpg")
    else:
        gen.render_form_docx(truth, folder / "申请表.docx", office=office)
    # text-layer copies of the licence, ID cards, product certificate (and invoice for 杭州): no OCR needed
    att = gen.attachment_truth(random.Random(seed + 100), truth)
    gen.write_attachments_docx(folder, att, invoice=office == "hangzhou")
    if ctx is not None:  # the product is in the office's registry of certified products
        from defects import register

        register(ctx, att)
    if with_csr:
        key = openssl_sm2_key(root / f"{name}.key.pem")
        n = truth["applicant_name"]
        openssl_csr(key, folder / "request.csr", f"/C=CN/O={n}/CN={n}")
    if cer is not None:
        (folder / "old.cer").write_bytes(cer.read_bytes())
    return folder, truth


def one(ctx: Context, folder: Path) -> dict:
    [o] = ingest_path(ctx, folder)
    return process_case(ctx, o.case_id)


def docx_text(path: Path) -> str:
    doc = Document(str(path))
    parts = [p.text for p in doc.paragraphs]
    parts += [c.text for t in doc.tables for row in t.rows for c in row.cells]
    return "\n".join(parts)


def test_new_case_outputs_notice_mail_and_ledger(ctx: Context, tmp_path: Path) -> None:
    folder, truth = make_case(tmp_path, "new", "新办", ctx=ctx)
    r = one(ctx, folder)
    assert r["status"] == "issued", r["findings"]
    outs = r["outputs"]
    for key in ("sign_cert", "env_cert", "envelope", "chain", "csr_response", "notice", "bundle", "mail"):
        assert Path(outs[key]).exists(), key
    text = docx_text(Path(outs["notice"]))
    nb = datetime.fromisoformat(r["outputs"]["not_after"])
    assert "☑新办  □注销" in text and "· 证书新办" in text  # one box per category 厦门 offers
    assert truth["applicant_name"] in text
    assert f"有效期至{nb.year:04d}年{nb.month:02d}月{nb.day:02d}日" in text
    assert "sign.cer" in text and "envprivatekey" in text
    assert "0592-5653395" in text and "中国电子口岸数据中心厦门分中心" in text
    msg = BytesParser(policy=policy.default).parsebytes(Path(outs["mail"]).read_bytes())
    assert msg["To"] == truth["email"] and truth["applicant_name"] in msg["Subject"]
    names = sorted(p.get_filename() for p in msg.iter_attachments())
    assert names == sorted(["sign.cer", "env.cer", "envprivatekey", "ca-chain.pem", "告知书.docx"])
    # the office profile asks for the USCC extension in addition to subject serialNumber
    pem = tmp_path / "sign.pem"
    assert run(["openssl", "x509", "-inform", "DER", "-in", outs["sign_cert"], "-out", str(pem)]).returncode == 0
    text_x509 = run(["openssl", "x509", "-in", str(pem), "-noout", "-text"]).stdout
    assert "1.2.156.10260.4.1.4" in text_x509 and truth["org_code"] in text_x509
    # CSRResponse is DER that OpenSSL's generic parser reads
    parsed = run(["openssl", "asn1parse", "-inform", "DER", "-in", outs["csr_response"]])
    assert parsed.returncode == 0 and "cont [ 0 ]" in parsed.stdout and "cont [ 1 ]" in parsed.stdout

    from pipeline.issue.ledger import write_ledger

    path = write_ledger(ctx.store, tmp_path / "ledger.xlsx")
    first = path.read_bytes()
    wb = load_workbook(path)
    ws = wb[wb.sheetnames[0]]
    assert ws.freeze_panes == "A2" and ws.auto_filter.ref.startswith("A1:M")
    header = [c.value for c in ws[1]]
    assert header[:5] == ["受理编号", "受理日期", "申请单位", "机构代码", "申请类别"]
    row = [c.value for c in ws[2]]
    assert row[0] == r["case_id"] and row[2] == truth["applicant_name"] and row[7] == "已签发"
    assert row[6] == truth["handler_phone"][:3] + "****" + truth["handler_phone"][-4:]  # masked
    assert row[8] == r["outputs"]["serial"]
    write_ledger(ctx.store, path)  # rebuilt from the store: same rows
    assert [[c.value for c in r_] for r_ in load_workbook(path)[wb.sheetnames[0]].iter_rows()] == [
        [c.value for c in r_] for r_ in ws.iter_rows()
    ]
    assert first


def test_revocation_case_revokes_pair_and_publishes_crl(ctx: Context, tmp_path: Path) -> None:
    folder, _truth = make_case(tmp_path, "new", "新办", ctx=ctx, seed=6)
    issued = one(ctx, folder)
    assert issued["status"] == "issued"
    serial = issued["outputs"]["serial"]
    cer = Path(issued["outputs"]["sign_cert"])
    # a typed form and the (public) certificate prove no authority: held, nothing revoked
    typed, _ = make_case(tmp_path, "revoke-typed", "注销", seed=6, old_serial=serial, cer=cer, with_csr=False)
    held = one(ctx, typed)
    assert held["status"] == "review" and "REVOCATION_FORM_NOT_SEALED" in {f["code"] for f in held["findings"]}
    assert {c.state for c in ctx.store.certificates(issued["case_id"])} == {"issued"}
    # the sealed, signed scan, verified and approved by two people
    rev_folder, _ = make_case(tmp_path, "revoke", "注销", seed=6, old_serial=serial, cer=cer, with_csr=False, scan=True)
    pending = one(ctx, rev_folder)
    assert pending["status"] == "review" and "REVIEW_REQUIRED" in {f["code"] for f in pending["findings"]}
    if "OLD_CERT_SERIAL_MISMATCH" in {f["code"] for f in pending["findings"]}:  # the drawn 序号 cell cuts it short
        correct_field(ctx, Actor("reg-wang", "registrar"), pending["case_id"], "old_cert_serial", serial)
    r = through_review(ctx, pending["case_id"])
    assert r["status"] == "revoked", r["findings"]
    states = {c.kind: c.state for c in ctx.store.certificates(issued["case_id"])}
    assert states == {"sign": "revoked", "env": "revoked"}
    listing = run(["openssl", "crl", "-inform", "DER", "-in", str(ctx.settings.crl_path), "-noout", "-text"]).stdout
    assert serial in listing.replace(":", "").upper() and "Cessation Of Operation" in listing
    text = docx_text(Path(r["outputs"]["notice"]))
    assert "□新办  ☑注销" in text and f"[序号：{serial}]已于" in text
    # revoking again is refused by validation: the certificate is already revoked
    again_folder, _ = make_case(
        tmp_path,
        "revoke-again",
        "注销",
        seed=6,
        old_serial=serial,
        cer=Path(issued["outputs"]["sign_cert"]),
        with_csr=False,
    )
    (again_folder / "note.txt").write_text("second request")
    again = one(ctx, again_folder)
    assert again["status"] == "review" and "OLD_CERT_REVOKED" in {f["code"] for f in again["findings"]}


def test_revocation_of_foreign_or_mismatched_certificate_goes_to_review(ctx: Context, tmp_path: Path) -> None:
    folder, _ = make_case(tmp_path, "new", "新办", ctx=ctx, seed=7)
    issued = one(ctx, folder)
    wrong, _ = make_case(
        tmp_path,
        "wrong-serial",
        "注销",
        seed=7,
        old_serial="ABCDEF0123",
        cer=Path(issued["outputs"]["sign_cert"]),
        with_csr=False,
    )
    r = one(ctx, wrong)
    assert r["status"] == "review" and "OLD_CERT_SERIAL_MISMATCH" in {f["code"] for f in r["findings"]}
    # a certificate from another CA
    other = tmp_path / "other"
    other.mkdir()
    key = openssl_sm2_key(other / "k.pem")
    cert = other / "other.cer"
    assert (
        run(
            [
                "openssl",
                "req",
                "-new",
                "-x509",
                "-key",
                str(key),
                "-sm3",
                "-days",
                "30",
                "-outform",
                "DER",
                "-out",
                str(cert),
                "-subj",
                "/C=CN/O=x/CN=x",
                "-set_serial",
                "0x1234",
            ]
        ).returncode
        == 0
    )
    foreign, _ = make_case(tmp_path, "foreign", "注销", ctx=ctx, seed=7, old_serial="1234", cer=cert, with_csr=False)
    r2 = one(ctx, foreign)
    assert r2["status"] == "review" and "OLD_CERT_UNKNOWN" in {f["code"] for f in r2["findings"]}
    assert {c.state for c in ctx.store.certificates(issued["case_id"])} == {"issued"}


def test_update_schedules_old_revocation_one_month_later(home: Path, tmp_path: Path) -> None:
    ctx = Context(load_settings(home, use_prefect=False, default_office="hangzhou-eport"))
    folder, _ = make_case(tmp_path, "new", "新办", ctx=ctx, office="hangzhou", seed=8)
    first = one(ctx, folder)
    assert first["office"] == "hangzhou-eport" and first["status"] == "issued", first["findings"]
    old = first["outputs"]["serial"]
    upd, _ = make_case(
        tmp_path, "update", "更新", office="hangzhou", seed=8, old_serial=old, cer=Path(first["outputs"]["sign_cert"])
    )
    second = one(ctx, upd)
    assert second["status"] == "issued", second["findings"]
    cert = ctx.store.certificate(old)
    assert cert is not None and cert.state == "issued" and cert.scheduled_revocation_at is not None
    new_nb = datetime.fromisoformat(second["outputs"]["not_after"]).replace(year=datetime.now().year)
    due = cert.scheduled_revocation_at.replace(tzinfo=UTC)
    assert timedelta(days=27) < due - new_nb.replace(tzinfo=UTC) < timedelta(days=32)
    assert execute_due(ctx.store, datetime.now(UTC)) == []  # not yet
    done = execute_due(ctx.store, due + timedelta(seconds=1))
    assert sorted(done) == sorted(c.serial for c in ctx.store.certificates(first["case_id"]))
    text = docx_text(Path(second["outputs"]["notice"]))
    assert "□新办  □注销  ☑更新" in text and f"原证书[序号：{old}]" in text


def test_delivery_mail_through_real_smtp_server_once(home: Path, tmp_path: Path) -> None:
    from aiosmtpd.controller import Controller
    from aiosmtpd.handlers import Message

    received: list = []

    class Collect(Message):
        def handle_message(self, message) -> None:  # type: ignore[override]
            received.append(message)

    port = free_port()
    controller = Controller(Collect(message_class=None), hostname="127.0.0.1", port=port)
    controller.start()
    try:
        (home / "config.yaml").write_text(
            f"smtp:\n  host: 127.0.0.1\n  port: {port}\n  security: none\n  sender: xmport@example.cn\n",
            encoding="utf-8",
        )
        ctx = Context(load_settings(home, use_prefect=False))
        folder, truth = make_case(tmp_path, "new", "新办", ctx=ctx, seed=9)
        r = one(ctx, folder)
        assert r["status"] == "delivered", r["findings"]
        assert len(received) == 1
        msg = received[0]
        assert msg["To"] == truth["email"] and msg["From"] == "xmport@example.cn"
        names = {p.get_filename() for p in msg.walk() if p.get_filename()}
        assert {"sign.cer", "env.cer", "envprivatekey", "告知书.docx"} <= names
        # a re-run of the delivery never sends twice
        from pipeline.stages import _deliver

        profile = ctx.profiles["xiamen-eport"]
        assert _deliver(ctx, r["case_id"], ctx.store.fields(r["case_id"]), profile, []) is False
        assert len(received) == 1
    finally:
        controller.stop()


def test_external_issuer_hand_off(home: Path, tmp_path: Path) -> None:
    ctx = Context(load_settings(home, use_prefect=False, issuer="external"))
    folder, truth = make_case(tmp_path, "new", "新办", ctx=ctx, seed=10)
    r = one(ctx, folder)
    assert r["status"] == "issuing" and r["outputs"] == {}
    request = ctx.settings.external_dir / "requests" / r["case_id"]
    assert (request / "request.csr").read_bytes() == (folder / "request.csr").read_bytes()
    # the other CA answers (here: our local CA plays that part)
    from pipeline.issue import IssueRequest, LocalIssuer

    answer = LocalIssuer(ctx.store, ctx.local_ca, tmp_path / "ext-out")
    import json

    meta = json.loads((request / "request.json").read_text(encoding="utf-8"))
    answer.issue(
        IssueRequest(
            r["case_id"],
            meta["applicant_name"],
            meta["common_name"],
            meta["org_code"],
            (request / "request.csr").read_bytes(),
            meta["profile"],
        )
    )
    response = ctx.settings.external_dir / "responses" / r["case_id"]
    response.mkdir(parents=True)
    for name in ("sign.cer", "env.cer", "envprivatekey", "ca-chain.pem"):
        (response / name).write_bytes((tmp_path / "ext-out" / r["case_id"] / name).read_bytes())
    r2 = process_case(ctx, r["case_id"])
    assert (
        r2["status"] == "issued"
        and Path(r2["outputs"]["sign_cert"]).read_bytes() == (response / "sign.cer").read_bytes()
    )
    assert truth["applicant_name"] in docx_text(Path(r2["outputs"]["notice"]))


@pytest.mark.parametrize("when", [datetime(2049, 12, 31, tzinfo=UTC), datetime(2050, 6, 1, tzinfo=UTC)])
def test_add_months(when: datetime) -> None:
    from pipeline.stages import add_months

    assert add_months(when, 1).month == (when.month % 12) + 1
