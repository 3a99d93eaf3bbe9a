"""The one error the slang front-end raises: a single line, ``file:line: what``."""

from __future__ import annotations

from pathlib import Path


class SlangError(Exception):
    """A preset or shader could not be read or compiled.

    The message is always one line and starts with where the problem is (``file:line:``
    when a line is known, ``file:`` otherwise), so it can be shown to a user as is.
    """

    def __init__(self, message: str) -> None:
        super().__init__(" ".join(part.strip() for part in message.splitlines() if part.strip()) or "slang error")

    @classmethod
    def at(cls, path: Path | str, line: int | None, what: str) -> SlangError:
        """An error about ``path`` (at ``line`` when known)."""
        return cls(f"{path}:{line}: {what}" if line is not None else f"{path}: {what}")
