"""`.run/env`: what a running `make run` leaves for a second terminal (DATABASE_URL, REDIS_URL, ...).

scripts/run.sh writes it once the database is migrated and removes it when it stops. manage.py reads
it when DATABASE_URL is not set, so the README's commands work as written next to `make run`; a shell
can `. .run/env` for anything else (`celery inspect`, `celery flower`). Nothing here imports Django:
manage.py reads the file before the settings load.
"""

from __future__ import annotations

import os
import shlex
from dataclasses import dataclass
from pathlib import Path

RUN_ENV = Path(__file__).resolve().parent.parent / ".run" / "env"
OWNER = "MAKE_RUN_PID"  # the run.sh that wrote the file


@dataclass(frozen=True)
class RunEnv:
    path: Path
    values: dict[str, str]
    pid: int | None

    @property
    def running(self) -> bool:
        """Is the run.sh that wrote the file still running (not a dead one's pid, reused)?"""
        if self.pid is None:
            return False
        try:
            os.kill(self.pid, 0)
        except ProcessLookupError:
            return False
        except PermissionError:
            pass
        try:
            return b"run.sh" in Path(f"/proc/{self.pid}/cmdline").read_bytes()
        except FileNotFoundError:
            return not Path("/proc/self").exists()  # no /proc here: trust the signal check


def run_env_read(path: Path = RUN_ENV) -> RunEnv | None:
    """The file's variables (`export NAME='value'` lines), or None when there is no file."""
    try:
        text = path.read_text()
    except FileNotFoundError:
        return None
    values: dict[str, str] = {}
    for line in text.splitlines():
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        name, sep, raw = line.removeprefix("export ").partition("=")
        if sep and name.isidentifier():
            words = shlex.split(raw)
            values[name] = words[0] if words else ""
    pid = values.pop(OWNER, "")
    return RunEnv(path=path, values=values, pid=int(pid) if pid.isdigit() else None)


def run_env_load(environ=os.environ, path: Path = RUN_ENV) -> RunEnv | None:
    """Take a running `make run`'s variables into `environ` when DATABASE_URL is not set there
    (what is set stays); the file used, or None."""
    if environ.get("DATABASE_URL"):
        return None
    run = run_env_read(path)
    if run is None or not run.running:
        return None
    for name, value in run.values.items():
        environ.setdefault(name, value)
    return run


def database_missing_message(path: Path = RUN_ENV) -> str:
    """What a process without DATABASE_URL tells its user, with what it found of `make run`."""
    run = run_env_read(path)
    if run is None:
        found = f"{path} was not found: no `make run` is running in this checkout."
    elif not run.running:
        found = f"{path} was found, but the `make run` that wrote it (pid {run.pid}) is not running."
    else:
        found = (
            f"A running `make run` (pid {run.pid}) left {path}, which only manage.py reads by itself: "
            "`. .run/env` in this shell first."
        )
    return (
        "DATABASE_URL is not set, so there is no database to use. Set it "
        "(export DATABASE_URL=postgres://USER:PASSWORD@HOST:5432/NAME), or start `make run` in another "
        'terminal of this checkout and run manage.py (or `make manage ARGS="..."`, `make shell`) next to it. ' + found
    )
