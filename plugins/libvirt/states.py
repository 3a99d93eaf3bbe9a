"""A libvirt domain's state (``virDomainGetState``: a state and its reason) as a tile state and a badge reason.

The numbers are libvirt's ``virDomainState`` and its per-state reason enums
(libvirt-domain.h); they are part of libvirt's stable ABI.
"""

from __future__ import annotations

from geometry_os import api

NOSTATE, RUNNING, BLOCKED, PAUSED, SHUTDOWN, SHUTOFF, CRASHED, PMSUSPENDED = range(8)

#: States in which the domain has a QEMU process (and so a screen).
ACTIVE = frozenset({NOSTATE, RUNNING, BLOCKED, PAUSED, SHUTDOWN, PMSUSPENDED})

_PAUSED_REASONS = {1: "paused", 2: "paused for migration", 3: "paused while saving", 4: "paused for a core dump",
                   5: "paused: disk I/O error", 6: "paused by the watchdog", 7: "paused (restored from a snapshot)",
                   8: "paused while shutting down", 9: "paused for a snapshot", 10: "paused: the guest crashed",
                   11: "paused while starting", 12: "paused (post-copy migration)",
                   13: "paused: post-copy migration failed", 14: "paused: a libvirt call failed"}
_SHUTOFF_REASONS = {1: "shut down", 2: "forced off", 3: "crashed", 4: "migrated away", 5: "saved",
                    6: "failed to start", 7: "reverted to a snapshot", 8: "stopped by libvirtd"}
_RUNNING_REASONS = {2: "migrated here", 3: "restored", 4: "from a snapshot", 5: "resumed",
                    6: "migration cancelled", 7: "saving cancelled", 8: "woken up", 9: "crashed, still running",
                    10: "post-copy migration", 11: "post-copy migration failed"}


def tile_state(state: int, reason: int, saved: bool = False) -> tuple[api.TileState, str]:
    """What the tile shows for a domain in ``state`` for ``reason``; ``saved``: a managed save image
    exists (the next start restores it)."""
    if state == PAUSED:
        return api.TileState.PAUSED, _PAUSED_REASONS.get(reason, "paused")
    if state == PMSUSPENDED:
        return api.TileState.PAUSED, "suspended by the guest"
    if state == SHUTDOWN:
        return api.TileState.RUNNING, "shutting down"
    if state == SHUTOFF:
        if saved:
            return api.TileState.STOPPED, "saved: Start restores it"
        return api.TileState.STOPPED, _SHUTOFF_REASONS.get(reason, "shut off")
    if state == CRASHED:
        return api.TileState.FAILED, "the domain crashed"
    return api.TileState.RUNNING, _RUNNING_REASONS.get(reason, "") if state == RUNNING else ""
