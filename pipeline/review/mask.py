"""Masking of ID numbers and phones wherever a whole list of people is shown (queue, logs)."""

from __future__ import annotations


def is_personal(key: str) -> bool:
    """Fields that hold an ID number or a phone (the form's *_id_number / *_phone, the ID copies)."""
    return key.endswith(("id_number", "phone", "mobile")) or (key.startswith("id_card.") and key.endswith("number"))


def mask(value: str) -> str:
    """Keep the first 3 and last 2 characters: 350203********1234 → 350************34."""
    v = value.strip()
    if len(v) <= 5:
        return "*" * len(v)
    return v[:3] + "*" * (len(v) - 5) + v[-2:]
