"""Archive unpacking with limits: .zip (GBK/GB18030 names), .7z (py7zr), nested archives and .eml.

Nothing is written to disk: members are read into memory with bounded reads (sizes in headers are
not trusted) and their names sanitised, so nothing can land outside the case.  Bombs, too many
entries and too deep nesting are refused with findings.
"""

from __future__ import annotations

import io
import re
import unicodedata
import zipfile
from dataclasses import dataclass, field

from pipeline.ingest.names import safe_name, unique_name
from pipeline.models import Finding, error, warning


@dataclass(frozen=True)
class Limits:
    max_total_bytes: int = 200 * 1024 * 1024
    max_member_bytes: int = 50 * 1024 * 1024
    max_entries: int = 500
    max_depth: int = 3
    max_ratio: int = 200  # uncompressed / compressed for one member larger than 1 MiB


@dataclass
class Unpacked:
    files: list[tuple[str, bytes]] = field(default_factory=list)
    findings: list[Finding] = field(default_factory=list)
    total: int = 0
    entries: int = 0


ARCHIVE_SUFFIXES = (".zip", ".7z")


def is_archive(name: str, data: bytes) -> bool:
    return (data[:4] == b"PK\x03\x04" and not _is_ooxml(data)) or data[:6] == b"7z\xbc\xaf\x27\x1c"


def _is_ooxml(data: bytes) -> bool:
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as zf:
            names = set(zf.namelist())
    except Exception:  # not a zip we can read: not OOXML either
        return False
    return "[Content_Types].xml" in names


def zip_member_name(info: zipfile.ZipInfo) -> str:
    """Names without the UTF-8 flag are bytes in the creator's code page: Chinese Windows writes GBK."""
    name = info.orig_filename  # zipfile cuts `filename` at a NUL; keep it whole so it is seen and reported
    if info.flag_bits & 0x800:
        return name
    raw = name.encode("cp437", errors="replace")
    for codec in ("utf-8", "gb18030"):
        try:
            return raw.decode(codec)
        except UnicodeDecodeError:
            continue
    return name


def unpack(name: str, data: bytes, limits: Limits = Limits(), depth: int = 1, out: Unpacked | None = None) -> Unpacked:
    out = out or Unpacked()
    if depth > limits.max_depth:
        out.findings.append(
            error("ARCHIVE_TOO_DEEP", None, f"压缩包“{name}”嵌套超过 {limits.max_depth} 层，已拒绝解压")
        )
        return out
    if data[:6] == b"7z\xbc\xaf\x27\x1c":
        return _unpack_7z(name, data, limits, depth, out)
    try:
        zf = zipfile.ZipFile(io.BytesIO(data))
    except Exception as exc:  # zipfile raises BadZipFile, NotImplementedError (unknown versions), EOFError, …
        out.findings.append(error("ARCHIVE_CORRUPT", None, f"压缩包“{name}”已损坏，无法解压：{exc}"))
        return out
    with zf:
        infos = [i for i in zf.infolist() if not i.filename.endswith("/")]  # is_dir() fails on empty names
        if out.entries + len(infos) > limits.max_entries:
            out.findings.append(
                error(
                    "ARCHIVE_TOO_MANY_ENTRIES",
                    None,
                    f"压缩包“{name}”包含 {len(infos)} 个文件，超过上限 {limits.max_entries}，已拒绝解压",
                )
            )
            return out
        for info in infos:
            member = zip_member_name(info)
            if info.flag_bits & 0x1:
                out.findings.append(error("ARCHIVE_ENCRYPTED", None, f"压缩包“{name}”中的“{safe_name(member)}”已加密"))
                continue
            try:
                with zf.open(info) as fh:
                    blob = fh.read(limits.max_member_bytes + 1)
            except Exception as exc:  # zipfile/zlib raise many types on damaged members
                out.findings.append(
                    error("ARCHIVE_CORRUPT", None, f"压缩包“{name}”中的“{safe_name(member)}”无法解压：{exc}")
                )
                continue
            if not _accept(name, member, blob, info.compress_size, limits, out):
                return out
            _add(member, blob, limits, depth, out)
    return out


def _accept(name: str, member: str, blob: bytes, packed: int, limits: Limits, out: Unpacked) -> bool:
    if (
        len(blob) > limits.max_member_bytes
        or out.total + len(blob) > limits.max_total_bytes
        or (len(blob) > 1024 * 1024 and len(blob) > limits.max_ratio * max(packed, 1))
    ):
        out.findings.append(
            error("ARCHIVE_BOMB", None, f"压缩包“{name}”解压后过大（疑似压缩炸弹），已停止解压：{safe_name(member)}")
        )
        return False
    out.total += len(blob)
    out.entries += 1
    return True


def suspicious_name(member: str) -> bool:
    """An absolute path, a drive letter, a `..` component, or control/bidi characters."""
    parts = member.replace("\\", "/").split("/")
    return (
        member.startswith(("/", "\\"))
        or re.match(r"^[A-Za-z]:", member) is not None
        or ".." in parts
        or safe_name(parts[-1]) != unicodedata.normalize("NFC", parts[-1]).strip()
    )


def _add(member: str, blob: bytes, limits: Limits, depth: int, out: Unpacked) -> None:
    leaf = safe_name(member)
    if suspicious_name(member):
        shown = member.encode("unicode_escape").decode()[:80]
        out.findings.append(
            warning("FILE_NAME_SANITISED", None, f"压缩包中的文件名“{shown}”含有路径穿越或控制字符，已改为“{leaf}”")
        )
    if leaf.lower().endswith(ARCHIVE_SUFFIXES) and is_archive(leaf, blob):
        unpack(leaf, blob, limits, depth + 1, out)
        return
    if not blob:
        out.findings.append(warning("FILE_EMPTY", None, f"压缩包中的文件“{leaf}”为空（0 字节）"))
    taken = {n for n, _ in out.files}
    out.files.append((unique_name(leaf, taken), blob))


def _unpack_7z(name: str, data: bytes, limits: Limits, depth: int, out: Unpacked) -> Unpacked:
    try:
        import py7zr
    except ImportError:
        out.findings.append(warning("ARCHIVE_UNSUPPORTED", None, f"无法解压 7z 文件“{name}”（未安装 py7zr）"))
        return out
    try:
        with py7zr.SevenZipFile(io.BytesIO(data)) as sz:
            infos = [i for i in sz.list() if not i.is_directory]
            if out.entries + len(infos) > limits.max_entries:
                out.findings.append(
                    error(
                        "ARCHIVE_TOO_MANY_ENTRIES",
                        None,
                        f"压缩包“{name}”包含 {len(infos)} 个文件，超过上限 {limits.max_entries}",
                    )
                )
                return out
            declared = sum(int(i.uncompressed or 0) for i in infos)
            if declared > limits.max_total_bytes or out.total + declared > limits.max_total_bytes:
                out.findings.append(error("ARCHIVE_BOMB", None, f"压缩包“{name}”解压后过大，已拒绝解压"))
                return out
            factory = py7zr.io.BytesIOFactory(limits.max_member_bytes + 1)
            sz.extractall(factory=factory)
            for member, bio in factory.products.items():
                bio.seek(0)
                blob = bio.read()
                if not _accept(name, member, blob, len(data), limits, out):
                    return out
                _add(member, blob, limits, depth, out)
    except Exception as exc:  # py7zr raises many types on corrupt input
        out.findings.append(error("ARCHIVE_CORRUPT", None, f"压缩包“{name}”已损坏，无法解压：{type(exc).__name__}"))
    return out
