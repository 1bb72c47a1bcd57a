"""Helpers of the pages (caches, session keys, the map component, the app's frame); never pages themselves.

They live in this subpackage, not next to the page files, because Streamlit lists every ``pages/*.py``
as a page while its pages-folder mode lasts (see shell.py).
"""
