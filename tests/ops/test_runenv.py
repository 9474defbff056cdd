"""A second terminal next to `make run`: manage.py takes the server's database from .run/env, and
without DATABASE_URL or a running `make run` it says what to do instead of using some default
database."""

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from config.runenv import RUN_ENV, run_env_load, run_env_read
from tests.conftest import ROOT, wait_for
from tests.ops.conftest import live_make_run_or_clear


def manage(*args: str, env: dict | None = None) -> subprocess.CompletedProcess:
    base = {k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "REDIS_URL")}
    return subprocess.run(
        [sys.executable, "manage.py", *args], cwd=ROOT, env={**base, **(env or {})}, capture_output=True, text=True,
        timeout=120,
    )  # fmt: skip


@pytest.fixture
def no_make_run(no_live_make_run):
    """No .run/env (a stale one removed; a live make run of this checkout skips, loudly)."""
    assert not RUN_ENV.exists()


@pytest.fixture
def fake_run_sh():
    """A live process whose command line names run.sh, as a running `make run`'s does."""
    # Waited for until argv[0] itself is run.sh: the command line is empty for a moment after the
    # fork (and `bash -c "exec -a ..."` named run.sh in bash's own command line before its exec).
    proc = subprocess.Popen(["scripts/run.sh", "60"], executable=shutil.which("sleep"))
    cmdline = Path(f"/proc/{proc.pid}/cmdline")
    wait_for(lambda: cmdline.read_bytes().startswith(b"scripts/run.sh\0"), timeout=10, interval=0.01)
    yield proc.pid
    proc.kill()
    proc.wait()


def test_a_command_without_a_database_says_which_variable_to_set(no_make_run):
    result = manage("createsite", "Acme", "--user", "u", "--password", "p")
    assert result.returncode == 2
    assert "Traceback" not in result.stderr
    assert "DATABASE_URL is not set" in result.stderr
    assert f"{RUN_ENV} was not found" in result.stderr


def test_a_command_next_to_a_dead_make_run_says_so(no_make_run):
    # given: the .run/env of a make run that was killed (its pid no longer a run.sh)
    RUN_ENV.parent.mkdir(exist_ok=True)
    RUN_ENV.write_text(f"MAKE_RUN_PID={os.getpid()}\nexport DATABASE_URL='postgres://nobody@127.0.0.1:1/gone'\n")
    # when
    result = manage("createsite", "Acme", "--user", "u", "--password", "p")
    # then
    assert result.returncode == 2
    assert f"(pid {os.getpid()}) is not running" in result.stderr


def test_commands_that_need_no_database_still_run(no_make_run):
    assert manage("check").returncode == 0


def test_run_env_is_read_as_the_shell_reads_it(tmp_path, fake_run_sh):
    path = tmp_path / "env"
    path.write_text(
        f"# comment\nMAKE_RUN_PID={fake_run_sh}\nexport DATABASE_URL='postgres://u:p@h:1/db'\n"
        "export DJANGO_SECRET_KEY='it'\\''s $ecret'\n"
    )
    assert run_env_read(path).running
    environ = {"DJANGO_DEBUG": "false"}
    assert run_env_load(environ, path) is not None
    assert environ == {
        "DJANGO_DEBUG": "false", "DATABASE_URL": "postgres://u:p@h:1/db", "DJANGO_SECRET_KEY": "it's $ecret",
    }  # fmt: skip
    # A shell sourcing it gets the same values.
    out = subprocess.run(["bash", "-c", f'. {path}; printf %s "$DJANGO_SECRET_KEY"'], capture_output=True, text=True)
    assert out.stdout == "it's $ecret"


def test_an_explicit_database_url_wins(tmp_path, fake_run_sh):
    path = tmp_path / "env"
    path.write_text(f"MAKE_RUN_PID={fake_run_sh}\nexport DATABASE_URL='postgres://make-run'\n")
    environ = {"DATABASE_URL": "postgres://mine"}
    assert run_env_load(environ, path) is None
    assert environ == {"DATABASE_URL": "postgres://mine"}


def test_a_stale_run_env_is_removed_and_only_a_live_make_run_keeps_the_tests_off(tmp_path, fake_run_sh):
    """The guard of the .run/env tests (tests/ops/conftest.py): a file whose make run is dead is no
    reason to skip; a live one is, and the reason names it."""
    path = tmp_path / "env"
    path.write_text(f"MAKE_RUN_PID={os.getpid()}\nexport DATABASE_URL='postgres://nobody@127.0.0.1:1/gone'\n")
    assert live_make_run_or_clear(path) is None and not path.exists()
    path.write_text(f"MAKE_RUN_PID={fake_run_sh}\nexport PORT='8123'\n")
    reason = live_make_run_or_clear(path)
    assert f"run.sh pid {fake_run_sh}, port 8123" in reason and path.exists()
