"""Ingest: turn what arrived into cases in the store.

A folder of case folders, one case folder, a loose file, an archive (.zip/.7z), an .eml, an .mbox, a
Maildir or an .iso image each become one case per submission (one per message for mailboxes).  Every
original is stored by sha256 before the case exists; the same set of files arriving again is
recognised by its fingerprint and recorded as a duplicate.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from pathlib import Path

from pipeline.ingest import archive, mail, media
from pipeline.ingest.names import safe_name, unique_name
from pipeline.models import CaseStatus, Finding, error, warning
from pipeline.store import Store, sha256_bytes

log = logging.getLogger(__name__)

MAX_FILE_BYTES = 50 * 1024 * 1024
MAX_FILES_PER_CASE = 200


@dataclass(frozen=True)
class Submission:
    kind: str  # folder | file | email | archive | media
    path: str
    files: list[tuple[str, bytes]]  # the documents of the case
    findings: list[Finding]
    subject: str | None = None
    subject_company: str | None = None
    mail_key: tuple[str, str, str] | None = None  # (mailbox, UIDVALIDITY, UID) for IMAP
    originals: list[tuple[str, bytes]] = field(default_factory=list)  # containers kept as received


@dataclass(frozen=True)
class IngestOutcome:
    case_id: str
    duplicate_of: str | None
    findings: list[Finding]


def expand(
    name: str, data: bytes, files: list[tuple[str, bytes]], originals: list[tuple[str, bytes]], findings: list[Finding]
) -> None:
    """A document goes to ``files``; an archive or a mail goes to ``originals`` and its contents to ``files``."""
    lower = name.lower()
    if lower.endswith(archive.ARCHIVE_SUFFIXES) and archive.is_archive(name, data):
        unpacked = archive.unpack(name, data)
        findings.extend(unpacked.findings)
        inner = unpacked.files
    elif lower.endswith(".eml"):
        _subject, inner, mail_findings = mail.mail_files(data)
        findings.extend(mail_findings)
    elif lower.endswith(archive.ARCHIVE_SUFFIXES):
        findings.append(error("ARCHIVE_CORRUPT", None, f"压缩包“{name}”已损坏或不是压缩文件"))
        originals.append((name, data))
        return
    else:
        files.append((unique_name(name, {n for n, _ in files}), data))
        return
    originals.append((name, data))
    for member, blob in inner:
        files.append((unique_name(member, {n for n, _ in files}), blob))


def _read_folder(folder: Path) -> Submission:
    files: list[tuple[str, bytes]] = []
    originals: list[tuple[str, bytes]] = []
    findings: list[Finding] = []
    taken: set[str] = set()
    entries = sorted(
        p
        for p in folder.rglob("*")
        if p.is_file() and not p.is_symlink() and not any(part.startswith(".") for part in p.relative_to(folder).parts)
    )
    for p in entries[:MAX_FILES_PER_CASE]:
        name = unique_name(safe_name(p.name), taken)
        taken.add(name)
        try:
            size = p.stat().st_size
            if size > MAX_FILE_BYTES:
                findings.append(
                    warning("FILE_TOO_LARGE", None, f"文件“{name}”超过 {MAX_FILE_BYTES // 2**20} MB，未读取")
                )
                continue
            data = p.read_bytes()
        except OSError as exc:
            log.warning("cannot read %s: %s", p, exc)
            findings.append(warning("FILE_UNREADABLE", None, f"文件“{name}”无法读取：{exc.strerror or exc}"))
            continue
        expand(name, data, files, originals, findings)
    if len(entries) > MAX_FILES_PER_CASE:
        findings.append(
            warning("TOO_MANY_FILES", None, f"案件文件数 {len(entries)} 超过上限 {MAX_FILES_PER_CASE}，多余文件未读取")
        )
    return Submission("folder", str(folder), files, findings, originals=originals)


ORIGINAL_MAIL = "原始邮件.eml"


def from_mail_bytes(raw: bytes, source: str, mail_key: tuple[str, str, str] | None = None) -> Submission:
    subject, files, findings = mail.mail_files(raw)
    return Submission(
        "email",
        source,
        files,
        findings,
        subject or None,
        mail.subject_company(subject),
        mail_key,
        originals=[(ORIGINAL_MAIL, raw)],
    )


def from_file(path: Path) -> list[Submission]:
    """One file: an .eml, an mbox, an .iso, an archive, or a loose document (a case of its own)."""
    try:
        data = path.read_bytes()
    except OSError as exc:
        return [Submission("file", str(path), [], [warning("FILE_UNREADABLE", None, f"文件无法读取：{exc}")])]
    name = safe_name(path.name)
    lower = name.lower()
    if lower.endswith(".eml"):
        return [from_mail_bytes(data, str(path))]
    if lower.endswith(".mbox"):
        try:
            return [from_mail_bytes(raw, key) for key, raw in mail.iter_mbox(path)]
        except (OSError, ValueError) as exc:
            return [Submission("email", str(path), [], [error("MBOX_UNREADABLE", None, f"邮箱文件无法读取：{exc}")])]
    if lower.endswith(".iso") or media.is_iso(data):
        files, findings = media.read_iso(data, name)
        return [Submission("media", str(path), files, findings, originals=[(name, data)])]
    files, originals, found = [], [], []  # type: ignore[var-annotated]
    expand(name, data, files, originals, found)
    kind = "archive" if lower.endswith(archive.ARCHIVE_SUFFIXES) else "file"
    return [Submission(kind, str(path), files, found, originals=originals)]


def collect_medium(path: Path) -> list[Submission]:
    """A CD/USB: a mounted folder or an .iso image, one case with its request files and scans."""
    if path.is_dir():
        files, findings = media.read_mounted(path)
        return [Submission("media", str(path), files, findings)]
    subs = from_file(path)
    return [Submission("media", s.path, s.files, s.findings, originals=s.originals) for s in subs]


def collect(path: Path) -> list[Submission]:
    """What one path holds: a file (see :func:`from_file`), a Maildir (a case per message), a folder with
    files only (one case), or a folder of folders (a case per subfolder; loose files are cases of their own)."""
    path = path.resolve()
    if path.is_file():
        return from_file(path)
    if not path.is_dir():
        return []
    if mail.is_maildir(path):
        return [from_mail_bytes(raw, key) for key, raw in mail.iter_maildir(path)]
    children = sorted(p for p in path.iterdir() if not p.name.startswith("."))
    subdirs = [p for p in children if p.is_dir()]
    if not subdirs:
        return [_read_folder(path)]
    subs: list[Submission] = []
    for d in subdirs:
        subs += (
            [from_mail_bytes(raw, key) for key, raw in mail.iter_maildir(d)]
            if mail.is_maildir(d)
            else [_read_folder(d)]
        )
    for f in children:
        if f.is_file():
            subs += from_file(f)
    return subs


def fingerprint(files: list[tuple[str, bytes]]) -> str:
    return sha256_bytes("\n".join(sorted(sha256_bytes(d) for _, d in files)).encode())


def ingest(store: Store, sub: Submission, office: str, actor: str = "system", resume: bool = False) -> IngestOutcome:
    """Store the submission as a case; a fingerprint seen before becomes a duplicate case."""
    findings = list(sub.findings)
    if not sub.files:
        findings.append(warning("SUBMISSION_EMPTY", None, "提交的材料中没有可读取的文件"))
    previous = store.find_by_fingerprint(fingerprint(sub.files)) if sub.files else None
    if resume and previous is not None and previous.source_path == str(sub.path) and previous.source_kind == sub.kind:
        # the same submission from the same place: a run killed after storing it but before moving it out
        # of the inbox sees it again.  Ingest is idempotent: that case, not a second one.
        log.info("submission %s was already ingested as %s", sub.path, previous.id)
        return IngestOutcome(previous.id, None, findings)
    case = store.create_case(
        office=office,
        source_kind=sub.kind,
        source_path=str(sub.path),
        files=sub.files,
        originals=sub.originals,
        subject=sub.subject,
        subject_company=sub.subject_company,
        actor=actor,
        mail_key=sub.mail_key,
    )
    if previous is not None:
        findings.append(
            warning(
                "DUPLICATE_SUBMISSION", None, f"与已受理案件 {previous.id} 的材料完全相同，按重复提交处理，不再重复办理"
            )
        )
        store.replace_findings(case.id, "ingest", findings)
        store.transition(
            case.id, CaseStatus.DUPLICATE, actor=actor, detail=f"duplicate of {previous.id}", duplicate_of=previous.id
        )
        return IngestOutcome(case.id, previous.id, findings)
    store.replace_findings(case.id, "ingest", findings)
    return IngestOutcome(case.id, None, findings)
