"""Pass targets by size and format, reused across tiles and frames.

Intermediate passes need a target only while one tile's effects are drawn: the
runner takes targets here and gives them all back when the tile is done, so the next
tile of the same size on screen draws into the same textures, and so does the next
frame.  A target nobody asked for during :data:`KEEP_FRAMES` frames is deleted (a
zoom that changes every tile's size leaves old sizes behind).  Feedback and history
targets are not pooled: they must outlive the frame (the runner owns them).
"""

from __future__ import annotations

from geometry_os.render.target import RenderTarget

KEEP_FRAMES = 3

Key = tuple[int, int, str]


class TargetPool:
    """Free and lent :class:`RenderTarget` objects (main thread)."""

    def __init__(self) -> None:
        self._free: dict[Key, list[RenderTarget]] = {}
        self._lent: list[RenderTarget] = []
        self._last_used: dict[int, int] = {}  # id(target) -> frame it was last lent in
        self.frame = 0
        self.allocations = 0  # targets ever made (tests and benchmarks check reuse with it)

    def acquire(self, width: int, height: int, format: str) -> RenderTarget:
        free = self._free.get((width, height, format))
        target = free.pop() if free else None
        if target is None:
            target = RenderTarget(width, height, format)
            self.allocations += 1
        self._lent.append(target)
        self._last_used[id(target)] = self.frame
        return target

    def release_all(self) -> None:
        """Every lent target is free again (one tile's effects are drawn)."""
        for target in self._lent:
            self._free.setdefault((target.width, target.height, target.format), []).append(target)
        self._lent.clear()

    def end_frame(self) -> None:
        """Delete targets no tile used for :data:`KEEP_FRAMES` frames; start the next frame."""
        self.release_all()
        for key, targets in list(self._free.items()):
            keep = [t for t in targets if self.frame - self._last_used[id(t)] < KEEP_FRAMES]
            for target in targets:
                if target not in keep:
                    del self._last_used[id(target)]
                    target.delete()
            if keep:
                self._free[key] = keep
            else:
                del self._free[key]
        self.frame += 1

    @property
    def size(self) -> int:
        """Targets held (free and lent)."""
        return sum(len(t) for t in self._free.values()) + len(self._lent)

    def delete(self) -> None:
        self.release_all()
        for targets in self._free.values():
            for target in targets:
                target.delete()
        self._free.clear()
        self._last_used.clear()
