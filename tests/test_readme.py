"""The README's shell examples run as written and give the answers shown.

The test takes README.md's shell blocks (```sh / ```bash / ```shell) that talk to the server (they
contain `curl` or `manage.py`) or only set shell variables, in order, and runs them with bash as one session, as a user pasting
them into one terminal would, against a live server started the way `make run` starts it: a FRESH
database (created here, migrated, then the `createsite` line of scripts/run.sh, so ids start at 1),
gunicorn and a real Celery worker. The only rewrite is the origin: README's `127.0.0.1:8000` becomes
the test server's port. Blocks of other kinds (```console, ```text, ```json...) are not run.

Each `# -> ANSWER` comment (continued on following `#   ` lines) is checked against the commands
before it (since the previous answer):
- `204 ...`: the last curl there answered that status, and the others < 400 (without a status,
  every curl answered < 400);
- a JSON answer is compared with the last JSON document the commands printed. `...` stands for
  anything: as a value, any value; as an array item or object member, any further items or members
  (without it, an object has exactly these keys and an array exactly these items); in a string,
  any text (`"abc..."` is any string starting with `abc`). Anything after the JSON (prose in brackets) is ignored;
- any other answer is text, compared line by line with what was printed (`...` matches anything).
Commands after the last answer of a session still have to run and answer < 400.
"""

from __future__ import annotations

import json
import os
import re
import shlex
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
import uuid
from dataclasses import dataclass, field
from pathlib import Path

import psycopg
import pytest
from django.conf import settings

ROOT = Path(__file__).resolve().parent.parent
README = ROOT / "README.md"
README_ORIGIN = "127.0.0.1:8000"
SHELLS = ("sh", "bash", "shell")
TIMEOUT_SECONDS = 300


# --- reading the README -------------------------------------------------------------------------


@dataclass
class Step:
    """Commands, then the answer the README shows for them (None: only 'they succeed')."""

    commands: list[str] = field(default_factory=list)
    answer: str | None = None
    line: int = 0  # README line of the answer (or of the first command)


def shell_blocks(text: str) -> list[tuple[int, list[str]]]:
    """(first line number, lines) of each fenced shell block that talks to the server."""
    blocks, current, start, lang = [], None, 0, ""
    for number, line in enumerate(text.splitlines(), start=1):
        fence = re.match(r"^\s*```\s*([\w-]*)", line)
        if fence and current is None:
            current, start, lang = [], number + 1, fence.group(1).lower()
        elif fence and line.strip() == "```":
            commands = [x for x in current if x.strip() and not x.lstrip().startswith("#")]
            talks = any(re.search(r"\bcurl\b|manage\.py", x) for x in commands)
            sets = commands and all(re.match(r"^\s*[A-Za-z_]\w*=", x) for x in commands)
            if lang in SHELLS and (talks or sets):
                blocks.append((start, current))
            current = None
        elif current is not None:
            current.append(line)
    return blocks


def steps(blocks: list[tuple[int, list[str]]]) -> list[Step]:
    out, step = [], Step()
    for start, lines in blocks:
        i = 0
        while i < len(lines):
            line = lines[i]
            if line.startswith("# ->"):
                answer = [line[4:].strip()]
                while i + 1 < len(lines) and re.match(r"^#\s{2,}\S", lines[i + 1]):
                    i += 1
                    answer.append(lines[i][1:].strip())
                step.answer, step.line = "\n".join(answer), start + i
                out.append(step)
                step = Step()
            else:
                if not step.commands:
                    step.line = start + i
                step.commands.append(line)
            i += 1
    if any(c.strip() and not c.lstrip().startswith("#") for c in step.commands):
        out.append(step)
    return out


# --- the answers' patterns -------------------------------------------------------------------------


class _Any:
    def __repr__(self) -> str:
        return "..."


ANY = _Any()


@dataclass
class Glob:
    """A string with `...` in it: `...` matches any text."""

    text: str

    def matches(self, value) -> bool:
        pattern = ".*".join(re.escape(part) for part in self.text.split("..."))
        return isinstance(value, str) and re.fullmatch(pattern, value, re.S) is not None


