"""Failed-login throttling, shared by every door that checks a password (Eloqua Basic, the OAuth
token endpoint, the admin login) and by the token doors (Bearer, X-Api-Key).

Why it is shaped this way (README "Security", "Throttling"):

- A password check costs a full PBKDF2 run (~0.2 s of CPU), so refusing before the check is what
  protects both the account and the server: an attempt that is over a limit gets 429 (the admin
  login page: a message) and no check at all.
- Failures are counted per client address, per account (`Site\\User`, any letter case, from any
  address: a guesser with many addresses) and per (account, address), in fixed windows of
  `AUTH_FAILURE_WINDOW_SECONDS`; one account counter serves every door, so spreading guesses over
  Basic, OAuth and the admin gains nothing.
- A valid credential must not be refused because of someone else's failures (a NAT or a proxy
  puts many tenants behind one address; a guesser can push any account over its limit). Tokens
  are looked up first (a hash lookup) and never throttled; a Basic header that passed lately is
  remembered (kernel.auth.BasicCredentialCache) and passes. For the rest, the pair (account,
  address) that logged in successfully within `AUTH_KNOWN_CLIENT_SECONDS` is *known* and keeps
  getting its check however many failures its address or its account has; only its own failures
  (per pair) stop it. Unknown pairs wait when the address, the account or the pair is over its
  limit. This is OWASP's "device cookie" scheme (lock out untrusted clients, never the trusted
  ones) with the (account, address) pair standing in for the cookie, which API clients do not keep.
- Keys hold an HMAC (keyed with SECRET_KEY) of what they count, never an account name, a password
  or an address in clear. IPv6 addresses are counted per /64, what one host usually holds.
- A cache (Redis) that does not answer skips throttling, logged: requests go on.
"""

from __future__ import annotations

import ipaddress
import logging
import time
from dataclasses import dataclass

from django.conf import settings
from django.core.cache import cache
from django.utils.crypto import salted_hmac
from redis.exceptions import RedisError

logger = logging.getLogger(__name__)

# A cache (Redis) that does not answer: throttling degrades (skipped, logged), requests go on.
CACHE_ERRORS = (RedisError, OSError)

clock = time.time  # tests move it


def client_address(request) -> str:
    """The client's address: REMOTE_ADDR, or with `TRUSTED_PROXY_COUNT` proxies in front, the
    address the outermost of them saw, which each proxy appends to X-Forwarded-For (entries to
    its left are the client's own words). IPv6 is cut to its /64."""
    meta = getattr(request, "META", {})
    address = meta.get("REMOTE_ADDR", "")
    hops = settings.TRUSTED_PROXY_COUNT
    if hops > 0:
        forwarded = [part.strip() for part in meta.get("HTTP_X_FORWARDED_FOR", "").split(",")]
        forwarded = [part for part in forwarded if part]
        if len(forwarded) >= hops:
            address = forwarded[-hops]
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return address[:64] or "?"
    if ip.version == 6 and ip.ipv4_mapped is not None:
        return str(ip.ipv4_mapped)
    if ip.version == 6:
        return str(ipaddress.ip_network(f"{ip}/64", strict=False))
    return str(ip)


def _digest(kind: str, value: str) -> str:
    return salted_hmac("kernel.throttle", f"{kind}\0{value}", algorithm="sha256").hexdigest()[:32]


@dataclass(frozen=True)
class LoginAttempt:
    """One try of a password (or of a client secret) at any door. `account` is the normalised name
    it was for (`site\\user` in lower case, `oauth-client:<id>`), None when it names none."""

    address: str
    account: str | None

    def window(self) -> tuple[int, int]:
        """(this window's number, seconds until it ends)."""
        now = int(clock())
        length = settings.AUTH_FAILURE_WINDOW_SECONDS
        return now // length, length - now % length

    def counter_keys(self) -> dict[str, str]:
        number, _ = self.window()
        keys = {"address": f"authfail:addr:{_digest('addr', self.address)}:{number}"}
        if self.account is not None:
            keys["account"] = f"authfail:acct:{_digest('acct', self.account)}:{number}"
            keys["pair"] = f"authfail:pair:{self.pair_digest()}:{number}"
        return keys

    def pair_digest(self) -> str:
        return _digest("pair", f"{self.account}\0{self.address}")

    def known_key(self) -> str:
        return f"authknown:{self.pair_digest()}"


def login_attempt(request, *, account: str | None) -> LoginAttempt:
    return LoginAttempt(address=client_address(request), account=account)


def login_refusal(attempt: LoginAttempt) -> int | None:
    """Seconds the attempt must wait before any check is made; None: check it."""
    keys = attempt.counter_keys()
    known_key = attempt.known_key() if attempt.account is not None else None
    try:
        counts = cache.get_many([*keys.values(), *([known_key] if known_key else [])])
    except CACHE_ERRORS as exc:
        logger.warning("auth throttling skipped: the cache is unavailable (%r)", exc)
        return None
    limit, account_limit = settings.AUTH_FAILURE_LIMIT, settings.AUTH_ACCOUNT_FAILURE_LIMIT
    _, wait = attempt.window()
    if "pair" in keys and counts.get(keys["pair"], 0) >= limit:
        return wait  # the pair's own failures: known or not
    if known_key and counts.get(known_key):
        return None
    if counts.get(keys["address"], 0) >= limit:
        return wait
    if "account" in keys and counts.get(keys["account"], 0) >= account_limit:
        return wait
    return None


def _count(key: str) -> None:
    timeout = settings.AUTH_FAILURE_WINDOW_SECONDS
    if cache.add(key, 1, timeout=timeout):
        return
    try:
        cache.incr(key)
    except ValueError:  # expired between add and incr
        cache.add(key, 1, timeout=timeout)


def login_failure_record(attempt: LoginAttempt) -> None:
    try:
        for key in attempt.counter_keys().values():
            _count(key)
    except CACHE_ERRORS as exc:
        logger.warning("auth failure not counted: the cache is unavailable (%r)", exc)


def login_success_record(attempt: LoginAttempt) -> None:
    """The pair is known from now on: its own failures aside, it always gets its check."""
    if attempt.account is None:
        return
    try:
        cache.set(attempt.known_key(), 1, timeout=settings.AUTH_KNOWN_CLIENT_SECONDS)
    except CACHE_ERRORS as exc:
        logger.warning("auth success not remembered: the cache is unavailable (%r)", exc)


# Bad tokens are counted per address on a counter of their own: a token is checked by a hash
# lookup, not PBKDF2, and a client with a stale token must not hold up its neighbours' logins.


def _token_key(request) -> tuple[str, int]:
    attempt = LoginAttempt(address=client_address(request), account=None)
    number, wait = attempt.window()
    return f"authfail:token:{_digest('addr', attempt.address)}:{number}", wait


def token_refusal(request) -> int | None:
    """Seconds a client that sent a bad token must wait; None: answer 401 (and count it)."""
    key, wait = _token_key(request)
    try:
        failures = cache.get(key) or 0
    except CACHE_ERRORS as exc:
        logger.warning("auth throttling skipped: the cache is unavailable (%r)", exc)
        return None
    return wait if failures >= settings.AUTH_FAILURE_LIMIT else None


def token_failure_record(request) -> None:
    key, _ = _token_key(request)
    try:
        _count(key)
    except CACHE_ERRORS as exc:
        logger.warning("auth failure not counted: the cache is unavailable (%r)", exc)
