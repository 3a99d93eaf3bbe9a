"""Time dilation's decisions (plugins/desktop/dilation.py) on a camera and tiles, with a fake
machine that records what it was asked and whose answers the test gives (to inject a pause
that fails and a STOP event that comes late).  The real QEMU round trip is in
tests/qemu/test_dilation.py."""

from __future__ import annotations

import concurrent.futures
from pathlib import Path
from typing import Any

import pytest

from geometry_os import api
from geometry_os.plugins.desktop.dilation import BADGE, OffscreenPolicy

State = api.TileState


class FakeMachine(api.FrameSource):
    """A fake lifecycle peer: records calls; each answer is a future the test completes."""

    def __init__(self, ctx: api.TileContext) -> None:
        super().__init__(ctx, None)
        self.calls: list[str] = []
        self.futures: list[concurrent.futures.Future[Any]] = []
        self.capabilities = api.Capabilities(lifecycle=self)  # type: ignore[arg-type]

    def _call(self, name: str) -> concurrent.futures.Future[Any]:
        self.calls.append(name)
        self.futures.append(concurrent.futures.Future())
        return self.futures[-1]

    def pause(self) -> concurrent.futures.Future[Any]:
        return self._call("pause")

    def resume(self) -> concurrent.futures.Future[Any]:
        return self._call("resume")

    def answer(self, state: State | None) -> None:
        """The last call succeeded; the machine reports ``state`` (None: its event is still on the way)."""
        self.futures[-1].set_result(None)
        if state is not None:
            self.ctx.report_state(state)


class FakeShell:
    def __init__(self, tiles: list[api.Tile]) -> None:
        self.camera = api.Camera(1000, 600, 500, 300, 1.0)  # the world 0..1000 x 0..600 in view
        self.tiles = tiles


def machine_tile(x: float, offscreen: str = "pause", grace: float = 5.0) -> tuple[api.Tile, FakeMachine]:
    ctx = api.TileContext(name=f"vm{int(x)}", title="vm", scene_dir=Path("."), runtime_dir=Path("."))
    ctx.state = State.RUNNING
    machine = FakeMachine(ctx)
    spec = api.TileSpec(source=None, position=(x, 100.0), size=(400.0, 300.0), offscreen=offscreen,
                        offscreen_grace=grace)
    return api.Tile(index=0, spec=spec, ctx=ctx, source=machine), machine


@pytest.fixture
def far():
    """A tile far to the right of the view (beyond the near margin) and its policy."""
    tile, machine = machine_tile(5000.0)
    return tile, machine, OffscreenPolicy(FakeShell([tile]))  # type: ignore[arg-type]


def test_paused_after_its_grace_time_and_resumed_when_the_view_comes_near(far):
    tile, machine, policy = far
    policy.update(100.0)
    policy.update(104.9)
    assert machine.calls == []  # still within its grace time
    policy.update(105.0)
    assert machine.calls == ["pause"]
    policy.update(106.0)
    assert machine.calls == ["pause"]  # asked once while the answer is on the way
    machine.answer(None)
    policy.update(107.0)
    assert policy.badge(tile) is None  # QMP answered, the STOP event did not reach the tile yet
    tile.ctx.report_state(State.PAUSED)
    policy.update(108.0)
    assert policy.badge(tile) == BADGE
    # pan until the tile is near, yet still off screen (the view ends at x=4600, the tile starts at 5000)
    policy.shell.camera.set(4100.0, 300.0, 1.0)
    assert not tile.footprint.intersects(policy.shell.camera.visible_world())
    policy.update(109.0)
    assert machine.calls == ["pause", "resume"]
    machine.answer(State.RUNNING)
    policy.update(110.0)
    assert policy.badge(tile) is None and policy.paused == {}


def test_a_flight_resumes_the_tile_where_it_will_land(far):
    tile, machine, policy = far
    policy.update(0.0)
    policy.update(10.0)
    machine.answer(State.PAUSED)
    policy.update(10.5)
    policy.shell.camera.fly_to(tile.footprint)
    policy.update(11.0)  # the camera has not moved yet
    assert machine.calls == ["pause", "resume"]


def test_a_pause_the_user_asked_for_is_never_undone(far):
    tile, machine, policy = far
    tile.ctx.report_state(State.PAUSED)  # paused from the menu
    policy.update(0.0)
    policy.update(60.0)
    policy.shell.camera.set(5200.0, 300.0, 1.0)
    policy.update(61.0)
    assert machine.calls == [] and policy.badge(tile) is None


def test_a_tile_the_user_resumed_off_screen_gets_its_grace_time_again(far):
    tile, machine, policy = far
    policy.update(0.0)
    policy.update(5.0)
    machine.answer(State.PAUSED)
    policy.update(6.0)
    tile.ctx.report_state(State.RUNNING)  # geos vm resume
    policy.update(7.0)
    assert policy.paused == {}
    policy.update(11.9)
    assert machine.calls == ["pause"]
    policy.update(12.0)
    assert machine.calls == ["pause", "pause"]


def test_a_pause_that_fails_is_logged_and_tried_again_after_another_grace_time(far, caplog):
    _, machine, policy = far
    policy.update(0.0)
    policy.update(5.0)
    machine.futures[-1].set_exception(RuntimeError("QMP: not connected"))
    policy.update(6.0)
    assert "not connected" in caplog.text and policy.paused == {}
    policy.update(10.9)
    assert machine.calls == ["pause"]
    policy.update(11.0)
    assert machine.calls == ["pause", "pause"]


def test_run_and_near_tiles_are_left_alone():
    running, run_machine = machine_tile(5000.0, offscreen="run")
    near, near_machine = machine_tile(1200.0)  # off screen, within the near margin
    policy = OffscreenPolicy(FakeShell([running, near]))  # type: ignore[arg-type]
    for now in (0.0, 100.0, 200.0):
        policy.update(now)
    assert run_machine.calls == near_machine.calls == []


def test_offscreen_is_checked_by_the_scene_loader(host, tmp_path):
    from geometry_os.scene.loader import SceneError, load_scene

    path = tmp_path / "scene.yaml"
    path.write_text("tiles:\n  - source: {type: pattern}\n    offscreen: sleep\n    offscreen_grace: -1\n")
    with pytest.raises(SceneError) as error:
        load_scene(path, host)
    assert "offscreen" in str(error.value) and "offscreen_grace" in str(error.value)
