"""Traditional character forms the recogniser returns, mapped to the simplified forms mainland documents print.

PP-OCR's recogniser was trained on both scripts and sometimes returns the traditional form of a simplified
character it sees (``廈`` for ``厦``, ``強`` for ``强``).  A character is mapped only when it lies outside
GB 2312 (the simplified set every mainland licence, ID card and form is printed in) and OpenCC's
traditional→simplified table maps it to a character inside it: a simplified character is never changed,
and a rare one outside GB 2312 that OpenCC leaves alone (``喆``, ``堃``) stays as read.
"""

from __future__ import annotations

from functools import lru_cache

import opencc

_CONVERTER = opencc.OpenCC("t2s")


def _in_gb2312(ch: str) -> bool:
    try:
        ch.encode("gb2312")
    except UnicodeEncodeError:
        return False
    return True


@lru_cache(maxsize=4096)
def _char(ch: str) -> str:
    if ch.isascii() or _in_gb2312(ch):
        return ch
    out = _CONVERTER.convert(ch)
    return out if len(out) == 1 and out != ch and _in_gb2312(out) else ch


def simplified(text: str) -> str:
    """``text`` with each traditional character the recogniser returned in its simplified form."""
    if text.isascii():
        return text
    return "".join(_char(ch) for ch in text)