@dataclass
class Obj:
    members: dict
    more: bool


@dataclass
class Arr:
    items: list
    more: bool


class PatternParser:
    """JSON with `...` (see the module docstring)."""

    def __init__(self, text: str):
        self.text, self.pos = text, 0

    def ws(self) -> None:
        while self.pos < len(self.text) and self.text[self.pos] in " \t\r\n":
            self.pos += 1

    def peek(self, s: str) -> bool:
        self.ws()
        return self.text.startswith(s, self.pos)

    def eat(self, s: str) -> None:
        if not self.peek(s):
            raise ValueError(f"expected {s!r} at {self.pos}: {self.text[self.pos : self.pos + 40]!r}")
        self.pos += len(s)

    def value(self):
        self.ws()
        if self.peek("..."):
            self.pos += 3
            return ANY
        if self.peek("{"):
            return self.obj()
        if self.peek("["):
            return self.arr()
        if self.peek('"'):
            decoded, end = json.JSONDecoder().raw_decode(self.text, self.pos)
            self.pos = end
            if decoded == "...":
                return ANY
            return Glob(decoded) if "..." in decoded else decoded
        decoded, end = json.JSONDecoder().raw_decode(self.text, self.pos)
        self.pos = end
        return decoded

    def obj(self) -> Obj:
        self.eat("{")
        members, more = {}, False
        while not self.peek("}"):
            if self.peek("..."):
                self.pos += 3
                more = True
            else:
                key = self.value()
                self.eat(":")
                members[key] = self.value()
            if not self.peek("}"):
                self.eat(",")
        self.eat("}")
        return Obj(members, more)

    def arr(self) -> Arr:
        self.eat("[")
        items, more = [], False
        while not self.peek("]"):
            item = self.value()
            if item is ANY:
                more = True
            else:
                items.append(item)
            if not self.peek("]"):
                self.eat(",")
        self.eat("]")
        return Arr(items, more)


def mismatch(pattern, actual, path: str = "$") -> str | None:
    """Why `actual` does not match `pattern`, or None."""
    if pattern is ANY:
        return None
    if isinstance(pattern, Glob):
        return None if pattern.matches(actual) else f"{path}: {actual!r} does not match {pattern.text!r}"
    if isinstance(pattern, Obj):
        if not isinstance(actual, dict):
            return f"{path}: expected an object, got {actual!r}"
        missing = [k for k in pattern.members if k not in actual]
        if missing:
            return f"{path}: no {missing} in {sorted(actual)}"
        extra = sorted(set(actual) - set(pattern.members))
        if extra and not pattern.more:
            return f"{path}: unexpected {extra}"
        for key, sub in pattern.members.items():
            why = mismatch(sub, actual[key], f"{path}.{key}")
            if why:
                return why
        return None
    if isinstance(pattern, Arr):
        if not isinstance(actual, list):
            return f"{path}: expected an array, got {actual!r}"
        if len(actual) < len(pattern.items) or (len(actual) > len(pattern.items) and not pattern.more):
            return f"{path}: {len(actual)} items, expected {len(pattern.items)}{' or more' if pattern.more else ''}"
        for i, sub in enumerate(pattern.items):
            why = mismatch(sub, actual[i], f"{path}[{i}]")
            if why:
                return why
        return None
    if isinstance(pattern, bool) or pattern is None or isinstance(actual, bool):
        return None if pattern is actual else f"{path}: {actual!r} != {pattern!r}"
    if isinstance(pattern, int | float):
        ok = isinstance(actual, int | float) and actual == pattern
        return None if ok else f"{path}: {actual!r} != {pattern!r}"
    return None if actual == pattern else f"{path}: {actual!r} != {pattern!r}"


