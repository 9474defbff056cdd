"""Company domains in one canonical form, so a deal's `domain` can be matched to an account's.

`https://WWW.Example.com:443/about?x=1` -> `example.com`. Accounts store the normalised value;
anything that matches on a domain normalises the incoming one with the same function.
"""

from __future__ import annotations

import re

_SCHEME = re.compile(r"^[a-z][a-z0-9+.-]*://")


def normalise_domain(value: str | None) -> str | None:
    """Lower case, no scheme, user info, `www.`, port, path, query or trailing dot; None when empty."""
    if value is None:
        return None
    domain = value.strip().lower()
    domain = _SCHEME.sub("", domain)
    domain = re.split(r"[/?#]", domain, maxsplit=1)[0]
    domain = domain.rsplit("@", 1)[-1]  # user info, or an e-mail address given as a domain
    domain = domain.split(":", 1)[0].strip(".")
    if domain.startswith("www."):
        domain = domain[4:]
    return domain or None
