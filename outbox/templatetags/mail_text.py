"""Filters for the plain-text part of mail."""

import unicodedata

from django import template

register = template.Library()

# Line breaks and other control characters, format characters (bidi overrides, zero-width
# spaces) and the Unicode line and paragraph separators.
BREAKING_CATEGORIES = frozenset({"Cc", "Cf", "Zl", "Zp"})


@register.filter
def quoted(value: object) -> str:
    """Someone's own text (a name, a tenant's or role's name) as one line in quotes.

    Plain-text mail is rendered with autoescape off, so a name holding a line break would start
    lines of its own in a mail sent from Portcullis's address: a forged paragraph, a link that
    looks like ours. Names are refused such characters when they are saved; this keeps any that
    predate that rule, or come from elsewhere, on one line, with the quotes marking where the
    person's text starts and ends.
    """
    text = "".join(
        " " if unicodedata.category(character) in BREAKING_CATEGORIES else character
        for character in str(value)
    )
    return f"\u201c{' '.join(text.split())}\u201d"
