"""A throwaway sshd on 127.0.0.1 for the qemu+ssh tests: its own host key, one client key, a known_hosts.

It listens on loopback only, takes public keys only (the client key made here), and
runs in the foreground (``-D``) as our child, so it is stopped by its PID.  The
client side never touches the user's ~/.ssh: the URI names the client key
(``keyfile=``) and an ssh wrapper (``command=``, libvirt's own parameter) that adds
``UserKnownHostsFile`` with this server's host key, so host keys are still checked.
The tunnel to a remote VNC uses the same command, which is the point of the test.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import time
from pathlib import Path

START_TIMEOUT = 10.0


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


class Sshd:
    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.port = free_port()
        self.host_key = folder / "host_key"
        self.client_key = folder / "client_key"
        self.known_hosts = folder / "known_hosts"
        self.wrapper = folder / "ssh-wrapper"
        self.process: subprocess.Popen[bytes] | None = None

    def _keygen(self, path: Path) -> None:
        subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(path)], check=True)

    def start(self) -> None:
        self.folder.mkdir(parents=True, exist_ok=True)
        self._keygen(self.host_key)
        self._keygen(self.client_key)
        (self.folder / "authorized_keys").write_text(self.client_key.with_suffix(".pub").read_text())
        host_pub = self.host_key.with_suffix(".pub").read_text().split()[:2]
        self.known_hosts.write_text(f"[127.0.0.1]:{self.port} {' '.join(host_pub)}\n")
        self.wrapper.write_text(f'#!/bin/sh\nexec ssh -o UserKnownHostsFile={self.known_hosts} "$@"\n')
        self.wrapper.chmod(0o755)
        config = self.folder / "sshd_config"
        config.write_text(f"""ListenAddress 127.0.0.1
Port {self.port}
HostKey {self.host_key}
AuthorizedKeysFile {self.folder / 'authorized_keys'}
PasswordAuthentication no
KbdInteractiveAuthentication no
PermitRootLogin prohibit-password
UsePAM no
StrictModes no
PidFile none
AllowStreamLocalForwarding yes
""")
        Path("/run/sshd").mkdir(mode=0o755, exist_ok=True)  # sshd's privilege separation directory
        self.process = subprocess.Popen(["/usr/sbin/sshd", "-D", "-f", str(config), "-E", str(self.folder / "log")],
                                        stdin=subprocess.DEVNULL)
        deadline = time.monotonic() + START_TIMEOUT
        while True:
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=1).close()
                return
            except OSError:
                if self.process.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError(f"sshd did not start: {(self.folder / 'log').read_text()[-500:]}") from None
                time.sleep(0.05)

    def uri(self, *, verify: bool = True, key: Path | None = None, port: int | None = None) -> str:
        """A qemu+ssh URI to this server; ``verify=False`` leaves out our known_hosts (the user's only)."""
        params = f"keyfile={key or self.client_key}"
        if verify:
            params += f"&command={self.wrapper}"
        return f"qemu+ssh://root@127.0.0.1:{port or self.port}/system?{params}"

    def sessions(self) -> list[int]:
        """PIDs of the per-connection sshd processes (children of ours)."""
        if self.process is None:
            return []
        children = Path(f"/proc/{self.process.pid}/task/{self.process.pid}/children")
        try:
            return [int(pid) for pid in children.read_text().split()]
        except OSError:
            return []

    def cut_connections(self) -> list[int]:
        """End every client connection (our sshd's children, by PID); the server keeps listening."""
        cut = self.sessions()
        for pid in cut:
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        return cut

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.cut_connections()
            self.process.terminate()
            try:
                self.process.wait(10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
