"""An SSH tunnel to a remote domain's VNC display, with the user's own ssh, keys and known_hosts.

``openGraphicsFD`` cannot cross hosts (libvirt cannot pass a file descriptor over
its SSH transport, and trying kills the connection), so a remote VNC display is
reached the way a user would: ``ssh -N -L <local socket>:<remote VNC socket>``
(or ``:<host>:<port>`` for a VNC that listens on TCP).  The ssh command, user,
port and key are the ones libvirt uses for the same URI (:class:`~.uri.SshTarget`);
``BatchMode`` makes ssh fail instead of prompting, and host keys are checked as the
user's ssh configuration says (only a URI with ``no_verify=1`` turns that off, as it
does for libvirt itself).  The local end is a Unix socket in the tile's private
0700 runtime directory.

The ssh process is started through ``setpriv --pdeathsig`` from the libvirt loop's
thread, which lives as long as the shell: a shell that dies takes its tunnels along.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import shutil
import signal
from pathlib import Path

from .errors import LibvirtFailure, describe
from .uri import SshTarget

log = logging.getLogger(__name__)

READY_TIMEOUT = 20.0  # seconds for ssh to log in and open the forwarding socket
STOP_TIMEOUT = 3.0


class SshTunnel:
    """One ``ssh -N -L`` process forwarding ``local`` to the VNC display on the remote host."""

    def __init__(self, target: SshTarget, local: Path, *, socket: str | None = None,
                 host: str | None = None, port: int | None = None) -> None:
        if (socket is None) == (port is None):
            raise ValueError("a tunnel goes to a remote socket or to a host and port")
        self.target = target
        self.local = local
        self.remote = socket if socket is not None else f"{host or '127.0.0.1'}:{port}"
        self._process: asyncio.subprocess.Process | None = None

    def argv(self) -> list[str]:
        prefix = []
        setpriv = shutil.which("setpriv")
        if setpriv is not None:
            prefix = [setpriv, "--pdeathsig", "TERM", "--"]
        return [*prefix, self.target.command, "-N", "-T", "-o", "BatchMode=yes", "-o", "ExitOnForwardFailure=yes",
                "-o", "StreamLocalBindUnlink=yes", "-o", "ServerAliveInterval=5", "-o", "ServerAliveCountMax=3",
                *self.target.options(), "-L", f"{self.local}:{self.remote}", self.target.destination()]

    @property
    def pid(self) -> int | None:
        return self._process.pid if self._process is not None else None

    async def open(self, uri: str) -> None:
        """Start ssh and wait until the local socket exists; :class:`LibvirtFailure` (one line) if ssh gives up."""
        self.local.unlink(missing_ok=True)
        self._process = process = await asyncio.create_subprocess_exec(
            *self.argv(), stdin=asyncio.subprocess.DEVNULL, stdout=asyncio.subprocess.DEVNULL,
            stderr=asyncio.subprocess.PIPE)
        loop = asyncio.get_running_loop()
        deadline = loop.time() + READY_TIMEOUT
        while not self.local.exists():
            if process.returncode is not None or loop.time() > deadline:
                timed_out = process.returncode is None
                await self.close()
                stderr = b""
                if process.stderr is not None:
                    with contextlib.suppress(Exception):
                        stderr = await asyncio.wait_for(process.stderr.read(), 1.0)
                text = stderr.decode(errors="replace").strip() or f"ssh exited with status {process.returncode}"
                if timed_out:
                    text = f"ssh did not open the tunnel within {READY_TIMEOUT:g} s"
                raise LibvirtFailure(f"VNC tunnel: {describe(RuntimeError(text), uri, self.target)}")
            await asyncio.sleep(0.05)
        log.info("VNC tunnel up: %s -> %s:%s (ssh pid %d)", self.local, self.target.destination(), self.remote,
                 process.pid)

    @property
    def alive(self) -> bool:
        return self._process is not None and self._process.returncode is None

    async def wait_closed(self) -> int | None:
        """Wait until ssh exits (the tunnel broke); its exit status."""
        if self._process is None:
            return None
        return await self._process.wait()

    async def close(self) -> None:
        """Stop ssh by its pid (TERM, then KILL) and remove the local socket; idempotent."""
        process = self._process
        if process is not None and process.returncode is None:
            with contextlib.suppress(ProcessLookupError):
                process.send_signal(signal.SIGTERM)
            try:
                await asyncio.wait_for(process.wait(), STOP_TIMEOUT)
            except TimeoutError:
                with contextlib.suppress(ProcessLookupError):
                    process.kill()
                await process.wait()
        self.local.unlink(missing_ok=True)
