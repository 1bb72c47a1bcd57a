"""The app's training runs on disk: one small JSON state file per run beside the checkpoints (no torch).

``<checkpoints>/.training/<job id>.json`` holds a run's settings, status, progress and curves;
``<job id>.preview.npz`` the latest previews (reconstructions, prior samples, the live map);
``<job id>.stop`` asks the run to stop. The training process (vae.training.worker) writes the
state, atomically (vae.files), at most every PROGRESS_WRITE_S and at least every HEARTBEAT_S;
any server reads it, so a reload, a restart or another server sharing the folder sees the same
runs. A state that says "running" counts only while its process lives: on this machine its pid
(and that process's start time) is checked, a run of another machine must have written within
STALE_AFTER_S. Otherwise the run is shown as "interrupted". Finished runs' files are removed
after FINISHED_KEEP_S.
"""
from __future__ import annotations

import json
import logging
import math
import os
import re
import socket
import time
import zipfile
import zlib
from pathlib import Path

import numpy as np

from vae.files import jobs_folder, write_atomically

STATE_FORMAT = 1
PROGRESS_WRITE_S = 0.5  # the training process writes its state at most this often (each epoch's end always)
HEARTBEAT_S = 2.0  # ... and at least this often, even while loading data or saving
STALE_AFTER_S = 60.0  # a "running" state this old belongs to a process that is gone (or hung)
FINISHED_KEEP_S = 24 * 3600  # a finished run stays in view (its ?job= link works) this long
MAX_FINISHED_JOBS = 50  # and at most this many finished runs are kept per folder
MAX_STATE_BYTES = 8 * 2**20  # a state file larger than this is damaged (10,000 epochs of curves take ~1 MB)
PREVIEW_COUNT = 8  # test images shown as originals over reconstructions after every epoch
PRIOR_SAMPLES = 64  # images decoded from the same prior noise after every epoch (an 8 x 8 grid)
MAX_RUNNING_JOBS = 2  # runs at once per checkpoints folder: each keeps about one core busy (sized for 2 cores)
FINAL_STATUSES = ("completed", "cancelled", "diverged", "failed", "interrupted")
INTERRUPTED_MESSAGE = ("This training run ended without finishing: its process stopped (the server or the machine "
                       "may have restarted). Nothing more will be saved; start it again to train this model.")
_JOB_ID = re.compile(r"^[0-9a-f]{32}$")
LOGGER = logging.getLogger(__name__)


def valid_job_id(job_id: object) -> bool:
    """Whether ``job_id`` is a run id this app makes (32 hex digits); a link's text is never used as a path otherwise."""
    return isinstance(job_id, str) and bool(_JOB_ID.match(job_id))


def state_file(checkpoints: str | Path, job_id: str) -> Path:
    """The state file of run ``job_id`` (a valid id)."""
    return jobs_folder(checkpoints) / f"{job_id}.json"


def preview_file(checkpoints: str | Path, job_id: str) -> Path:
    return jobs_folder(checkpoints) / f"{job_id}.preview.npz"


def stop_file(checkpoints: str | Path, job_id: str) -> Path:
    return jobs_folder(checkpoints) / f"{job_id}.stop"


def data_file(checkpoints: str | Path, job_id: str) -> Path:
    """Images handed to the training process when they cannot be loaded by name (removed once read)."""
    return jobs_folder(checkpoints) / f"{job_id}.data.npz"


def new_state(job_id: str, name: str, dataset: str, spec: dict, epochs: int) -> dict:
    """The state of a run about to start (the training process fills in its pid)."""
    now = time.time()
    return {
        "format": STATE_FORMAT, "job_id": job_id, "name": name, "dataset": dataset, "spec": spec,
        "status": "running", "message": "Starting the training process...", "progress": 0.0, "epoch": 0,
        "epochs": epochs, "batch": 0, "batches": 0, "images_per_s": 0.0, "started": now, "updated": now,
        "finished": None, "host": socket.gethostname(), "pid": None, "pid_start": None,
        "curves": {"train_loss": [], "recon": [], "kl": [], "test_elbo": []},
        "batch_curves": {"step": [], "loss": [], "recon": [], "kl": []},
        "preview_epoch": 0, "saved_name": None, "advice": "",
    }


def write_state(checkpoints: str | Path, state: dict) -> None:
    """Write a run's state atomically (readers see the old state or the new one, never half)."""
    state["updated"] = time.time()
    data = json.dumps(state, allow_nan=False, separators=(",", ":")).encode()
    write_atomically(state_file(checkpoints, state["job_id"]), data)


def read_state(checkpoints: str | Path, job_id: str) -> dict | None:
    """The state of run ``job_id``, or None: no such run, or its file is unreadable or damaged."""
    if not valid_job_id(job_id):
        return None
    path = state_file(checkpoints, job_id)
    try:
        if path.stat().st_size > MAX_STATE_BYTES:
            return None
        state = json.loads(path.read_bytes())
    except (OSError, ValueError):
        return None
    return state if _is_state(state, job_id) else None


def _is_state(state: object, job_id: str) -> bool:
    if not isinstance(state, dict) or state.get("format") != STATE_FORMAT or state.get("job_id") != job_id:
        return False
    texts = all(isinstance(state.get(key), str) for key in ("name", "dataset", "status", "message", "host", "advice"))
    numbers = all(_is_number(state.get(key)) for key in ("progress", "images_per_s", "started", "updated"))
    counts = all(isinstance(state.get(key), int) for key in ("epoch", "epochs", "batch", "batches", "preview_epoch"))
    curves = all(_is_curves(state.get(key)) for key in ("curves", "batch_curves"))
    return texts and numbers and counts and curves and state["status"] in ("running", *FINAL_STATUSES)


