"""One way to compare organisation names everywhere (form ↔ licence ↔ CSR ↔ mail subject ↔ product
certificate): full-width and half-width forms folded (NFKC), every bracket style made one, spaces and
middle dots dropped.  ``厦门东渡电子（集团）有限公司`` and ``厦门东渡电子 (集团) 有限公司`` compare equal."""

from __future__ import annotations

import re
import unicodedata

_OPEN = "([{〔【〖「『"
_CLOSE = ")]}〕】〗」』"
_DROP = re.compile(r"[\s·•・\u200b\u3000]")


def normalise_name(name: str) -> str:
    """The comparison key of an organisation or person name."""
    t = unicodedata.normalize("NFKC", name)
    t = t.translate({ord(c): "（" for c in _OPEN} | {ord(c): "）" for c in _CLOSE})
    return _DROP.sub("", t)


def same_name(a: str | None, b: str | None) -> bool:
    """Both present and equal after normalising."""
    return a is not None and b is not None and normalise_name(a) == normalise_name(b)
