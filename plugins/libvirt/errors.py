"""One-line messages for what goes wrong between us and libvirt, each with what to do about it.

libvirt's own messages are long, nested ("Cannot recv data: ssh: connect to host h
port 22: Connection refused: Connection reset by peer") and say nothing of the fix.
:func:`describe` turns the common failures into one line a tile or ``geos doctor``
can show: an unreachable host, an unknown SSH host key, a refused SSH login,
permission denied on the libvirt socket (naming the group that owns it), a daemon
that is not running, polkit without an agent, an unknown domain.  Anything else
keeps libvirt's first line.  SSH's own messages are English whatever the locale;
libvirt's are matched by error code where they may be translated.
"""

from __future__ import annotations

import grp
import os
import re

from .uri import SshTarget

VIR_ERR_NO_DOMAIN = 42
VIR_ERR_AUTH_UNAVAILABLE = 94

_SOCKET = re.compile(r"Failed to connect socket to '([^']+)': (.+)")
_SSH_CONNECT = re.compile(r"ssh: connect to host (\S+) port (\d+): ([^:]+)")
_SSH_RESOLVE = re.compile(r"ssh: Could not resolve hostname ([^:]+): ([^:]+)")


class LibvirtFailure(Exception):
    """A failure already described in one line (:func:`describe`)."""


def _code(exc: BaseException) -> int | None:
    getter = getattr(exc, "get_error_code", None)  # libvirt.libvirtError without importing libvirt here
    if getter is None:
        return None
    code = getter()
    return code if isinstance(code, int) else None


def _first_line(text: str) -> str:
    lines = [line.strip() for line in text.strip().splitlines() if line.strip()]
    return lines[0] if lines else "unknown error"


def socket_group_hint(path: str) -> str:
    """What to do about permission denied on a libvirt socket: join the group that owns it."""
    try:
        st = os.stat(path)
    except OSError:
        return "ask the administrator for access to it"
    try:
        group = grp.getgrgid(st.st_gid).gr_name
    except KeyError:
        group = str(st.st_gid)
    if st.st_gid == 0 or not st.st_mode & 0o060:
        return (f"it belongs to {group} and is not group-writable: libvirtd must be configured with "
                "unix_sock_group (docs/libvirt.md)")
    return f"join group '{group}' (sudo adduser $USER {group}), then log in again"


def describe(exc: BaseException, uri: str, ssh: SshTarget | None = None, domain: str | None = None) -> str:
    """One line for a failure talking to ``uri`` (about ``domain``, when given)."""
    text = str(exc)
    code = _code(exc)
    if code == VIR_ERR_NO_DOMAIN and domain is not None:
        return f"no domain {domain!r} on {uri}"
    if "Host key verification failed" in text:
        target = ssh.destination() if ssh else uri
        fix = f": run '{ssh.login_hint()}' once to check and accept it" if ssh else ""
        return f"the SSH host key of {target} is not known{fix}"
    if match := _SSH_CONNECT.search(text):
        return f"host {match.group(1)} port {match.group(2)} is unreachable ({match.group(3).strip()})"
    if match := _SSH_RESOLVE.search(text):
        return f"host {match.group(1)} is unknown ({match.group(2).strip()})"
    if "Permission denied (" in text:  # ssh's "user@host: Permission denied (publickey,password)."
        methods = text.split("Permission denied (", 1)[1].split(")", 1)[0]
        target = ssh.destination() if ssh else uri
        key = f" (keyfile={ssh.keyfile})" if ssh and ssh.keyfile else ""
        return f"SSH refused the login to {target} ({methods}): check the key{key} or your ssh-agent"
    if match := _SOCKET.search(text):
        path, reason = match.group(1), match.group(2).strip()
        if "ermission denied" in reason:
            return f"permission denied on the libvirt socket {path}: {socket_group_hint(path)}"
        if "No such file" in reason or "Connection refused" in reason:
            return (f"libvirtd is not running on this machine (no answer at {path}): start it "
                    "(systemctl start libvirtd, or virtlogd -d && libvirtd -d)")
        return f"cannot connect to {path}: {reason}"
    if code == VIR_ERR_AUTH_UNAVAILABLE or "polkit" in text or "Unable to get system bus connection" in text:
        return (f"libvirtd asks polkit whether you may use {uri} and no polkit agent answered: join group "
                "'libvirt' where its polkit rule allows it, or configure unix_sock_group (docs/libvirt.md)")
    return f"{uri}: {_first_line(text)}"
