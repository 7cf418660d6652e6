"""Mail submissions: .eml (stdlib ``email``, policy default), Maildir and mbox (stdlib ``mailbox``).

Subjects are RFC 2047-decoded; attachment names may be RFC 2231, RFC 2047 or raw GBK/GB18030 bytes
(Chinese mail clients send all three); .zip attachments are unpacked (their names may be GBK) and
attached messages (message/rfc822) contribute their own attachments.  The company is parsed out of
the subject ``企业名称+数字证书申办`` and tolerant variants.
"""

from __future__ import annotations

import email
import mailbox
import re
import unicodedata
from collections.abc import Iterator
from email import policy
from email.header import decode_header, make_header
from email.message import EmailMessage, Message
from pathlib import Path

from pipeline.ingest import archive
from pipeline.ingest.names import safe_name, unique_name
from pipeline.models import Finding, error, warning

MAX_ATTACHMENTS = 100
MAX_NESTED = 3
_SUBJECT = re.compile(
    r"^(?:(?:re|fw|fwd|回复|答复|转发)\s*[:：]\s*)*(?P<company>.+?)\s*[+＋]?\s*数字证书\s*(?:申办|申请|办理)",
    re.IGNORECASE,
)


def subject_company(subject: str | None) -> str | None:
    """``厦门某某有限公司+数字证书申办`` → ``厦门某某有限公司`` (full-width ＋, spaces, 申办/申请 tolerated)."""
    if not subject:
        return None
    text = unicodedata.normalize("NFKC", subject).strip()
    m = _SUBJECT.match(text)
    if not m:
        return None
    company = m.group("company").strip(" +-—_:：")
    return company or None


def _decode_rfc2047(value: str) -> str:
    try:
        return str(make_header(decode_header(value)))
    except (UnicodeDecodeError, LookupError, ValueError):
        return value


def _fix_raw_bytes(text: str) -> str:
    """A header with raw 8-bit GBK bytes arrives with surrogate escapes (or as latin-1 mojibake)."""
    if any("\udc80" <= ch <= "\udcff" for ch in text):
        raw = text.encode("utf-8", errors="surrogateescape")
        for codec in ("utf-8", "gb18030"):
            try:
                return raw.decode(codec)
            except UnicodeDecodeError:
                continue
    if text and all(ord(c) < 256 for c in text) and any(ord(c) > 127 for c in text):
        try:
            return text.encode("latin-1").decode("gb18030")
        except (UnicodeDecodeError, UnicodeEncodeError):
            return text
    return text


def attachment_name(part: Message, index: int) -> str:
    name = part.get_filename()
    if name is None:
        raw = part.get_param("name", header="content-type")
        name = raw if isinstance(raw, str) else None
    if name is None:
        return f"attachment-{index}"
    name = _fix_raw_bytes(_decode_rfc2047(str(name)))
    if "\ufffd" in name:  # raw 8-bit bytes were replaced while parsing: recover them from the raw header
        name = _raw_param_name(part) or name
    return safe_name(name, fallback=f"attachment-{index}")


_RAW_NAME = re.compile(r'(?:file)?name\s*=\s*"?([^";\r\n]+)"?', re.IGNORECASE)


def _raw_param_name(part: Message) -> str | None:
    for header, value in part.raw_items():
        if header.lower() in ("content-disposition", "content-type"):
            m = _RAW_NAME.search(str(value))
            if m:
                fixed = _fix_raw_bytes(m.group(1).strip())
                if "\ufffd" not in fixed:
                    return fixed
    return None


def parse_message(data: bytes) -> EmailMessage:
    return email.message_from_bytes(data, policy=policy.default)


def message_subject(msg: Message) -> str:
    raw = msg.get("Subject", "")
    return _fix_raw_bytes(_decode_rfc2047(str(raw))).strip()


def _walk(msg: Message, files: list[tuple[str, bytes]], findings: list[Finding], depth: int) -> None:
    for index, part in enumerate(msg.walk()):
        if part is msg or part.is_multipart():
            continue
        ctype = part.get_content_type()
        if ctype == "message/rfc822":
            continue  # walk() descends into attached messages itself
        disposition = part.get_content_disposition()
        if disposition != "attachment" and not part.get_filename() and ctype.startswith("text/"):
            continue  # the body text
        if len(files) >= MAX_ATTACHMENTS:
            findings.append(
                error("MAIL_TOO_MANY_ATTACHMENTS", None, f"邮件附件超过 {MAX_ATTACHMENTS} 个，其余附件未读取")
            )
            return
        name = attachment_name(part, index)
        raw_name = part.get_filename() or ""
        if raw_name and archive.suspicious_name(_fix_raw_bytes(_decode_rfc2047(str(raw_name)))):
            shown = str(raw_name).encode("unicode_escape").decode()[:80]
            findings.append(
                warning("FILE_NAME_SANITISED", None, f"邮件附件名“{shown}”含有路径穿越或控制字符，已改为“{name}”")
            )
        try:
            payload = part.get_payload(decode=True) or b""
        except (ValueError, LookupError):
            findings.append(error("MAIL_ATTACHMENT_UNREADABLE", None, f"邮件附件“{name}”无法解码"))
            continue
        assert isinstance(payload, bytes)
        if name.lower().endswith(archive.ARCHIVE_SUFFIXES) and archive.is_archive(name, payload):
            unpacked = archive.unpack(name, payload)
            findings.extend(unpacked.findings)
            for member, blob in unpacked.files:
                files.append((unique_name(member, {n for n, _ in files}), blob))
            continue
        if name.lower().endswith(".eml") and depth < MAX_NESTED:
            _walk(parse_message(payload), files, findings, depth + 1)
            continue
        if not payload:
            findings.append(warning("FILE_EMPTY", None, f"邮件附件“{name}”为空（0 字节）"))
        files.append((unique_name(name, {n for n, _ in files}), payload))


def mail_files(data: bytes) -> tuple[str, list[tuple[str, bytes]], list[Finding]]:
    """(subject, attachments, findings) of one RFC 5322 message."""
    msg = parse_message(data)
    files: list[tuple[str, bytes]] = []
    findings: list[Finding] = []
    _walk(msg, files, findings, 0)
    if not files:
        findings.append(error("MAIL_NO_ATTACHMENTS", None, "邮件中没有附件（申请材料应作为附件发送）"))
    return message_subject(msg), files, findings


def iter_mbox(path: Path) -> Iterator[tuple[str, bytes]]:
    box = mailbox.mbox(str(path), create=False)
    try:
        for key in box.iterkeys():
            yield f"mbox:{path}:{key}", box.get_bytes(key)
    finally:
        box.close()


def iter_maildir(path: Path) -> Iterator[tuple[str, bytes]]:
    box = mailbox.Maildir(str(path), create=False)
    for key in box.iterkeys():
        yield f"maildir:{path}:{key}", box.get_bytes(key)


def is_maildir(path: Path) -> bool:
    return path.is_dir() and all((path / sub).is_dir() for sub in ("cur", "new", "tmp"))
