"""Text from outside, judged one way everywhere: how long, which characters, and how an error may quote it.

Names, evidence, organisation ids, case numbers and list filters are one-line text: they are printed on reports,
written to the audit log and compared in SQL. A control character hides or breaks a line (NUL also breaks
PostgreSQL's text type), a bidirectional override prints "1234" as "4321". An error quotes a value only through
:func:`shown`: short, with any identity number in it masked, so a number pasted into the wrong field never comes
back in full.
"""

from __future__ import annotations

import re
import unicodedata
from typing import Final

from consent.identity import mask

__all__ = ["SHOWN_CHARACTERS", "UNPRINTABLE_CATEGORIES", "one_line_problem", "shown", "unprintable"]

# Unicode categories no one-line text may carry: Cc (C0 and C1 controls, NUL, tab, line feed), Cf (format
# characters: the bidi embeddings, overrides and isolates U+202A-U+202E and U+2066-U+2069, zero-width spaces and
# joiners, the byte-order mark, soft hyphen), Cs (a lone surrogate, which no UTF-8 text can carry), Zl and Zp
# (U+2028, U+2029). A bidi override would print "1234" as "4321"; the others hide or break lines.
UNPRINTABLE_CATEGORIES: Final = frozenset({"Cc", "Cf", "Cs", "Zl", "Zp"})
# The most characters of a value an error message quotes.
SHOWN_CHARACTERS: Final = 32
# Any run of 11 or more digits (an X may end it) is masked in a quoted value, whatever stands beside it: a
# mistyped or glued identity number is still one.
_LONG_NUMBER = re.compile(r"[0-9]{11,}[Xx]?")


def unprintable(text: str) -> str | None:
    """The first character of ``text`` a printed line must not carry (see :data:`UNPRINTABLE_CATEGORIES`),
    as ``U+XXXX``; ``None`` when every character prints as itself."""
    found = next((c for c in text if unicodedata.category(c) in UNPRINTABLE_CATEGORIES), None)
    return None if found is None else f"U+{ord(found):04X}"


def one_line_problem(text: str, longest: int) -> str | None:
    """Why ``text`` is not acceptable one-line text of at most ``longest`` characters (None: it is)."""
    if len(text) > longest:
        return f"is longer than {longest} characters"
    bad = unprintable(text)
    if bad is not None:
        return (
            f"contains {bad}: no control, format (bidi, zero-width) or line/paragraph separator characters"
            f" (at most {longest} characters on one line)"
        )
    return None


def shown(value: object) -> str:
    """``value`` as an error message may quote it: its repr, cut to :data:`SHOWN_CHARACTERS` characters, with
    every identity number in it masked (first 6, last 4)."""
    text = value if isinstance(value, str) else repr(value)
    # Masked before it is cut (a number the cut would split is masked whole), over twice what is shown.
    masked = _LONG_NUMBER.sub(lambda m: mask(m.group(0)), text[: 2 * SHOWN_CHARACTERS])
    cut = masked[:SHOWN_CHARACTERS]
    more = "…" if len(text) > SHOWN_CHARACTERS else ""
    return (repr(cut) if isinstance(value, str) else cut) + more
