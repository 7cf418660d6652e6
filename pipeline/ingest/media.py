"""CD/USB media: a mounted path or an .iso image (pycdlib) → one case with the request files and scans."""

from __future__ import annotations

import io
from pathlib import Path
from typing import Any

from pipeline.ingest.names import safe_name, unique_name
from pipeline.models import Finding, error, warning

WANTED = (
    ".csr",
    ".req",
    ".p10",
    ".pem",
    ".der",
    ".cer",
    ".crt",
    ".jpg",
    ".jpeg",
    ".png",
    ".tif",
    ".tiff",
    ".pdf",
    ".docx",
    ".xlsx",
    ".bmp",
)
MAX_FILES = 200
MAX_BYTES = 50 * 1024 * 1024


def wanted(name: str) -> bool:
    return name.lower().endswith(WANTED)


def read_mounted(root: Path) -> tuple[list[tuple[str, bytes]], list[Finding]]:
    files: list[tuple[str, bytes]] = []
    findings: list[Finding] = []
    for p in sorted(root.rglob("*")):
        if len(files) >= MAX_FILES:
            findings.append(warning("TOO_MANY_FILES", None, f"介质中文件过多，仅读取前 {MAX_FILES} 个"))
            break
        if not p.is_file() or p.is_symlink() or not wanted(p.name):
            continue
        try:
            if p.stat().st_size > MAX_BYTES:
                findings.append(warning("FILE_TOO_LARGE", None, f"介质中的文件“{safe_name(p.name)}”过大，未读取"))
                continue
            files.append((unique_name(safe_name(p.name), {n for n, _ in files}), p.read_bytes()))
        except OSError as exc:
            findings.append(warning("FILE_UNREADABLE", None, f"介质中的文件“{safe_name(p.name)}”无法读取：{exc}"))
    if not files:
        findings.append(error("MEDIA_NO_FILES", None, "介质中没有找到证书申请文件、证书或扫描件"))
    return files, findings


def read_iso(data: bytes, name: str) -> tuple[list[tuple[str, bytes]], list[Finding]]:
    import pycdlib
    from pycdlib.pycdlibexception import PyCdlibException

    iso = pycdlib.PyCdlib()
    try:
        iso.open_fp(io.BytesIO(data))
    except (PyCdlibException, OSError, ValueError, IndexError, struct_error()) as exc:
        return [], [error("ISO_CORRUPT", None, f"光盘镜像“{name}”无法读取：{exc}")]
    files: list[tuple[str, bytes]] = []
    findings: list[Finding] = []
    try:
        facade, path_attr = _facade(iso)
        for dirpath, _dirs, filenames in facade.walk(**{path_attr: "/"}):
            for fn in filenames:
                if len(files) >= MAX_FILES:
                    break
                clean = fn.split(";")[0]
                if not wanted(clean):
                    continue
                buf = io.BytesIO()
                full = dirpath.rstrip("/") + "/" + fn
                facade.get_file_from_iso_fp(buf, **{path_attr: full})
                blob = buf.getvalue()
                if len(blob) > MAX_BYTES:
                    findings.append(warning("FILE_TOO_LARGE", None, f"光盘中的文件“{safe_name(clean)}”过大，未读取"))
                    continue
                files.append((unique_name(safe_name(clean), {n for n, _ in files}), blob))
    except (PyCdlibException, OSError, ValueError) as exc:
        findings.append(error("ISO_CORRUPT", None, f"光盘镜像“{name}”读取中断：{exc}"))
    finally:
        iso.close()
    if not files:
        findings.append(error("MEDIA_NO_FILES", None, f"光盘镜像“{name}”中没有找到证书申请文件、证书或扫描件"))
    return files, findings


def _facade(iso: Any) -> tuple[Any, str]:
    """Prefer Joliet (Windows burners, Chinese names), then Rock Ridge, then plain ISO 9660."""
    if iso.has_joliet():
        return iso.get_joliet_facade(), "joliet_path"
    if iso.has_rock_ridge():
        return iso.get_rock_ridge_facade(), "rr_path"
    return iso.get_iso9660_facade(), "iso_path"


def struct_error() -> type[Exception]:
    import struct

    return struct.error


def is_iso(data: bytes) -> bool:
    return len(data) > 0x8006 and data[0x8001:0x8006] == b"CD001"
