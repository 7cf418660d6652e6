"""File names from outside: sanitised so they can never address anything outside a case."""

from __future__ import annotations

import re
import unicodedata

_BAD = re.compile(r"[\x00-\x1f\x7f\u200e\u200f\u202a-\u202e\u2066-\u2069]")
MAX_NAME = 120


def safe_name(raw: str, fallback: str = "file") -> str:
    """Last path component only, no control/bidi characters, no leading dots, bounded length."""
    name = unicodedata.normalize("NFC", raw.replace("\\", "/")).split("/")[-1]
    name = _BAD.sub("", name).strip().lstrip(".")
    if not name or name in (".", ".."):
        name = fallback
    if len(name) > MAX_NAME:
        stem, dot, ext = name.rpartition(".")
        name = (stem[: MAX_NAME - len(ext) - 1] + dot + ext) if dot and len(ext) <= 10 else name[:MAX_NAME]
    return name


def unique_name(name: str, taken: set[str]) -> str:
    if name not in taken:
        return name
    stem, dot, ext = name.rpartition(".")
    base, suffix = (stem, f".{ext}") if dot else (name, "")
    i = 2
    while f"{base}-{i}{suffix}" in taken:
        i += 1
    return f"{base}-{i}{suffix}"
