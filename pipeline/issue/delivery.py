"""Delivery: a zip of the case's outputs, the e-mail to the form's 邮件地址 (.eml in the outbox), and an
SMTP send when configured.  Each channel is recorded in the store so a message is never sent twice."""

from __future__ import annotations

import io
import logging
import smtplib
import ssl
import zipfile
from dataclasses import dataclass
from email.message import EmailMessage
from email.utils import formatdate, make_msgid
from pathlib import Path

from pipeline.fsutil import atomic_write
from pipeline.store import Store

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class SmtpConfig:
    host: str
    port: int = 587
    security: str = "starttls"  # starttls | ssl | none (loopback tests only)
    username: str | None = None
    password: str | None = None
    sender: str = "ca-office@localhost"
    timeout: float = 30.0


def bundle_zip(files: list[Path], path: Path) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as zf:
        for f in files:
            zf.write(f, arcname=f.name)
    data = buf.getvalue()
    atomic_write(path, data)
    return data


def build_message(
    *, sender: str, recipient: str, applicant: str, office_name: str, case_id: str, attachments: list[Path]
) -> EmailMessage:
    msg = EmailMessage()
    msg["From"] = sender
    msg["To"] = recipient
    msg["Subject"] = f"{applicant} 数字证书办理结果（受理编号 {case_id}）"
    msg["Date"] = formatdate(localtime=True)
    msg["Message-ID"] = make_msgid(idstring=case_id, domain="cert-intake.local")
    msg.set_content(
        f"{applicant}：\n\n您申请的数字证书已办理完成，附件为签名证书（sign.cer）、加密证书（env.cer）、"
        f"加密密钥对数字信封（envprivatekey）、CA 证书链和《申请受理告知书》。\n"
        f"数字信封只能用贵单位证书申请文件对应的签名私钥解开，请妥善保管。\n\n{office_name}\n"
    )
    for f in attachments:
        maintype, subtype = (
            ("application", "vnd.openxmlformats-officedocument.wordprocessingml.document")
            if f.suffix == ".docx"
            else ("application", "octet-stream")
        )
        msg.add_attachment(f.read_bytes(), maintype=maintype, subtype=subtype, filename=f.name)
    return msg


def write_outbox(store: Store, case_id: str, msg: EmailMessage, outbox: Path) -> Path:
    path = outbox / f"{case_id}.eml"
    if store.delivery(case_id, "outbox") is None or not path.exists():
        atomic_write(path, bytes(msg))
        if store.delivery(case_id, "outbox") is None:
            store.record_delivery(case_id, "outbox", str(msg["To"]), str(msg["Message-ID"]))
    return path


def send_smtp(store: Store, case_id: str, msg: EmailMessage, cfg: SmtpConfig) -> bool:
    """Send once: True when sent now, False when an earlier send is on record."""
    if store.delivery(case_id, "smtp") is not None:
        return False
    if cfg.security == "ssl":
        client: smtplib.SMTP = smtplib.SMTP_SSL(
            cfg.host, cfg.port, timeout=cfg.timeout, context=ssl.create_default_context()
        )
    else:
        client = smtplib.SMTP(cfg.host, cfg.port, timeout=cfg.timeout)
    with client:
        if cfg.security == "starttls":
            client.starttls(context=ssl.create_default_context())
        if cfg.username:
            client.login(cfg.username, cfg.password or "")
        client.send_message(msg)
    store.record_delivery(case_id, "smtp", str(msg["To"]), str(msg["Message-ID"]))
    log.info("case %s: delivery mail sent", case_id)
    return True


@dataclass(frozen=True)
class Delivery:
    """Where and how a case's results go: the bundle beside the case's output folder, the outbox, SMTP."""

    outputs_dir: Path
    outbox_dir: Path
    sender: str = "ca-office@localhost"
    smtp: SmtpConfig | None = None  # None: no SMTP server configured (the .eml stays in the outbox)


def deliver(
    store: Store,
    how: Delivery,
    case_id: str,
    *,
    recipient: str | None,
    applicant: str,
    office_name: str,
    attachments: list[Path],
) -> bool:
    """Zip bundle and .eml in the outbox always; SMTP when configured.  True when mail was sent now."""
    bundle = how.outputs_dir / f"{case_id}.zip"
    store.record_output(case_id, "bundle", bundle, store.blobs.put(bundle_zip(attachments, bundle)))
    if not recipient:
        return False
    msg = build_message(
        sender=how.sender,
        recipient=recipient,
        applicant=applicant,
        office_name=office_name,
        case_id=case_id,
        attachments=attachments,
    )
    eml = write_outbox(store, case_id, msg, how.outbox_dir)
    store.record_output(case_id, "mail", eml, store.blobs.put(eml.read_bytes()))
    if how.smtp is None:
        return False
    return send_smtp(store, case_id, msg, how.smtp)
