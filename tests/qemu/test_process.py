"""QEMU is only ever started through util-linux setpriv (PR_SET_PDEATHSIG without a preexec_fn)."""

from __future__ import annotations

import shutil

import pytest

from geometry_os.plugins.qemu import process, registry
from geometry_os.plugins.qemu.params import QemuParams
from geometry_os.plugins.qemu.source import QemuSource
from geometry_os.tiles import TileState

MISSING = "setpriv not found (apt-get install util-linux): without it QEMU would outlive a killed shell"


@pytest.fixture
def no_setpriv(monkeypatch):
    real = shutil.which
    monkeypatch.setattr(shutil, "which", lambda name, *args, **kwargs:
                        None if name == "setpriv" else real(name, *args, **kwargs))


def test_the_prefix_execs_through_setpriv():
    prefix = process.pdeathsig_prefix()
    assert prefix[1:] == ["--pdeathsig", "KILL", "--"] and prefix[0].endswith("/setpriv")


def test_without_setpriv_the_error_names_the_package(no_setpriv):
    with pytest.raises(process.SpawnError) as missing:
        process.pdeathsig_prefix()
    assert str(missing.value) == MISSING


def test_without_setpriv_the_tile_fails_and_no_qemu_starts(no_setpriv, sources, make_ctx, memtest_iso, wait_for):
    ctx = make_ctx("vm")
    source = QemuSource(ctx, QemuParams(iso=str(memtest_iso), memory=64))
    sources.append(source)
    before = registry.live()
    source.start()
    wait_for(lambda: ctx.state is TileState.FAILED, what="FAILED")
    assert ctx.reason == MISSING
    assert source.pid is None and registry.live() == before
