"""Test hook: with this folder on PYTHONPATH, a process's first import of one module is slowed down.

tests/test_browser.py starts a Streamlit server this way to reproduce a busy machine's first seconds
deterministically: the app's first run sits in ``import vae`` (holding Python's import lock for it,
as a slow import does) while the browser already shows the page. Set VAE_SLOW_IMPORT_S (seconds)
and, optionally, VAE_SLOW_IMPORT_MODULE (default "vae"). Never imported by the app itself.
"""
import importlib.abc
import importlib.machinery
import os
import sys
import time

DELAY_S = float(os.environ.get("VAE_SLOW_IMPORT_S") or 0)
MODULE = os.environ.get("VAE_SLOW_IMPORT_MODULE", "vae")


class SlowFirstImport(importlib.abc.MetaPathFinder):
    """Finds MODULE once, through the normal path finder, and makes its loader wait DELAY_S before running it."""

    def find_spec(self, name, path=None, target=None):
        if name != MODULE:
            return None
        sys.meta_path.remove(self)  # only the first import is slow
        spec = importlib.machinery.PathFinder.find_spec(name, path)
        if spec is None or spec.loader is None:
            return spec
        run_module = spec.loader.exec_module

        def exec_module(module):
            time.sleep(DELAY_S)  # inside the import: other threads importing MODULE wait, as they would
            run_module(module)

        spec.loader.exec_module = exec_module
        return spec


if DELAY_S > 0:
    sys.meta_path.insert(0, SlowFirstImport())
