"""Text a user or a file controls, made safe for Streamlit's Markdown elements: shown exactly as typed."""
from __future__ import annotations

import re

_MARKDOWN_PUNCTUATION = re.compile(r"([!-/:-@\[-`{-~])")  # every ASCII punctuation mark: CommonMark lets "\" quote each
_LINE_BREAKS = re.compile(r"[\x00-\x1f\x7f\u2028\u2029]+")  # control characters and line breaks
_ADDRESS_STARTS = re.compile(r"(?i)https?:(?=//)|www(?=\.)|@")  # where GFM's bare links ("autolink literals") start
WORD_JOINER = "\u2060"  # an invisible character that splits a bare address, so GFM sees no link


def plain(text: object) -> str:
    """``text`` ready for st.markdown, st.caption, st.info, st.warning, st.error, widget labels and pills,
    shown exactly as typed.

    Those read Markdown (links, images, ``:red[...]``, ``$maths$``). Every string a user or a file
    controls (model, dataset, class and file names, values from the link, error messages that quote
    them) goes through here: each ASCII punctuation mark gets a backslash, so no Markdown is left;
    line breaks and control characters become spaces, so nothing starts a new block; and because
    GitHub-flavoured Markdown turns bare addresses ("http://", "www.", "a@b.c") into links even
    after escaping, an invisible word joiner splits each of them. Plain-text widgets (selectbox
    options, dataframes) and the canvas map must get the raw text instead.
    """
    text = _LINE_BREAKS.sub(" ", str(text))
    text = _ADDRESS_STARTS.sub(lambda match: match.group(0) + WORD_JOINER, text)
    return _MARKDOWN_PUNCTUATION.sub(r"\\\1", text)
