"""Each slang test compiles into its own cache folder, so none sees another's results."""

from __future__ import annotations

from pathlib import Path

import pytest


@pytest.fixture(autouse=True)
def slang_cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    cache = tmp_path / "xdg-cache"
    monkeypatch.setenv("XDG_CACHE_HOME", str(cache))
    return cache / "geometry-os" / "slang"
