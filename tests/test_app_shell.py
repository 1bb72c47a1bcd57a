"""The app's frame (pages/common/shell.py): which files are pages, the first run of a sub-page link, the tab icon."""
from __future__ import annotations

from pathlib import Path

import pytest
import streamlit as st
from streamlit.commands.page_config import _get_favicon_string
from streamlit.source_util import page_icon_and_name

from conftest import assert_clean
from pages.common import shell

ROOT = Path(__file__).resolve().parent.parent
PAGE_NAMES = {"home", "tour", "explore", "interpolate", "generate", "reconstructions", "compare", "train", "models"}


def served_by_pages_folder_mode() -> set[Path]:
    """The files Streamlit's pages-folder mode makes pages of (streamlit's script_runner._mpa_v1: pages/*.py)."""
    return {path for path in (ROOT / "pages").glob("*.py") if not path.name.startswith(".") and path.name != "__init__.py"}


def helper_modules() -> set[Path]:
    """Every Python file under pages/ that is not a page."""
    pages = {ROOT / spec.path for spec in shell.PAGES}
    return {path for path in (ROOT / "pages").rglob("*.py") if path not in pages and path.name != "__init__.py"}


def test_only_the_pages_are_pages_or_urls():
    navigation = {ROOT / spec.path for spec in shell.PAGES}
    assert {page_icon_and_name(path)[1] for path in navigation} == PAGE_NAMES
    # Before app.py's navigation has run, Streamlit serves pages/*.py under their names (/explore ...).
    assert served_by_pages_folder_mode() == navigation
    helpers = helper_modules()
    assert {path.name for path in helpers} >= {"model_access.py", "latent_map.py", "train_choices.py", "shell.py"}
    assert not {page_icon_and_name(path)[1] for path in helpers} & {
        page_icon_and_name(path)[1] for path in served_by_pages_folder_mode() | navigation}


@pytest.mark.slow
def test_a_helper_module_is_no_page_of_the_navigation(app):
    app.run()
    for helper in sorted(helper_modules()):
        with pytest.raises(ValueError, match="Could not find a navigation page"):
            app.switch_page(str(helper.relative_to(ROOT)))


@pytest.mark.slow
@pytest.mark.parametrize("spec", shell.PAGES, ids=lambda spec: Path(spec.path).stem)
def test_a_link_to_a_page_as_the_very_first_run_shows_it_inside_the_app(app, spec):
    app.switch_page(spec.path).run()  # before any run: Streamlit's pages-folder mode runs the file on its own
    assert_clean(app)
    assert app.title, "the page drew nothing"
    assert app.sidebar.selectbox(key="sidebar_model").value  # app.py's sidebar is there: the app ran the page


@pytest.mark.slow
def test_the_tab_icon_is_a_local_file(app, monkeypatch):
    configs = []
    set_page_config = st.set_page_config

    def record(**config) -> None:
        configs.append(config)
        set_page_config(**config)

    monkeypatch.setattr(st, "set_page_config", record)
    app.run()
    assert_clean(app)
    icon = configs[-1]["page_icon"]
    assert Path(icon).is_file() and Path(icon).resolve().is_relative_to(ROOT)
    assert _get_favicon_string(icon).startswith("data:image/svg+xml;base64,")  # sent inline: nothing to fetch
