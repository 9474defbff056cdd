"""Fast, deterministic opportunity CSV generator."""

from __future__ import annotations

import os

HEADER = "OpportunityID,OpportunityName,AccountName,Amount,CloseDate,Currency,Stage,Territory\n"

STAGES = (
    "Prospecting",
    "Qualification",
    "Needs Analysis",
    "Proposal",
    "Negotiation",
    "Closed Won",
    "Closed Lost",
)
CURRENCIES = ("USD", "EUR", "GBP")
TERRITORIES = ("North America East", "North America West", "EMEA North", "EMEA South", "APAC", "LATAM")
BATCH = 10_000


def generate(path: str, rows: int) -> int:
    """Write `rows` opportunity rows (plus the header) to `path`; returns the file size in bytes."""
    os.makedirs(os.path.dirname(path) or ".", exist_ok=True)
    tmp = path + ".tmp"
    with open(tmp, "w", encoding="ascii", newline="") as f:
        f.write(HEADER)
        for start in range(1, rows + 1, BATCH):
            end = min(start + BATCH, rows + 1)
            f.writelines(
                [
                    f"OPP-{i:06d},Opportunity {i},Account {i % 9973},"
                    f"{(i * 7919) % 10_000_000 // 100}.{i * 31 % 100:02d},"
                    f"2025-{i % 12 + 1:02d}-{i % 28 + 1:02d},"
                    f"{CURRENCIES[i % 3]},{STAGES[i % 7]},{TERRITORIES[i % 6]}\n"
                    for i in range(start, end)
                ]
            )
    os.replace(tmp, path)
    return os.path.getsize(path)


def split_parts(path: str, max_bytes: int) -> list[tuple[int, int]]:
    """(start, end) byte ranges of the data lines, cut at line boundaries so that the header
    plus each range is at most `max_bytes`."""
    size = os.path.getsize(path)
    with open(path, "rb") as f:
        header_len = len(f.readline())
        budget = max_bytes - header_len
        parts = []
        start = header_len
        while start < size:
            end = start + budget
            if end >= size:
                end = size
            else:
                f.seek(end)
                # Back up to the last newline at or before `end`.
                window_start = max(start, end - 64 * 1024)
                f.seek(window_start)
                chunk = f.read(end - window_start)
                nl = chunk.rfind(b"\n")
                if nl < 0:
                    raise ValueError("a CSV line is longer than the part size")
                end = window_start + nl + 1
            parts.append((start, end))
            start = end
    return parts
