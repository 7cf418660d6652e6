"""Crash-safe file writes: a temporary name in the same directory, fsync, then an atomic rename."""

from __future__ import annotations

import os
import secrets
import socket
import time
from pathlib import Path

_HOST = socket.gethostname().replace(".", "_")[:32] or "host"


def atomic_write(path: Path, data: bytes, mode: int = 0o644) -> None:
    """Write ``data`` to ``path`` so that a reader (or a crash) never sees a half-written file."""
    path.parent.mkdir(parents=True, exist_ok=True)
    # host and pid in the name: a sweep can tell a dead writer's leftover from a live writer's file
    tmp = path.with_name(f".{path.name}.{_HOST}.{os.getpid()}.{secrets.token_hex(4)}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, mode)
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    finally:
        if tmp.exists():
            tmp.unlink()


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def sweep_temp(root: Path, max_age: float = 3600.0) -> list[Path]:
    """Remove what a killed writer left: temp files of dead processes on this host, and any host's temp
    files older than ``max_age`` seconds.  Returns the removed paths."""
    removed: list[Path] = []
    if not root.is_dir():
        return removed
    now = time.time()
    for tmp in root.rglob(".*.tmp"):
        parts = tmp.name.rsplit(".", 4)  # ['.name…', host, pid, token, 'tmp']
        try:
            dead = len(parts) == 5 and parts[1] == _HOST and not _alive(int(parts[2]))
            stale = now - tmp.stat().st_mtime > max_age
        except (ValueError, OSError):
            continue
        if dead or stale:
            tmp.unlink(missing_ok=True)
            removed.append(tmp)
    return removed
