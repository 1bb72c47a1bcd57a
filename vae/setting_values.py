"""Reading one setting from a file or a form: a whole number, a number, a word, a list; a value cut short for a message."""
from __future__ import annotations

import numbers

from vae.errors import TrainingError


def whole(value: object, what: str) -> int:
    """``value`` as an int; TrainingError naming ``what`` if it is not a whole number (booleans are not)."""
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        raise TrainingError(f"{what} must be a whole number, got {short(value)}.")
    return int(value)


def real(value: object, what: str) -> float:
    """``value`` as a float; TrainingError naming ``what`` if it is not a number (booleans are not)."""
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise TrainingError(f"{what} must be a number, got {short(value)}.")
    return float(value)


def text(value: object, what: str) -> str:
    """``value`` itself if it is a string; TrainingError naming ``what`` otherwise."""
    if not isinstance(value, str):
        raise TrainingError(f"{what} must be a word, got {short(value)}.")
    return value


def whole_numbers(values: object, what: str, least: int, most: int) -> tuple[int, ...]:
    """A list or tuple of ``least`` to ``most`` whole numbers, as a tuple; TrainingError naming ``what`` otherwise."""
    if not isinstance(values, (list, tuple)) or not least <= len(values) <= most:
        count = f"{most}" if least == most else f"at most {most}" if least == 0 else f"{least} to {most}"
        raise TrainingError(f"{what} must be a list of {count} whole numbers, got {short(values)}.")
    return tuple(whole(value, what) for value in values)


def short(value: object, limit: int = 40) -> str:
    """A value for a message, cut short: a file's settings may hold anything."""
    try:
        text = repr(value)
    except (RecursionError, ValueError):  # deeply nested lists; ints too long to print
        return f"a {type(value).__name__}"
    return text if len(text) <= limit else text[: limit - 3] + "..."