def json_documents(text: str) -> list:
    """The JSON documents printed one after another (HTTP header blocks of `curl -i` skipped)."""
    text = re.sub(r"(?m)^HTTP/[\d.]+ \d{3}.*?(?:\r?\n\r?\n|\Z)", "", text, flags=re.S)
    docs, pos, decoder = [], 0, json.JSONDecoder()
    while True:
        while pos < len(text) and text[pos] in " \t\r\n":
            pos += 1
        if pos >= len(text):
            return docs
        try:
            doc, pos = decoder.raw_decode(text, pos)
        except ValueError:
            nl = text.find("\n", pos)
            if nl < 0:
                return docs
            pos = nl + 1
            continue
        docs.append(doc)


def check(step: Step, out: str, statuses: list[int]) -> str | None:
    """Why the commands' output does not give the step's answer, or None."""
    answer = (step.answer or "").strip()
    status = re.match(r"^(\d{3})\b\s*", answer)
    earlier = statuses[:-1] if status else statuses
    if any(s >= 400 or s == 0 for s in earlier):
        return f"a curl failed: statuses {statuses}"
    if status:
        want = int(status.group(1))
        if not statuses or statuses[-1] != want:
            return f"expected the last curl to answer {want}, got {statuses}"
        answer = answer[status.end() :]
    if step.answer is None or (status and not answer.startswith(("{", "["))):
        return None
    if answer.startswith(("{", "[")):
        parser = PatternParser(answer)
        pattern = parser.value()
        docs = json_documents(out)
        if not docs:
            return f"no JSON was printed: {out[-2000:]!r}"
        why = mismatch(pattern, docs[-1])
        return f"{why}\nprinted: {json.dumps(docs[-1])[:3000]}" if why else None
    lines = [x for x in out.splitlines() if x.strip()]
    wanted = [x.strip() for x in answer.splitlines()]
    if len(lines) != len(wanted):
        return f"expected {len(wanted)} lines, printed {lines}"
    for want, got in zip(wanted, lines, strict=True):
        if not re.fullmatch(".*".join(re.escape(part) for part in want.split("...")), got.strip()):
            return f"{got!r} does not match {want!r}"
    return None


# --- the live server ---------------------------------------------------------------------------


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _server_url(dbname: str) -> str:
    db = settings.DATABASES["default"]
    auth = db["USER"] + (f":{db['PASSWORD']}" if db.get("PASSWORD") else "")
    return f"postgres://{auth}@{db['HOST'] or '127.0.0.1'}:{db['PORT'] or 5432}/{dbname}"


def _redis_url(index: int) -> str:
    """The test Redis, database `index` (this server's broker stays apart from the suite's)."""
    return re.sub(r"/\d*$", "", settings.REDIS_URL.rstrip("/")) + f"/{index}"


def _createsite_line() -> list[str]:
    """`manage.py createsite ...` exactly as scripts/run.sh runs it for `make run`."""
    line = next(x for x in (ROOT / "scripts" / "run.sh").read_text().splitlines() if "manage.py createsite" in x)
    argv = shlex.split(line.strip())
    return [sys.executable, *argv[argv.index("manage.py") :]]


