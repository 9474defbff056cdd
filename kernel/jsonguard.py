"""What the streamed JSON upload parser (ijson's yajl2_c backend) must not be given, kept from it
as the body is read (pipeline.staging)."""

from __future__ import annotations

import re
import uuid

from kernel.exceptions import Failure, ValidationFailed

MAX_DIGIT_RUN = 1000  # digits in a JSON number (or a run of digits anywhere in a JSON upload)
# One element of a JSON upload (a row), in bytes of JSON: CRM rows are a few KB. A row is refused
# once this much past its start has been read (so within GUARD_CHUNK after its first 1 MiB). The
# bound also keeps yajl fast: it re-reads a string from its start each time a chunk ends inside it
# (a 32 MB string of escapes took minutes in 64 KB chunks), so rows are short and chunks long.
MAX_ROW_BYTES = 1024 * 1024
GUARD_CHUNK = 256 * 1024


class JsonGuard:
    """The JSON body as ijson reads it, rid of what its C parser (yajl2_c) must not see.

    yajl2_c turns an unpaired surrogate escape (`\\ud800`) into `?` silently, and it converts
    numbers and strings by calling Python: a 5,000-digit integer, an exponent past what a decimal
    can hold or bytes that are not UTF-8 make that call fail, and the parser then goes on with the
    error set (seen: a SystemError, and a worker killed by SIGSEGV). Each such thing is replaced by a
    marker unique to the request and its kind: inside a string the marker is text, and `_json_rows`
    names the row and key holding it; elsewhere it is a syntax error, reported with the kind.

    Only C-speed scans run over every byte (`in`, `isascii`, `translate`, `find`); Python looks at
    what they find. A block is cut where nothing is half seen: the last MAX_DIGIT_RUN + 32 bytes
    wait for the next read, and a chunk never ends in an unpaired backslash."""

    # A surrogate escape, with its low half when it has one (whether it is an escape at all, and
    # not text after an escaped backslash, is judged by the backslashes before it).
    _ESCAPE = re.compile(rb"\\u[dD](?:[89abAB][0-9a-fA-F]{2}(?:\\u[dD][c-fC-F][0-9a-fA-F]{2})?|[c-fC-F][0-9a-fA-F]{2})")
    _DIGIT_MAP = bytes(0x31 if 0x30 <= c <= 0x39 else 0x20 for c in range(256))  # digit -> "1", else " "
    _LONG = b"1" * 19  # digit runs this long are looked at: too long a number, or a long exponent
    _WINDOW = MAX_DIGIT_RUN + 32
    _DIGITS = b"0123456789"
    _UNDECODABLE = re.compile("[\udc80-\udcff]+")
    PROBLEMS = {
        "s": "Must not contain unpaired surrogate characters (U+D800 to U+DFFF).",
        "u": "JSON must be UTF-8 encoded.",
        "d": f"Numbers (and runs of digits) have at most {MAX_DIGIT_RUN} digits, exponents at most 18.",
    }

    def __init__(self, body):
        self.body = body
        self.fed = 0  # bytes read from the body so far
        self.row_start, self.row_index = 0, 1  # where the current row began (set by _json_rows)
        # Letters only: a marker must not itself look like digits or an exponent.
        self.prefix = "#" + uuid.uuid4().hex.translate(str.maketrans("0123456789abcdef", "ghijklmnopqrstuv"))
        self.problem: str | None = None  # the kind ("s", "u", "d") of the first marker written
        self._held = b""
        self._skip_digits = False  # the rest of a digit run already replaced

    def marker(self, kind: str) -> bytes:
        return f"{self.prefix}{kind}#".encode()

    def found(self, text: str) -> str | None:
        """The problem a marker in `text` stands for, or None."""
        if self.problem is None or self.prefix not in text:
            return None
        return next(why for kind, why in self.PROBLEMS.items() if self.marker(kind).decode() in text)

    def read(self, size: int = -1) -> bytes:
        if size == 0:
            return b""
        while True:
            # Everything read so far is parsed, and the row is still open: it is longer than this.
            if self.fed - self.row_start > MAX_ROW_BYTES:
                raise ValidationFailed(
                    [
                        Failure(
                            field="body",
                            row=self.row_index,
                            constraint=f"A row has at most {MAX_ROW_BYTES} bytes of JSON.",
                        )
                    ]
                )
            new = self.body.read(GUARD_CHUNK)
            self.fed += len(new)
            data, eof = self._held + new, not new
            if self._skip_digits:
                stripped = data.lstrip(self._DIGITS)
                self._skip_digits = not stripped and not eof
                data = stripped
            emitted = self._clean(data, eof)
            if emitted or eof:
                return emitted

    def _findings(self, data: bytes) -> list[tuple[int, int, str | None]]:
        """(start, end, kind) of what must be replaced in `data` (kind None: kept, but not split), in order."""
        found = []
        if b"\\u" in data:
            for match in self._ESCAPE.finditer(data):
                start = match.start()
                run = 0
                while start - run > 0 and data[start - run - 1] == 0x5C:  # backslashes before it
                    run += 1
                if run % 2 == 0:  # an escape (after an odd run it is text)
                    # A lone half is replaced; a pair is kept, but never cut in two (kind None).
                    found.append((start, match.end(), "s" if len(match.group()) == 6 else None))
        mapped = data.translate(self._DIGIT_MAP)
        start = mapped.find(self._LONG)
        while start >= 0:
            end = mapped.find(b" ", start)
            end = len(data) if end < 0 else end
            exponent = start - (2 if data[start - 1 : start] in (b"+", b"-") else 1)
            if end - start > MAX_DIGIT_RUN:
                found.append((start, end, "d"))
            elif exponent >= 0 and data[exponent : exponent + 1] in (b"e", b"E"):
                found.append((exponent, end, "d"))
            start = mapped.find(self._LONG, end)
        return found

    def _clean(self, data: bytes, eof: bool) -> bytes:
        cut = len(data) if eof else max(0, len(data) - self._WINDOW)
        for _ in range(3):  # never between the bytes of one UTF-8 character
            if 0 < cut < len(data) and 0x80 <= data[cut] < 0xC0:
                cut -= 1
        out, pos = [], 0
        for start, end, kind in sorted(self._findings(data), key=lambda f: f[:2]):
            if start < pos:
                continue  # inside what was replaced already
            if end > cut:
                if kind == "d" and end == len(data):
                    # A digit run too long already, still going on: replace it now, drop its rest.
                    out += [data[pos:start], self._mark(kind)]
                    pos = cut = len(data)
                    self._skip_digits = True
                else:
                    cut = min(cut, start)
                break
            if kind is not None:
                out += [data[pos:start], self._mark(kind)]
                pos = end
        tail = data[pos:cut]
        if (len(tail) - len(tail.rstrip(b"\\"))) % 2 and not eof:
            cut -= 1  # an unpaired backslash: it goes with what it escapes
        out.append(data[pos:cut])
        self._held = data[cut:]
        emitted = b"".join(out)
        if not emitted.isascii():
            try:
                emitted.decode("utf-8")
            except UnicodeDecodeError:
                text = emitted.decode("utf-8", "surrogateescape")
                self.problem = self.problem or "u"
                emitted = self._UNDECODABLE.sub(self.marker("u").decode(), text).encode("utf-8")
        return emitted

    def _mark(self, kind: str) -> bytes:
        self.problem = self.problem or kind
        return self.marker(kind)