def _is_number(value: object) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


def _is_curves(value: object) -> bool:
    return isinstance(value, dict) and all(
        isinstance(curve, list) and all(item is None or _is_number(item) for item in curve) for curve in value.values())


def process_start(pid: int) -> str | None:
    """When process ``pid`` started (clock ticks since boot, from /proc), to tell it from a later process given
    the same pid; None where /proc cannot say, or for a process that has ended (a zombie)."""
    fields = _proc_stat(pid)
    return None if fields is None or fields[0] == "Z" else fields[19]  # stat's field 22: the start time


def _proc_stat(pid: int) -> list[str] | None:
    """The fields of /proc/<pid>/stat after the command name (state first); None without /proc or that process."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except (OSError, IndexError):
        return None


def process_lives(pid: int, started: str | None) -> bool:
    """Whether process ``pid`` of this machine still runs, and is the one that started at ``started``."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        pass  # it exists, run by another user
    fields = _proc_stat(pid)
    if fields is None:
        return True  # no /proc here: the signal check is all there is
    return fields[0] != "Z" and (started is None or fields[19] == started)


def on_this_machine(state: dict) -> bool:
    """Whether the run's process runs (or ran) on this machine."""
    return state.get("host") == socket.gethostname()


def current_status(state: dict, now: float | None = None) -> str:
    """The state's status, but "interrupted" for a "running" one whose process is gone."""
    if state["status"] != "running":
        return state["status"]
    now = time.time() if now is None else now
    if now - state["updated"] > STALE_AFTER_S:
        return "interrupted"
    pid = state.get("pid")
    if not on_this_machine(state) or not isinstance(pid, int) or isinstance(pid, bool):
        return "running"  # another machine's run (fresh, see above), or one whose process has not reported yet
    return "running" if process_lives(pid, state.get("pid_start")) else "interrupted"


def job_ids(checkpoints: str | Path) -> list[str]:
    """Every run with a state file in the folder."""
    try:
        names = os.listdir(jobs_folder(checkpoints))
    except OSError:
        return []
    return sorted(name[:-5] for name in names if name.endswith(".json") and valid_job_id(name[:-5]))


def running_states(checkpoints: str | Path) -> list[dict]:
    """The states of the runs going on in the folder (whichever server started them), oldest first.

    A state file untouched for STALE_AFTER_S cannot be a live run's (they write every HEARTBEAT_S), so
    only recent files are read.
    """
    now, states = time.time(), []
    for job_id in job_ids(checkpoints):
        try:
            if now - state_file(checkpoints, job_id).stat().st_mtime > STALE_AFTER_S:
                continue
        except OSError:
            continue
        state = read_state(checkpoints, job_id)
        if state is not None and current_status(state, now) == "running":
            states.append(state)
    return sorted(states, key=lambda state: state["started"])


def names_in_training(checkpoints: str | Path, exclude: str | None = None) -> set[str]:
    """The model names that runs going on in the folder will write (``exclude``: a run id to leave out)."""
    return {state["name"] for state in running_states(checkpoints) if state["job_id"] != exclude}


def request_stop(checkpoints: str | Path, job_id: str) -> None:
    """Ask run ``job_id`` to stop after its current batch (any server may ask; the process checks the file)."""
    write_atomically(stop_file(checkpoints, job_id), b"stop\n")


def stop_requested(checkpoints: str | Path, job_id: str) -> bool:
    return stop_file(checkpoints, job_id).exists()


def write_preview(checkpoints: str | Path, job_id: str, arrays: dict[str, np.ndarray]) -> None:
    """The run's latest previews, atomically (an npz of plain arrays)."""
    write_atomically(preview_file(checkpoints, job_id), lambda handle: np.savez(handle, **arrays))


def read_preview(checkpoints: str | Path, job_id: str) -> dict[str, np.ndarray]:
    """The run's latest previews; empty when there are none yet or the file cannot be read."""
    try:
        with np.load(preview_file(checkpoints, job_id), allow_pickle=False) as saved:
            return {key: saved[key] for key in saved.files}
    except (OSError, ValueError, EOFError, KeyError, zipfile.BadZipFile, zlib.error):  # none yet, or damaged
        return {}


def remove_job(checkpoints: str | Path, job_id: str) -> None:
    """Delete every file of run ``job_id``."""
    for path in (state_file(checkpoints, job_id), preview_file(checkpoints, job_id), stop_file(checkpoints, job_id),
                 data_file(checkpoints, job_id)):
        try:
            path.unlink(missing_ok=True)
        except OSError:
            LOGGER.warning("Could not remove %s", path, exc_info=True)


def clean_old_jobs(checkpoints: str | Path, now: float | None = None, keep_s: float = FINISHED_KEEP_S) -> list[str]:
    """Remove the files of finished (or interrupted) runs older than ``keep_s``, and of all but the newest
    MAX_FINISHED_JOBS finished ones; returns the ids removed. Running runs are never touched."""
    now = time.time() if now is None else now
    finished = []
    for job_id in job_ids(checkpoints):
        state = read_state(checkpoints, job_id)
        if state is None:
            continue
        if current_status(state, now) != "running":
            finished.append((state.get("finished") or state["updated"], job_id))
    finished.sort(reverse=True)
    removed = [job_id for rank, (ended, job_id) in enumerate(finished)
               if rank >= MAX_FINISHED_JOBS or now - ended > keep_s]
    for job_id in removed:
        remove_job(checkpoints, job_id)
    return removed
