"""Selections of test images on the map, numpy only (no torch): a CSV export and the attribute vector from A to B."""
from __future__ import annotations

import csv
import io

import numpy as np

from vae.errors import VAEError

FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")  # a spreadsheet runs a cell starting with these as a formula
ATTRIBUTE_STEPS = 9  # pictures in a strip along an attribute vector
ATTRIBUTE_OVERSHOOT = 0.5  # the strip runs this far beyond A and B, in units of the A-to-B distance
CODE_DIGITS = 9  # significant digits of a code number in the CSV: enough to read float32 back exactly


def check_selection(indices: np.ndarray, count: int) -> np.ndarray:
    """The selected indices as int64 (S,), or a VAEError when one is not an image of the set (0..count-1)."""
    chosen = np.asarray(indices).reshape(-1)
    if chosen.size and (not np.issubdtype(chosen.dtype, np.integer) or chosen.min() < 0 or chosen.max() >= count):
        raise VAEError("The selection names pictures that are not in this test set; select them again on the map.")
    return chosen.astype(np.int64)


def safe_cell(text: str) -> str:
    """Text as a spreadsheet shows it, never runs it: a leading = + - @ tab or return gets a ' in front."""
    return "'" + text if text.startswith(FORMULA_STARTS) else text


def selection_csv(indices: np.ndarray, labels: np.ndarray, class_names: tuple[str, ...], codes: np.ndarray) -> bytes:
    """The selected images as CSV bytes (UTF-8 with a byte-order mark, so spreadsheets read any name).

    In plain words: a table with one row per selected picture: its number in the test set, its class
    and its code numbers. Columns: index, label, class, z1..zD; ``labels`` (N,) and ``codes`` (N, D)
    cover the whole test set and ``indices`` (S,) picks the rows. Class names are quoted as CSV needs
    and made safe from spreadsheet formulas; the numbers are written as numbers.
    """
    data = np.asarray(codes, np.float32)
    data = data.reshape(len(data), -1)
    chosen = check_selection(indices, len(data))
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(["index", "label", "class", *[f"z{dim + 1}" for dim in range(data.shape[1])]])
    for index in chosen:
        label = int(np.asarray(labels)[index])
        name = class_names[label] if 0 <= label < len(class_names) else str(label)
        numbers = [f"{value:.{CODE_DIGITS}g}" for value in data[index]]
        writer.writerow([int(index), label, safe_cell(str(name)), *numbers])
    return buffer.getvalue().encode("utf-8-sig")


def attribute_vector(codes: np.ndarray, indices_a: np.ndarray, indices_b: np.ndarray) -> np.ndarray:
    """The direction (D,) from selection A to selection B: mean code of B minus mean code of A.

    In plain words: what changes in the code when you go from the pictures in A to those in B, such as
    "add a stroke" or "make it bolder".
    """
    data = np.asarray(codes, np.float64).reshape(len(codes), -1)
    first, second = check_selection(indices_a, len(data)), check_selection(indices_b, len(data))
    if not len(first) or not len(second):
        raise VAEError("Select at least one picture for A and one for B.")
    return (data[second].mean(axis=0) - data[first].mean(axis=0)).astype(np.float32)


def attribute_strip(
    codes: np.ndarray, indices_a: np.ndarray, indices_b: np.ndarray,
    steps: int = ATTRIBUTE_STEPS, overshoot: float = ATTRIBUTE_OVERSHOOT,
) -> tuple[np.ndarray, np.ndarray]:
    """Codes along the attribute vector, to decode as a strip: amounts (S,) and codes (S, D).

    Code s is mean(A) + amount_s * (mean(B) - mean(A)), the amounts evenly spaced from -overshoot to
    1 + overshoot: amount 0 is A's average picture, 1 is B's. In plain words: the A pictures turning
    into the B pictures, and a little beyond.
    """
    data = np.asarray(codes, np.float64).reshape(len(codes), -1)
    direction = attribute_vector(data, indices_a, indices_b).astype(np.float64)
    start = data[check_selection(indices_a, len(data))].mean(axis=0)
    amounts = np.linspace(-overshoot, 1.0 + overshoot, steps)
    return amounts, (start + amounts[:, None] * direction).astype(np.float32)
