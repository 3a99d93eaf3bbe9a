"""The ``qemu-console`` source type: a VM's serial console as a tile of its own.

The tile shows a terminal (:class:`~.terminal_view.TerminalView`) on the serial line
of the QEMU tile named by ``vm`` (found through :func:`~.serial.line_for`, so the
console may start before or after its VM and survives the VM's restarts).  It is
RUNNING while that VM's QEMU is attached to the line and STOPPED otherwise, and it
has the VM's keyboard and a pointer for scrolling and selecting.  The tile menu's
"Show serial console" adds one docked to the right of its VM (:mod:`.channels`).

No ``from __future__ import annotations`` in this module: the params' field types
stay real types for the scene loader.
"""

import attrs

from geometry_os import api

from . import serial
from .terminal_view import TerminalView

SOURCE_TYPE = "qemu-console"


@attrs.define(frozen=True)
class ConsoleParams:
    """A terminal on a QEMU tile's serial port."""

    vm: str = api.setting(doc="id of the QEMU tile whose serial port this terminal shows")
    columns: int = api.setting(80, doc="terminal width in characters", min=20, max=400)
    rows: int = api.setting(24, doc="terminal height in lines (the history above it scrolls with the wheel)",
                            min=4, max=200)
    dock: bool = api.setting(True, doc="keep this tile to the right of its VM, top edges aligned, when the "
                             "VM moves (off: it stays where it is put)")


class ConsoleSource(api.FrameSource):
    """Draws the VM's serial console into this tile; types into that serial port."""

    params: ConsoleParams

    def __init__(self, ctx: api.TileContext, params: ConsoleParams) -> None:
        super().__init__(ctx, params)
        self.line = serial.line_for(ctx.runtime_dir.parent, params.vm)
        self.view = TerminalView(ctx.name, self.line, ctx.mailbox, params.columns, params.rows)
        self.view.on_connected = self._connected
        self.capabilities = api.Capabilities(keyboard=self.view, pointer=self.view)

    def start(self) -> None:
        self.view.start()

    def stop(self) -> None:
        self.view.stop()
        self.ctx.report_state(api.TileState.STOPPED, "closed")

    def _connected(self, connected: bool) -> None:
        if connected:
            self.ctx.report_state(api.TileState.RUNNING)
        else:
            self.ctx.report_state(api.TileState.STOPPED, f"{self.params.vm} is not running")
