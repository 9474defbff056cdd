"""Hosts on this machine: one Linux network namespace per host (`ip netns`), each with loopback and
one veth address on a private switch (a bridge inside a namespace of its own, so the root
namespace's firewall never sees the traffic), and one more veth from the root namespace onto that
switch for the client and the checks. Needs root (CAP_NET_ADMIN) and `ip`.

Names carry the creating process's pid (`bulkscale-<pid hex>-<host>`): `up()` first removes what a
run that no longer exists left behind (a crashed run, a SIGKILLed one), never another live run's."""

from __future__ import annotations

import contextlib
import ipaddress
import os
import re
import shutil
import signal
import subprocess

PREFIX = "bulkscale-"
LINK_PREFIX = "bsk"  # root-namespace veth names: at most 15 characters
_NS = re.compile(rf"^{PREFIX}([0-9a-f]+)-")
_LINK = re.compile(rf"^{LINK_PREFIX}([0-9a-f]+)c(?:@|$)")


def missing() -> str | None:
    """Why namespaces cannot be made here, or None when they can."""
    if os.geteuid() != 0:
        return "not root (ip netns needs CAP_NET_ADMIN)"
    if not shutil.which("ip"):
        return "the `ip` command (iproute2) is not installed"
    probe = f"{PREFIX}{os.getpid():x}-probe"
    done = subprocess.run(["ip", "netns", "add", probe], capture_output=True, text=True)
    if done.returncode:
        return f"ip netns add failed: {done.stderr.strip()}"
    subprocess.run(["ip", "netns", "del", probe], capture_output=True)
    return None


def ip(*argv: str, check: bool = True) -> subprocess.CompletedProcess:
    done = subprocess.run(["ip", *argv], capture_output=True, text=True)
    if check and done.returncode:
        raise RuntimeError(f"ip {' '.join(argv)}: {done.stderr.strip()}")
    return done


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _kill_namespace(ns: str) -> None:
    """SIGKILL every process still in `ns`, then delete it (its veths go with it)."""
    pids = ip("netns", "pids", ns, check=False).stdout.split()
    for pid in pids:
        with contextlib.suppress(ProcessLookupError, ValueError):
            os.kill(int(pid), signal.SIGKILL)
    ip("netns", "del", ns, check=False)


def remove_leftovers(*, own_too: bool = False) -> list[str]:
    """Delete the namespaces and root links of runs whose process is gone (and this one's when
    `own_too`); returns what was removed."""
    removed = []
    mine = f"{os.getpid():x}"
    for line in ip("netns", "list", check=False).stdout.splitlines():
        name = line.split()[0] if line.split() else ""
        m = _NS.match(name)
        if m and ((own_too and m[1] == mine) or (m[1] != mine and not _alive(int(m[1], 16)))):
            _kill_namespace(name)
            removed.append(name)
    for line in ip("-o", "link", "show", check=False).stdout.splitlines():
        fields = line.split(":")
        name = fields[1].strip() if len(fields) > 1 else ""
        m = _LINK.match(name)
        if m and ((own_too and m[1] == mine) or (m[1] != mine and not _alive(int(m[1], 16)))):
            ip("link", "del", name.split("@")[0], check=False)
            removed.append(name.split("@")[0])
    return removed


def _free_subnet() -> ipaddress.IPv4Network:
    """A /24 in 10.213.0.0/16 that no route of the root namespace covers."""
    used = [
        ipaddress.ip_network(r.split()[0], strict=False)
        for r in ip("-4", "route", "show", "table", "all", check=False).stdout.splitlines()
        if r and r.split()[0][0].isdigit()
    ]
    for i in range(os.getpid() % 200, os.getpid() % 200 + 250):
        net = ipaddress.ip_network(f"10.213.{i % 250}.0/24")
        if not any(net.overlaps(u) for u in used if u.prefixlen > 0):
            return net
    raise RuntimeError("no free /24 in 10.213.0.0/16")


class Network:
    """`hosts` namespaces on one switch; `address[host]` is each one's address, `client` the root
    namespace's."""

    def __init__(self, hosts: list[str]):
        self.tag = f"{os.getpid():x}"
        self.hosts = hosts
        self.switch = f"{PREFIX}{self.tag}-switch"
        self.subnet = _free_subnet()
        base = self.subnet.network_address
        self.client = str(base + 1)
        self.address = {host: str(base + 10 + i) for i, host in enumerate(hosts)}
        self.root_link = f"{LINK_PREFIX}{self.tag}c"
        self.made = False

    def ns(self, host: str) -> str:
        return f"{PREFIX}{self.tag}-{host}"

    def port(self, host: str) -> str:
        """The switch's port of `host` (its other end is the host's eth0)."""
        return f"p{self.hosts.index(host)}"

    def up(self) -> list[str]:
        """Make the switch and the hosts (after removing leftovers); returns the leftovers removed."""
        removed = remove_leftovers()
        self.made = True
        prefix = self.subnet.prefixlen
        ip("netns", "add", self.switch)
        ip("-n", self.switch, "link", "add", "br0", "type", "bridge")
        ip("-n", self.switch, "link", "set", "br0", "up")
        for host in self.hosts:
            ns, port = self.ns(host), self.port(host)
            ip("netns", "add", ns)
            ip("link", "add", "eth0", "netns", ns, "type", "veth", "peer", "name", port, "netns", self.switch)
            ip("-n", self.switch, "link", "set", port, "master", "br0", "up")
            ip("-n", ns, "addr", "add", f"{self.address[host]}/{prefix}", "dev", "eth0")
            ip("-n", ns, "link", "set", "eth0", "up")
            ip("-n", ns, "link", "set", "lo", "up")
        ip("link", "add", self.root_link, "type", "veth", "peer", "name", "pc", "netns", self.switch)
        ip("-n", self.switch, "link", "set", "pc", "master", "br0", "up")
        ip("addr", "add", f"{self.client}/{prefix}", "dev", self.root_link)
        ip("link", "set", self.root_link, "up")
        return removed

    def cut(self, host: str) -> None:
        """Pull `host`'s cable at the switch: nothing reaches it or leaves it, and nobody is told."""
        ip("-n", self.switch, "link", "set", self.port(host), "down")

    def mend(self, host: str) -> None:
        ip("-n", self.switch, "link", "set", self.port(host), "up")

    def down(self) -> None:
        if not self.made:
            return
        for host in self.hosts:
            _kill_namespace(self.ns(host))
        _kill_namespace(self.switch)
        ip("link", "del", self.root_link, check=False)
        self.made = False
