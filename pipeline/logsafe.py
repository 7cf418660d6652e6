"""Logs never carry a full ID number, mobile number or secret: a filter masks them in every record.

``mask`` also cleans text a role without the need must not read in full (finding messages written before
messages were masked at the source); ``mask_id`` / ``mask_phone`` mask one value for a message.
"""

from __future__ import annotations

import logging
import re

# an 18-character resident ID, also glued to a label ("id350203…") or written in groups ("350203 19950804 9798")
_ID = re.compile(r"(?<!\d)(\d{6})[ \-]?\d{8}[ \-]?(\d{3}[\dXx])(?![0-9A-Za-z])")
# a mainland mobile number, also "+86 138 1234 5678" / "138-1234-5678"
_MOBILE = re.compile(r"(?<!\d)((?:\+?86[ \-]?)?1[3-9]\d)[ \-]?\d{4}[ \-]?(\d{4})(?!\d)")
_SECRET = re.compile(r"(?i)(password|passwd|secret|token)(\s*[=:]\s*)\S+")


def mask(text: str) -> str:
    text = _ID.sub(lambda m: f"{m.group(1)}********{m.group(2)}", text)
    text = _MOBILE.sub(lambda m: f"{m.group(1)}****{m.group(2)}", text)
    return _SECRET.sub(lambda m: f"{m.group(1)}{m.group(2)}***", text)


def mask_id(value: str) -> str:
    """An ID number for a message: the first and last 4 characters (3502**********9797)."""
    v = "".join(value.split())
    if len(v) < 10:
        return "*" * len(v)
    return v[:4] + "*" * (len(v) - 8) + v[-4:]


def mask_phone(value: str) -> str:
    """A phone number for a message: 138****5678 (other numbers: the first 3 and last 2 characters)."""
    v = "".join(value.split())
    digits = "".join(c for c in v if c.isdigit())
    if len(digits) == 11 and digits.startswith("1"):
        return digits[:3] + "****" + digits[-4:]
    if len(v) <= 5:
        return "*" * len(v)
    return v[:3] + "*" * (len(v) - 5) + v[-2:]


class MaskingFilter(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        masked = mask(message)
        if masked != message:
            record.msg, record.args = masked, None
        if record.exc_info and record.exc_info[1] is not None:
            record.exc_text = mask(logging.Formatter().formatException(record.exc_info))
            record.exc_info = None
        return True


def install(logger: logging.Logger | None = None) -> None:
    """Attach the filter to every handler of ``logger`` (default: the root logger)."""
    target = logger or logging.getLogger()
    for handler in target.handlers:
        if not any(isinstance(f, MaskingFilter) for f in handler.filters):
            handler.addFilter(MaskingFilter())
