"""The clerks' inbox folder, watched with watchdog (inotify, or polling for network shares).

An entry of ``inbox/`` (a subfolder, an archive, an .eml, a loose file) is taken only once it is
complete: its size and mtime (for folders: of every file inside) unchanged for ``settle`` seconds and
no new event in the inbox for as long.  After intake the entry moves to ``processed/`` (or ``failed/``
with a ``.reason.txt``); originals are never deleted.  Events only wake the scanner up: the size/mtime
scan decides, so a missed event on a network share delays intake but never loses a file.
"""

from __future__ import annotations

import logging
import shutil
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

from watchdog.events import FileSystemEvent, FileSystemEventHandler
from watchdog.observers import Observer
from watchdog.observers.polling import PollingObserver

log = logging.getLogger(__name__)

Signature = tuple[int, int, int]  # (total size, newest mtime_ns, file count)


def signature(path: Path) -> Signature | None:
    try:
        if path.is_file():
            st = path.stat()
            return st.st_size, st.st_mtime_ns, 1
        total = newest = count = 0
        for p in path.rglob("*"):
            st = p.stat()
            newest = max(newest, st.st_mtime_ns)
            if p.is_file():
                total += st.st_size
                count += 1
        return total, max(newest, path.stat().st_mtime_ns), count
    except OSError:  # vanished or unreadable while we looked: not settled
        return None


@dataclass
class _Pending:
    sig: Signature
    since: float


@dataclass
class InboxWatcher:
    inbox: Path
    handle: Callable[[Path], None]  # ingest one settled entry; raises on failure
    settle: float = 5.0
    polling: bool = False
    poll_interval: float = 1.0
    _pending: dict[str, _Pending] = field(default_factory=dict)
    _last_event: float = 0.0
    _stop: threading.Event = field(default_factory=threading.Event)

    @property
    def processed(self) -> Path:
        return self.inbox.parent / "processed"

    @property
    def failed(self) -> Path:
        return self.inbox.parent / "failed"

    def _on_event(self, _event: FileSystemEvent) -> None:
        self._last_event = time.monotonic()

    def scan_once(self, now: float | None = None) -> list[Path]:
        """Take every settled entry; returns the entries taken."""
        now = time.monotonic() if now is None else now
        taken: list[Path] = []
        seen: set[str] = set()
        for entry in sorted(self.inbox.iterdir()) if self.inbox.exists() else []:
            if entry.name.startswith((".", "~$")) or entry.name.endswith((".part", ".tmp", ".crdownload")):
                continue
            seen.add(entry.name)
            sig = signature(entry)
            if sig is None:
                self._pending.pop(entry.name, None)
                continue
            p = self._pending.get(entry.name)
            if p is None or p.sig != sig:
                self._pending[entry.name] = _Pending(sig, now)
                continue
            quiet = now - max(p.since, self._last_event)
            if quiet >= self.settle:
                self._take(entry)
                self._pending.pop(entry.name, None)
                taken.append(entry)
        for gone in set(self._pending) - seen:
            self._pending.pop(gone, None)
        return taken

    def take_settled(self, now_wall: float | None = None) -> list[Path]:
        """For a scheduled batch (no watching): take every entry untouched for ``settle`` seconds."""
        now_wall = time.time() if now_wall is None else now_wall
        taken = []
        for entry in sorted(self.inbox.iterdir()) if self.inbox.exists() else []:
            if entry.name.startswith((".", "~$")) or entry.name.endswith((".part", ".tmp", ".crdownload")):
                continue
            sig = signature(entry)
            if sig is not None and now_wall - sig[1] / 1e9 >= self.settle:
                self._take(entry)
                taken.append(entry)
        return taken

    def _take(self, entry: Path) -> None:
        stamp = datetime.now().strftime("%Y%m%d-%H%M%S")
        try:
            self.handle(entry)
        except Exception as exc:  # the originals go to failed/ with the reason; the watcher goes on
            log.exception("intake of %s failed", entry)
            target = _unique(self.failed / f"{stamp}-{entry.name}")
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.move(str(entry), target)
            target.with_name(target.name + ".reason.txt").write_text(f"{type(exc).__name__}: {exc}\n", encoding="utf-8")
            return
        target = _unique(self.processed / f"{stamp}-{entry.name}")
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.move(str(entry), target)

    def run(self, until: Callable[[], bool] | None = None) -> None:
        self.inbox.mkdir(parents=True, exist_ok=True)
        observer = PollingObserver(timeout=self.poll_interval) if self.polling else Observer()
        observer.schedule(_Wake(self._on_event), str(self.inbox), recursive=True)
        observer.start()
        try:
            while not self._stop.is_set() and not (until and until()):
                self.scan_once()
                self._stop.wait(min(self.poll_interval, self.settle / 2))
        finally:
            observer.stop()
            observer.join(timeout=5)

    def stop(self) -> None:
        self._stop.set()


class _Wake(FileSystemEventHandler):
    def __init__(self, callback: Callable[[FileSystemEvent], None]) -> None:
        self.callback = callback

    def on_any_event(self, event: FileSystemEvent) -> None:
        self.callback(event)


def _unique(path: Path) -> Path:
    if not path.exists():
        return path
    i = 2
    while path.with_name(f"{path.name}-{i}").exists():
        i += 1
    return path.with_name(f"{path.name}-{i}")
