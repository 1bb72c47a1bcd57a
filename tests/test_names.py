"""The one free-name rule (vae.files) shared by the Train page, training jobs and uploads."""
from __future__ import annotations

import pytest

from vae.files import MAX_NAME_LENGTH, MAX_NAME_NUMBER, NoFreeNameError, next_free_name, split_number


def taken_in(names: set[str]):
    return lambda name: name in names


def test_a_free_name_is_kept():
    assert next_free_name("digits-classic-mlp", taken_in(set())) == "digits-classic-mlp"


def test_after_name_comes_name_2():
    assert next_free_name("digits-classic-mlp", taken_in({"digits-classic-mlp"})) == "digits-classic-mlp-2"


def test_after_name_2_comes_name_3_not_name_2_2():
    taken = {"digits-classic-mlp", "digits-classic-mlp-2"}
    assert next_free_name("digits-classic-mlp-2", taken_in(taken)) == "digits-classic-mlp-3"


def test_numbers_only_go_up_and_skip_taken_ones():
    taken = {"run-7", "run-8", "run-10"}
    assert next_free_name("run-7", taken_in(taken)) == "run-9"
    assert next_free_name("run-7", taken_in(taken - {"run-8"})) == "run-8"


def test_names_that_only_look_numbered_keep_their_number():
    assert split_number("mnist5k-mlp-16d") == ("mnist5k-mlp-16d", 1)
    assert split_number("model-2024") == ("model-2024", 1)  # beyond MAX_NAME_NUMBER: a year, not a copy number
    assert split_number("model-007") == ("model-007", 1)  # a leading zero is part of the name
    assert next_free_name("model-2024", taken_in({"model-2024"})) == "model-2024-2"
    assert next_free_name("3", taken_in({"3"})) == "3-2"


def test_long_names_stay_within_the_length_limit():
    long_name = "a" * MAX_NAME_LENGTH
    free = next_free_name(long_name, taken_in({long_name}))
    assert free == "a" * (MAX_NAME_LENGTH - 2) + "-2" and len(free) == MAX_NAME_LENGTH


def test_no_free_name_left_says_what_to_do():
    with pytest.raises(NoFreeNameError, match="pick another name"):
        next_free_name("x", lambda name: True)
    assert MAX_NAME_NUMBER >= 99
