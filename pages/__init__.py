"""The app's pages, one file each (listed in pages/common/shell.py); their helpers live in pages/common/."""
