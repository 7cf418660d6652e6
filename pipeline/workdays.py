"""Working-day arithmetic (Saturdays, Sundays and the office's holidays skipped): the deadlines of the
wiring (seed 002: 验核 2, 复核+制作 5, notify 3 working days) and the age of a case in review."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import date, timedelta


def add_working_days(start: date, days: int, holidays: Iterable[date] = ()) -> date:
    """The date ``days`` working days after ``start`` (Saturdays, Sundays and ``holidays`` skipped)."""
    off = set(holidays)
    current = start
    remaining = days
    while remaining > 0:
        current += timedelta(days=1)
        if current.weekday() < 5 and current not in off:
            remaining -= 1
    return current


def working_days_between(start: date, end: date, holidays: Iterable[date] = ()) -> int:
    """Working days after ``start`` up to and including ``end`` (0 when end <= start)."""
    off = set(holidays)
    n, current = 0, start
    while current < end:
        current += timedelta(days=1)
        if current.weekday() < 5 and current not in off:
            n += 1
    return n
