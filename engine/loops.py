"""An asyncio loop on a daemon thread of its own, for the life of the process.

Plugins that talk to something outside (QEMU's QMP, libvirt) keep one such loop: it
never blocks the map's main thread, and it dies with the process (it is never
stopped: a daemon thread running ``run_forever``).
"""

from __future__ import annotations

import asyncio
import threading


def loop_thread(name: str) -> asyncio.AbstractEventLoop:
    """Start a new event loop on a daemon thread called ``name``; returns once it runs."""
    loop = asyncio.new_event_loop()
    ready = threading.Event()

    def main() -> None:
        asyncio.set_event_loop(loop)
        loop.call_soon(ready.set)
        loop.run_forever()

    threading.Thread(target=main, name=name, daemon=True).start()
    ready.wait()
    return loop
