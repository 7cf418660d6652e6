"""Ingest: turn what arrived (a folder of case folders, one case folder, a file) into cases in the store.

Issue scope here: local paths.  Every original is stored by sha256 before the case exists; the same
set of files arriving again is recognised by its fingerprint and recorded as a duplicate.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path

from pipeline.ingest.names import safe_name, unique_name
from pipeline.models import Finding, warning
from pipeline.store import Store, sha256_bytes

log = logging.getLogger(__name__)

MAX_FILE_BYTES = 50 * 1024 * 1024
MAX_FILES_PER_CASE = 200


@dataclass(frozen=True)
class Submission:
    kind: str  # folder | file
    path: Path
    files: list[tuple[str, bytes]]
    findings: list[Finding]
    subject: str | None = None
    subject_company: str | None = None


@dataclass(frozen=True)
class IngestOutcome:
    case_id: str
    duplicate_of: str | None
    findings: list[Finding]


def _read_folder(folder: Path) -> Submission:
    files: list[tuple[str, bytes]] = []
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
            files.append((name, p.read_bytes()))
        except OSError as exc:
            log.warning("cannot read %s: %s", p, exc)
            findings.append(warning("FILE_UNREADABLE", None, f"文件“{name}”无法读取：{exc.strerror or exc}"))
    if len(entries) > MAX_FILES_PER_CASE:
        findings.append(
            warning("TOO_MANY_FILES", None, f"案件文件数 {len(entries)} 超过上限 {MAX_FILES_PER_CASE}，多余文件未读取")
        )
    return Submission("folder", folder, files, findings)


def collect(path: Path) -> list[Submission]:
    """A file → one case; a folder with files only → one case; a folder of folders → a case each
    (loose files beside them become cases of their own)."""
    path = path.resolve()
    if path.is_file():
        try:
            data = path.read_bytes()
        except OSError as exc:
            return [Submission("file", path, [], [warning("FILE_UNREADABLE", None, f"文件无法读取：{exc}")])]
        return [Submission("file", path, [(safe_name(path.name), data)], [])]
    if not path.is_dir():
        return []
    children = sorted(p for p in path.iterdir() if not p.name.startswith("."))
    subdirs = [p for p in children if p.is_dir()]
    if not subdirs:
        return [_read_folder(path)]
    subs = [_read_folder(d) for d in subdirs]
    subs += [Submission("file", f, [(safe_name(f.name), f.read_bytes())], []) for f in children if f.is_file()]
    return subs


def fingerprint(files: list[tuple[str, bytes]]) -> str:
    return sha256_bytes("\n".join(sorted(sha256_bytes(d) for _, d in files)).encode())


def ingest(store: Store, sub: Submission, office: str, actor: str = "system") -> IngestOutcome:
    """Store the submission as a case; a fingerprint seen before becomes a duplicate case."""
    findings = list(sub.findings)
    if not sub.files:
        findings.append(warning("SUBMISSION_EMPTY", None, "提交的材料中没有可读取的文件"))
    previous = store.find_by_fingerprint(fingerprint(sub.files)) if sub.files else None
    case = store.create_case(
        office=office,
        source_kind=sub.kind,
        source_path=str(sub.path),
        files=sub.files,
        subject=sub.subject,
        subject_company=sub.subject_company,
        actor=actor,
    )
    if previous is not None:
        findings.append(
            warning(
                "DUPLICATE_SUBMISSION", None, f"与已受理案件 {previous.id} 的材料完全相同，按重复提交处理，不再重复办理"
            )
        )
        store.replace_findings(case.id, "ingest", findings)
        store.transition(
            case.id, "duplicate", actor=actor, detail=f"duplicate of {previous.id}", duplicate_of=previous.id
        )
        return IngestOutcome(case.id, previous.id, findings)
    store.replace_findings(case.id, "ingest", findings)
    return IngestOutcome(case.id, None, findings)
