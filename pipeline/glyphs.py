"""Characters a text recogniser takes for one another, and texts that differ only by them.

In a printed face ``1`` and ``l`` differ by a serif, ``0`` and ``o`` by their width: the recogniser reads one
for the other at 0.99.  Two readings of the same print that differ only by such characters are one text as
far as a copy can tell; one that drops, adds or changes any other character is another text.
"""

from __future__ import annotations

# lower case: compare lower-cased texts
CONFUSABLE = (
    frozenset("1li|!j"),
    frozenset("0od"),
    frozenset("5s"),
    frozenset("8b"),
    frozenset("2z"),
    frozenset("6bg"),
    frozenset("9gq"),
    frozenset("uv"),
)


def alike(first: str, second: str) -> bool:
    """Whether the texts are the same but for confusable characters (case ignored; same length)."""
    a, b = first.lower(), second.lower()
    if len(a) != len(b):
        return False
    return all(x == y or any(x in g and y in g for g in CONFUSABLE) for x, y in zip(a, b, strict=True))
