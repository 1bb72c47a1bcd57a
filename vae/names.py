"""Free names for new models and uploads: ``name``, then ``name-2``, ``name-3``... (no torch)."""
from __future__ import annotations

import re
from typing import Callable

from vae.catalog import MAX_NAME_LENGTH, sanitize_name
from vae.errors import VAEError

MAX_NAME_NUMBER = 999  # a trailing "-N" up to this counts as a copy number; larger ones (a year) are part of the name
_NUMBERED = re.compile(r"^(?P<stem>.+?)-(?P<number>[1-9][0-9]{0,2})$")


class NoFreeNameError(VAEError):
    """No free name is left near the one asked for."""


def split_number(name: str) -> tuple[str, int]:
    """``("digits-mlp", 2)`` for ``"digits-mlp-2"``; ``(name, 1)`` when it ends in no copy number."""
    match = _NUMBERED.match(name)
    if match and int(match["number"]) <= MAX_NAME_NUMBER:
        return match["stem"], int(match["number"])
    return name, 1


def next_free_name(name: str, is_taken: Callable[[str], bool], max_length: int = MAX_NAME_LENGTH) -> str:
    """``name`` when it is free, else the next numbered name that is: after ``x`` comes ``x-2``, after ``x-2`` ``x-3``.

    Numbers only go up from the one ``name`` ends in, so a suggestion never goes back to an older
    name. The stem is shortened when needed so that every candidate fits ``max_length`` characters.

    Args:
        name: A sanitized name (see ``vae.catalog.sanitize_name``).
        is_taken: Whether a candidate name is already used (a file exists, a run writes it...).
        max_length: Longest name allowed.

    Raises:
        NoFreeNameError: Every number up to MAX_NAME_NUMBER is taken.
    """
    if not is_taken(name):
        return name
    stem, number = split_number(name)
    for candidate_number in range(number + 1, MAX_NAME_NUMBER + 1):
        suffix = f"-{candidate_number}"
        candidate = sanitize_name(stem[: max_length - len(suffix)]) + suffix
        if not is_taken(candidate):
            return candidate
    raise NoFreeNameError(f"There is no free name left like {name}; pick another name, or delete some old ones.")
