"""libvirt connection URIs: the checks we can make before connecting, and the SSH target of a remote one.

A libvirt URI is ``driver[+transport]://[user@][host][:port]/path[?params]``
(https://libvirt.org/uri.html).  What this module needs from it:

* whether the scheme is one libvirt can have at all (:func:`check`), so a typo is a
  one-line error at scene load instead of a connection that never comes;
* whether the connection is remote (:attr:`ParsedUri.remote`): ``openGraphicsFD``
  must never be called on a remote connection (it kills it, see docs/libvirt.md);
* for ``+ssh`` URIs, how libvirt reaches the host (:class:`SshTarget`), so the VNC
  tunnel uses the same ssh command, user, port, key and host-key policy.
"""

from __future__ import annotations

import re
import urllib.parse

import attrs

#: Hypervisor drivers libvirt has (the part before ``+``).
DRIVERS = frozenset({"qemu", "test", "lxc", "xen", "libxl", "vbox", "vmwareplayer", "vmwarews", "vmwarefusion",
                     "vpx", "esx", "gsx", "bhyve", "openvz", "hyperv", "ch", "vz", "parallels", "network",
                     "storage", "nodedev", "secret", "nwfilter", "interface"})
#: Transports of the remote driver (the part after ``+``).
TRANSPORTS = frozenset({"ssh", "libssh", "libssh2", "tcp", "tls", "unix", "ext"})
#: Transports that reach the host through SSH: the VNC tunnel can use them.
SSH_TRANSPORTS = frozenset({"ssh", "libssh", "libssh2"})

_SCHEME = re.compile(r"^([A-Za-z][A-Za-z0-9.-]*)(?:\+([A-Za-z0-9]+))?$")


class UriError(ValueError):
    """A URI libvirt cannot have; the message is one line."""


@attrs.frozen
class SshTarget:
    """How to reach a remote host with the user's own ssh, as libvirt does for this URI."""

    host: str
    user: str | None = None
    port: int | None = None
    keyfile: str | None = None
    command: str = "ssh"  # libvirt's ``command=`` parameter: another ssh binary or wrapper
    no_verify: bool = False  # the URI itself asked to skip host-key checking (libvirt's ``no_verify=1``)
    known_hosts: str | None = None  # libvirt's ``known_hosts=`` (its libssh transports read it)

    def destination(self) -> str:
        return f"{self.user}@{self.host}" if self.user else self.host

    def options(self) -> list[str]:
        """ssh options for this target (before the destination), as libvirt would pass them."""
        args = []
        if self.port is not None:
            args += ["-p", str(self.port)]
        if self.keyfile:
            args += ["-i", self.keyfile]
        if self.known_hosts:
            args += ["-o", f"UserKnownHostsFile={self.known_hosts}"]
        if self.no_verify:
            args += ["-o", "StrictHostKeyChecking=no"]
        return args

    def login_hint(self) -> str:
        """The command a user runs once to check and accept the host's key."""
        return " ".join([self.command, *self.options(), self.destination()])


@attrs.frozen
class ParsedUri:
    uri: str
    driver: str
    transport: str | None
    host: str
    user: str | None
    port: int | None
    params: dict[str, str]

    @property
    def remote(self) -> bool:
        """Whether libvirt talks to another machine (or through a network transport): no fd passing."""
        return bool(self.host) or self.transport not in (None, "unix")

    @property
    def label(self) -> str:
        """Short name of where the domains live, for titles: the host, or "" for this machine."""
        return self.host if self.remote else ""

    def ssh_target(self) -> SshTarget | None:
        """How to reach the host over SSH; None when the transport is not SSH."""
        if self.transport not in SSH_TRANSPORTS:
            return None
        return SshTarget(host=self.host or "localhost", user=self.user, port=self.port,
                         keyfile=self.params.get("keyfile"), command=self.params.get("command", "ssh"),
                         no_verify=self.params.get("no_verify", "0") not in ("", "0"),
                         known_hosts=self.params.get("known_hosts"))


def parse(uri: str) -> ParsedUri:
    """Split ``uri``; :class:`UriError` (one line) when libvirt cannot have it."""
    if not uri or "://" not in uri:
        raise UriError(f"{uri!r} is not a libvirt URI (expected driver[+transport]://[user@host]/path, "
                       "e.g. qemu:///system or qemu+ssh://user@host/system)")
    scheme, _, _ = uri.partition("://")
    match = _SCHEME.match(scheme)
    if match is None or match.group(1).lower() not in DRIVERS:
        raise UriError(f"unknown URI scheme {scheme!r} in {uri} (drivers: qemu, test, lxc, xen, ch, ...; "
                       "transports: +ssh, +tls, +tcp, +unix, +libssh, +ext)")
    transport = match.group(2)
    if transport is not None and transport.lower() not in TRANSPORTS:
        raise UriError(f"unknown transport {transport!r} in {uri} (known: {', '.join(sorted(TRANSPORTS))})")
    try:
        split = urllib.parse.urlsplit(uri)
        port = split.port
    except ValueError as exc:
        raise UriError(f"malformed URI {uri!r}: {exc}") from None
    params = dict(urllib.parse.parse_qsl(split.query, keep_blank_values=True))
    return ParsedUri(uri=uri, driver=match.group(1).lower(), transport=transport.lower() if transport else None,
                     host=split.hostname or "", user=urllib.parse.unquote(split.username) if split.username else None,
                     port=port, params=params)


def check(uri: str) -> str:
    """``uri`` when libvirt can have it; :class:`UriError` otherwise (the params' validator)."""
    parse(uri)
    return uri


def for_gui(uri: str) -> str:
    """``uri`` with ``no_tty=1`` for SSH transports: ssh must fail instead of asking on a terminal
    nobody looks at (libvirt's advice for graphical programs).  The user's other parameters are kept."""
    parsed = parse(uri)
    if parsed.transport != "ssh" or "no_tty" in parsed.params:
        return uri
    return uri + ("&" if "?" in uri else "?") + "no_tty=1"
