"""vae.analysis.selections: the CSV export read back with the csv module, and the attribute vector's arithmetic by hand."""
from __future__ import annotations

import csv
import io

import numpy as np
import pytest

from vae.analysis.selections import attribute_strip, attribute_vector, selection_csv
from vae.errors import VAEError

HOSTILE_NAMES = ("plain", "comma, inside", 'say "hi"', "two\nlines", "=cmd|' /C calc'!A0", "+1", "-2", "@SUM(A1)",
                 "\tTAB", "ünïcödé 数字")


def _read(data: bytes) -> list[list[str]]:
    assert data.startswith(b"\xef\xbb\xbf")  # the byte-order mark spreadsheets need to read UTF-8
    return list(csv.reader(io.StringIO(data.decode("utf-8-sig"), newline="")))


def test_csv_rows_hold_index_label_class_and_the_exact_codes():
    rng = np.random.default_rng(0)
    codes = rng.standard_normal((10, 3)).astype(np.float32) * 5
    labels = np.arange(10) % len(HOSTILE_NAMES)
    rows = _read(selection_csv(np.array([7, 2, 9]), labels, HOSTILE_NAMES, codes))
    assert rows[0] == ["index", "label", "class", "z1", "z2", "z3"]
    assert [int(row[0]) for row in rows[1:]] == [7, 2, 9]
    assert [int(row[1]) for row in rows[1:]] == [7, 2, 9]
    read_back = np.array([[float(value) for value in row[3:]] for row in rows[1:]], np.float32)
    assert np.array_equal(read_back, codes[[7, 2, 9]])  # float32 survives the text round trip exactly


def test_csv_class_names_survive_commas_quotes_newlines_and_cannot_run_as_formulas():
    codes = -np.ones((len(HOSTILE_NAMES), 2), np.float32)  # negative numbers stay numbers, unquoted
    rows = _read(selection_csv(np.arange(len(HOSTILE_NAMES)), np.arange(len(HOSTILE_NAMES)), HOSTILE_NAMES, codes))
    names = [row[2] for row in rows[1:]]
    expected = [("'" + name if name[0] in "=+-@\t" else name) for name in HOSTILE_NAMES]
    assert names == expected
    assert all(row[3:] == ["-1", "-1"] for row in rows[1:])
    assert len(rows) == len(HOSTILE_NAMES) + 1  # a newline inside a name did not split its row


def test_csv_label_without_a_name_gets_its_number():
    rows = _read(selection_csv([0], np.array([5]), ("a", "b"), np.zeros((1, 2))))
    assert rows[1][:3] == ["0", "5", "5"]


@pytest.mark.parametrize("indices", [[10], [-1], [0.5], np.array([1.0, 2.0])])
def test_csv_refuses_a_selection_outside_the_test_set(indices):
    with pytest.raises(VAEError, match="select them again"):
        selection_csv(indices, np.zeros(10, int), ("a",), np.zeros((10, 2)))


def test_an_empty_selection_gives_the_header_only():
    assert _read(selection_csv([], np.zeros(3, int), ("a",), np.zeros((3, 2)))) == [["index", "label", "class", "z1", "z2"]]


def test_attribute_vector_is_the_difference_of_mean_codes():
    codes = np.random.default_rng(1).standard_normal((20, 4))
    a, b = [1, 4, 6], [0, 2, 3, 19]
    by_hand = [sum(codes[i][d] for i in b) / len(b) - sum(codes[i][d] for i in a) / len(a) for d in range(4)]
    assert np.allclose(attribute_vector(codes, a, b), by_hand, atol=1e-6)


def test_attribute_strip_runs_from_the_mean_of_a_to_the_mean_of_b_and_beyond():
    codes = np.random.default_rng(2).standard_normal((20, 3))
    a, b = [1, 4, 6], [0, 2]
    amounts, strip = attribute_strip(codes, a, b, steps=9, overshoot=0.5)
    assert np.allclose(amounts, [-0.5, -0.25, 0, 0.25, 0.5, 0.75, 1, 1.25, 1.5])
    assert np.allclose(strip[2], codes[a].mean(axis=0), atol=1e-6)
    assert np.allclose(strip[6], codes[b].mean(axis=0), atol=1e-6)
    assert np.allclose(np.diff(strip, axis=0), np.diff(strip, axis=0)[0], atol=1e-6)  # evenly spaced, straight


def test_attribute_vector_needs_both_selections():
    with pytest.raises(VAEError, match="one for B"):
        attribute_vector(np.zeros((5, 2)), [0, 1], [])
