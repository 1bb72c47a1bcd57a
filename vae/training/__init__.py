"""Training: the loop (loop.py), the one run from settings to saved files (run.py), and the app's background jobs (jobs.py).

Import the modules themselves; this file imports nothing (every part needs torch).
"""
