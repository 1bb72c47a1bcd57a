"""What watching a training run costs the machine: CPU seconds per second of the web server, of Chromium (by process
kind) and of the training process, with the trainer's tab on the Train page and then on the Models page.

Run from the repository root (Linux: it reads /proc; needs Debian's chromium and playwright):

    python benchmarks/train_page_cost.py [--seconds 30]

It serves a temporary copy of checkpoints/ and starts, from a page, the run benchmarks/app_speed.py uses for its
"3rd user trains" phase (mnist-5k, conv-2d, 50 epochs; stopped at the end). On one machine the trainer's browser
shares the cores with the server and every other user's browser, so what it spends is what their clicks wait for.
"""
from __future__ import annotations

import argparse
import os
import shutil
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(ROOT)]

from benchmarks import app_speed  # noqa: E402
from benchmarks import browser_harness as h  # noqa: E402


TICKS = os.sysconf("SC_CLK_TCK")


def cpu_seconds(pid: int) -> float:
    """User + system CPU seconds of one process so far, from /proc (0 once it has gone)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / TICKS  # utime, stime (fields 14 and 15 of proc(5))


def command_line(pid: int) -> list[str]:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().decode(errors="replace").split("\0")
    except OSError:
        return []


def descendants(pid: int) -> list[int]:
    """Every process below ``pid``."""
    parents = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                parents[int(entry.name)] = int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1])
            except (OSError, ValueError, IndexError):
                continue
    found, frontier = [], [pid]
    while frontier:
        children = [child for child, parent in parents.items() if parent in frontier]
        found += children
        frontier = children
    return found


def process_kind(pid: int) -> str:
    """Chromium's process kind (renderer, gpu-process, ...) from its command line; "browser" for the main one."""
    words = " ".join(command_line(pid)).split()  # Chromium rewrites its children's titles: one string, no NULs
    kinds = [arg.removeprefix("--type=") for arg in words if arg.startswith("--type=")]
    return kinds[0] if kinds else "browser"


def measure(server_pid: int, seconds: float) -> dict:
    """CPU seconds per wall second over ``seconds``: server, training process, Chromium in all and by kind."""
    workers = [pid for pid in descendants(server_pid) if "vae.training.worker" in command_line(pid)]
    chromium = [pid for pid in descendants(os.getpid()) if "chrom" in " ".join(command_line(pid)[:1])]
    watched = [server_pid, *workers, *chromium]
    start = {pid: cpu_seconds(pid) for pid in watched}
    began = time.monotonic()
    time.sleep(seconds)
    wall = time.monotonic() - began
    used = {pid: max(0.0, cpu_seconds(pid) - start[pid]) / wall for pid in watched}
    kinds = Counter()
    for pid in chromium:
        kinds[process_kind(pid)] += used[pid]
    return {"server": used[server_pid], "training": sum(used[pid] for pid in workers),
            "chromium": sum(used[pid] for pid in chromium), "chromium_by_kind": dict(kinds)}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=30.0, help="length of each measured window")
    args = parser.parse_args()
    from playwright.sync_api import sync_playwright

    scratch = Path(tempfile.mkdtemp(prefix="train-page-cost-"))
    checkpoints = scratch / "checkpoints"
    checkpoints.mkdir()
    for path in (ROOT / "checkpoints").glob("*"):
        if path.is_file():
            shutil.copy2(path, checkpoints / path.name)
    server = h.start_server(checkpoints, scratch / "streamlit.log")
    try:
        h.wait_healthy(server)
        with sync_playwright() as playwright:
            browser = h.launch_browser(playwright)
            trainer = h.new_page(browser)
            app_speed.start_busy_training(trainer, server, 50)
            time.sleep(3)  # past the page's first drawing
            for where in ("Train", "Models"):
                if where != "Train":
                    h.open_page_from_menu(trainer, where)
                    time.sleep(3)
                figures = measure(server.process.pid, args.seconds)
                kinds = ", ".join(f"{kind} {value:.3f}" for kind, value in sorted(figures["chromium_by_kind"].items())
                                  if value >= 0.0005)
                print(f"trainer on the {where} page: server {figures['server']:.3f}, Chromium {figures['chromium']:.3f} "
                      f"({kinds}), training process {figures['training']:.3f} CPU-s per s", flush=True)
            h.open_page_from_menu(trainer, "Train")
            app_speed.stop_training(trainer)
            browser.close()
    finally:
        h.stop_server(server)
        shutil.rmtree(scratch, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