class LiveServer:
    """A fresh database, migrated and with the demo site; gunicorn and a Celery worker on it."""

    def __init__(self, tmp: Path):
        self.dbname = f"readme_{uuid.uuid4().hex[:10]}"
        self.port = _free_port()
        self.tmp = tmp
        self.procs: list[subprocess.Popen] = []
        self.env = {
            **os.environ,
            "DATABASE_URL": _server_url(self.dbname),
            "REDIS_URL": _redis_url(4),
            "CACHE_URL": _redis_url(5),
            "PUBLIC_BASE_URL": f"http://127.0.0.1:{self.port}",
            "DJANGO_DEBUG": "true",
            "LOG_JSON": "false",
        }
        self.env.pop("DJANGO_SETTINGS_MODULE", None)

    def admin(self, statement: str) -> None:
        with psycopg.connect(_server_url("postgres"), autocommit=True) as conn:
            conn.execute(statement)

    def start(self) -> None:
        import redis

        for url in (self.env["REDIS_URL"], self.env["CACHE_URL"]):  # nothing left by an earlier, aborted run
            redis.Redis.from_url(url).flushdb()
        self.admin(f'CREATE DATABASE "{self.dbname}"')
        for argv in ([sys.executable, "manage.py", "migrate", "--noinput"], _createsite_line()):
            subprocess.run(argv, cwd=ROOT, env=self.env, check=True, capture_output=True, timeout=300)
        self._spawn("web", [sys.executable, "-m", "gunicorn", "config.wsgi:application", "--bind",
                            f"127.0.0.1:{self.port}", "--workers", "2", "--timeout", "120"])  # fmt: skip
        self._spawn("worker", [sys.executable, "-m", "celery", "-A", "config", "worker", "-Q", "celery,bulk",
                               "-c", "2", "--without-gossip", "--without-mingle", "--loglevel=INFO"])  # fmt: skip
        deadline = time.monotonic() + 90
        while time.monotonic() < deadline:
            for p in self.procs:
                if p.poll() is not None:
                    raise RuntimeError(f"{p.args[2]} exited; see {self.tmp}")
            if self._web_up() and "ready." in (self.tmp / "worker.log").read_text(errors="replace"):
                return
            time.sleep(0.3)
        raise RuntimeError(f"server did not start; see {self.tmp}")

    def _spawn(self, name: str, argv: list[str]) -> None:
        log = open(self.tmp / f"{name}.log", "w")  # noqa: SIM115 - the process writes it until stop()
        self.procs.append(
            subprocess.Popen(argv, cwd=ROOT, env=self.env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
        )

    def _web_up(self) -> bool:
        try:
            urllib.request.urlopen(f"http://127.0.0.1:{self.port}/id", timeout=1)
        except urllib.error.HTTPError:
            return True
        except OSError:
            return False
        return True

    def stop(self) -> None:
        for p in self.procs:
            if p.poll() is None:
                os.killpg(p.pid, signal.SIGTERM)
        for p in self.procs:
            try:
                p.wait(timeout=30)
            except subprocess.TimeoutExpired:
                os.killpg(p.pid, signal.SIGKILL)
                p.wait(timeout=30)
        self.admin(f'DROP DATABASE IF EXISTS "{self.dbname}" WITH (FORCE)')


# --- running the steps -------------------------------------------------------------------------

MARK = "@@README-STEP {}@@"
CURL = 'curl() { command curl -w "%{stderr}@@HTTP %{http_code}@@\\n" "$@"; }'


def script(all_steps: list[Step], origin: str) -> str:
    """One bash session: every step's commands, each step introduced by a marker on both streams."""
    lines = ["set -eu -o pipefail", CURL]
    for i, step in enumerate(all_steps):
        mark = MARK.format(i)
        lines.append(f"printf '\\n%s\\n' '{mark}'; printf '\\n%s\\n' '{mark}' >&2")
        lines += [c.replace(README_ORIGIN, origin) for c in step.commands]
    end = MARK.format(len(all_steps))
    lines.append(f"printf '\\n%s\\n' '{end}'; printf '\\n%s\\n' '{end}' >&2")
    return "\n".join(lines) + "\n"


def split(stream: str, count: int) -> list[str]:
    parts = re.split(r"^@@README-STEP (\d+)@@\n", stream, flags=re.M)
    out = [""] * (count + 1)
    for i in range(1, len(parts) - 1, 2):
        out[int(parts[i])] = parts[i + 1]
    return out


def test_readme_examples_run_as_written_and_give_the_answers_shown(tmp_path):
    all_steps = steps(shell_blocks(README.read_text()))
    assert sum(s.answer is not None for s in all_steps) >= 10, "the README's examples were not found"
    server = LiveServer(tmp_path)
    try:
        server.start()
        origin = f"127.0.0.1:{server.port}"
        (tmp_path / "readme.sh").write_text(script(all_steps, origin))
        # A user's terminal in the checkout, without the checkout's files: the examples write files.
        work = tmp_path / "checkout"
        work.mkdir()
        for name in (".venv", "manage.py"):
            (work / name).symlink_to(ROOT / name)
        env = {**server.env, "PYTHONPATH": str(ROOT)}
        done = subprocess.run(
            ["bash", str(tmp_path / "readme.sh")], cwd=work, env=env, capture_output=True, text=True,
            timeout=TIMEOUT_SECONDS,
        )  # fmt: skip
    finally:
        server.stop()
    (tmp_path / "readme.out").write_text(done.stdout)
    (tmp_path / "readme.err").write_text(done.stderr)
    outs, errs = split(done.stdout, len(all_steps)), split(done.stderr, len(all_steps))
    ran = max((int(n) for n in re.findall(r"^@@README-STEP (\d+)@@$", done.stdout, re.M)), default=-1)
    problems = []
    for i, step in enumerate(all_steps):
        where = f"README.md line {step.line}: {' / '.join(c.strip() for c in step.commands if c.strip())[:200]}"
        if i >= ran:
            problems.append(f"{where}\n  did not complete (exit {done.returncode}): {errs[i][-2000:]}")
            break
        statuses = [int(s) for s in re.findall(r"@@HTTP (\d{3})@@", errs[i])]
        out = outs[i].replace(origin, README_ORIGIN)
        why = check(step, out, statuses)
        if why:
            problems.append(f"{where}\n  answer: {step.answer}\n  {why}")
    assert not problems, "\n\n".join(problems)
    assert done.returncode == 0, done.stderr[-3000:]


# --- the pattern rules themselves -------------------------------------------------------------------


@pytest.mark.parametrize(
    "pattern, actual, ok",
    [
        ('{"a": 1, ...}', {"a": 1, "b": 2}, True),
        ('{"a": 1}', {"a": 1, "b": 2}, False),
        ('{"a": ..., "b": "x..."}', {"a": [1], "b": "xyz"}, True),
        ('{"b": "x..."}', {"b": "yz"}, False),
        ('{"u": "http://h/.../e.csv"}', {"u": "http://h/1/2/e.csv"}, True),
        ('{"u": "http://h/.../e.csv"}', {"u": "http://h/1/2/s.csv"}, False),
        ('[{"a": 1}, ...]', [{"a": 1}, {"a": 2}], True),
        ('[{"a": 1}]', [{"a": 1}, {"a": 2}], False),
        ('{"n": 1.0, "t": true, "z": null}', {"n": 1, "t": True, "z": None}, True),
        ('{"t": true}', {"t": 1}, False),
        ('{"s": "..."}', {"s": None}, True),
    ],
)
def test_answer_patterns(pattern, actual, ok):
    assert (mismatch(PatternParser(pattern).value(), actual) is None) is ok


def test_steps_and_answers_are_read_from_shell_blocks_only():
    text = "\n".join([
        "```sh", "make run", "```",
        "```json", '{"curl": 1}', "```",
        "```sh", "curl -s x", "# -> 200 {\"a\": 1,", "#     \"b\": 2}", "# a comment", "curl -s y", "```",
    ])  # fmt: skip
    found = steps(shell_blocks(text))
    assert [(s.commands, s.answer) for s in found] == [
        (["curl -s x"], '200 {"a": 1,\n"b": 2}'),
        (["# a comment", "curl -s y"], None),
    ]
    assert check(Step(answer="204 No Content"), "", [204, 204]) is None
    assert check(Step(answer="204 No Content"), "", [204, 400]) is not None
    assert check(Step(answer="204 No Content"), "", [400, 204]) is not None
    assert check(Step(answer="400 {...}"), "{}", [200, 400]) is None
    assert check(Step(answer='{"a": 1}'), 'HTTP/1.1 200 OK\r\nX: y\r\n\r\n{"a": 1}', [200]) is None
    assert check(Step(answer="a,b\n1,..."), "a,b\n1,2\n", [200]) is None
    assert check(Step(answer="a,b\n1,..."), "a,b\n1,2\n3,4\n", [200]) is not None
