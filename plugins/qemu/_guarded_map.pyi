# Types of the C extension plugins/qemu/_guarded_map.c (see the comment at its top).
from typing_extensions import Buffer

class GuardedMap(Buffer):
    """A read-only shared mapping of ``fd``'s first ``length`` bytes that reads zeros
    instead of raising SIGBUS when the file shrinks under it."""

    def __init__(self, fd: int, length: int) -> None: ...
    def __buffer__(self, flags: int, /) -> memoryview: ...
    @property
    def faulted(self) -> bool:
        """True once a read hit a page past the file's end (those pages now read as zeros)."""
    def close(self) -> None:
        """Unmap now (BufferError while a view of it lives)."""
