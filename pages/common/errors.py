"""Errors on a page or in a widget callback become plain messages, never tracebacks."""
from __future__ import annotations

import logging
from contextlib import contextmanager
from functools import wraps
from typing import Callable, Iterator, ParamSpec

import streamlit as st

import vae
from pages.common.text import plain

LOGGER = logging.getLogger("vae_explorer")
CALLBACK_ERROR_KEY = "callback_error"  # what a failed widget callback has to say; the next run shows it
UNEXPECTED_ERROR = ("Something went wrong while drawing this part of the page. Try another choice or reload the page; "
                    "if it keeps happening, pick another model on the Models page.")
Params = ParamSpec("Params")


@contextmanager
def friendly_errors(already_shown: str | None = None) -> Iterator[None]:
    """Show any error inside the block as a plain message, never a traceback.

    A ``vae.VAEError`` already says what to do; anything else is logged for the developers.
    Streamlit's own rerun/stop signals are BaseExceptions and pass through untouched. A message
    equal to ``already_shown`` (a failed callback's, shown just before) is not shown twice.
    """
    try:
        yield
    except vae.VAEError as error:
        if str(error) != already_shown:
            st.error(plain(error))
    except Exception:  # noqa: BLE001 - the page must survive any bad input
        LOGGER.exception("Unexpected error on a page")
        if already_shown != UNEXPECTED_ERROR:
            st.error(UNEXPECTED_ERROR)


def guarded(callback: Callable[Params, None]) -> Callable[Params, None]:
    """``callback`` made safe for a widget's on_change/on_click: an error becomes a plain message, never a traceback.

    Callbacks run before the page, outside its ``friendly_errors``; the message waits in session
    state until :func:`show_callback_error` shows it (e.g. the model was deleted in another tab).
    """
    @wraps(callback)
    def run(*args: Params.args, **kwargs: Params.kwargs) -> None:
        try:
            callback(*args, **kwargs)
        except vae.VAEError as error:
            st.session_state[CALLBACK_ERROR_KEY] = str(error)
        except Exception:  # noqa: BLE001 - a click must never show a traceback
            LOGGER.exception("Unexpected error in a widget callback")
            st.session_state[CALLBACK_ERROR_KEY] = UNEXPECTED_ERROR

    return run


def show_callback_error() -> str | None:
    """Show the message of a callback that failed just before this run (once); returns it, or None."""
    message = st.session_state.pop(CALLBACK_ERROR_KEY, None)
    if message:
        st.error(plain(message))
    return message


def save_failed_words(error: OSError) -> str:
    """What a page says when a model file could not be written: the system's reason, never a server path."""
    return (f"The model could not be saved ({plain(error.strerror or 'a file error')}). Check that the models folder "
            f"can be written to and that the disk has free space.")
