"""New VMs from files and named images: what a dropped file is, the tile entry that boots it,
and ``geos image list`` / ``geos image pull`` run for "New VM".

Defaults of a VM made here (docs/controls.md): a ``qemu`` tile, 640x480 on the map,
``new_vm_memory`` MiB (512) and a user-mode network card (``new_vm_network``), one CPU,
KVM when it works, else TCG; disks run with ``snapshot=on`` (changes are discarded).
The file decides how it boots, by its content first and its name second:

* an ISO 9660 image (``CD001`` at byte 32769) or ``*.iso``: ``iso`` (a CD-ROM);
* a qcow2 image (``QFI\\xfb``), a disk with a boot sector (``55 AA`` at byte 510) or a
  disk image name (``.img .raw .qcow2 .qcow .vmdk .vdi .vhd .vhdx``): ``disk``;
* anything else: ``kernel`` (a Linux bzImage or ELF kernel); a file that is not one
  gives a failed tile with QEMU's own message.
"""

from __future__ import annotations

import logging
import re
import subprocess
import sys
import threading
from pathlib import Path
from typing import TYPE_CHECKING, Any

import attrs

from geometry_os import api
from geometry_os.plugins.desktop.actions import unique_id
from geometry_os.plugins.desktop.desktop import Pull

if TYPE_CHECKING:
    from geometry_os.plugins.desktop.desktop import Desktop

log = logging.getLogger(__name__)

NEW_VM_SIZE = (640.0, 480.0)
DISK_SUFFIXES = {".img", ".raw", ".qcow2", ".qcow", ".vmdk", ".vdi", ".vhd", ".vhdx"}
PLACE_GAP = 40.0
SOURCE_TYPE = "qemu"
IMAGE_TIMEOUT = 60.0  # `geos image list`
PERCENT = re.compile(r"\((\d{1,3})%\)")


def boot_setting(path: Path) -> tuple[str, Any]:
    """The QEMU tile setting that boots ``path``: ("iso", path), ("disk", [path]) or ("kernel", path).

    Raises ValueError (one line) when the file cannot be read.
    """
    try:
        with path.open("rb") as stream:
            head = stream.read(0x8006)
    except OSError as exc:
        raise ValueError(f"{path}: {exc.strerror or exc}") from None
    suffix = path.suffix.lower()
    if head[0x8001:0x8006] == b"CD001" or suffix == ".iso":
        return "iso", str(path)
    if head[:4] == b"QFI\xfb" or head[510:512] == b"\x55\xaa" or suffix in DISK_SUFFIXES:
        return "disk", [str(path)]
    return "kernel", str(path)


def vm_entry(desktop: Desktop, name: str, title: str, position: tuple[float, float],
             boot: dict[str, Any]) -> dict[str, Any]:
    """The scene entry of a new VM tile with the desktop's defaults."""
    options = desktop.options
    return {"id": name, "title": title, "position": [round(position[0]), round(position[1])],
            "size": list(NEW_VM_SIZE),
            "source": {"type": SOURCE_TYPE, "memory": options.new_vm_memory, "network": options.new_vm_network,
                       **boot}}


def free_spot(shell: api.ShellView) -> tuple[float, float]:
    """Right of every tile on the map (the origin when there are none)."""
    tiles = list(shell.tiles)
    if not tiles:
        return 0.0, 0.0
    return max(t.rect.x + t.rect.w for t in tiles) + PLACE_GAP, min(t.rect.y for t in tiles)


def add_file(desktop: Desktop, path: Path, position: tuple[float, float] | None = None) -> api.Tile:
    """A new VM tile booting ``path`` at ``position`` (its image's top-left corner; default:
    right of the other tiles).  ValueError (one line) when no tile can be made of it."""
    path = path.expanduser().absolute()
    if path.is_dir():
        raise ValueError(f"{path}: is a folder, not a disk, ISO or kernel file")
    what, value = boot_setting(path)
    shell = desktop.shell
    where = position if position is not None else free_spot(shell)
    spec = shell.tile_spec(vm_entry(desktop, unique_id(shell, path.stem), path.name, where, {what: value}))
    tile = shell.add_tile(spec)
    desktop.say(f"{tile.title}: booting it as {'a CD-ROM' if what == 'iso' else 'a ' + what}")
    return tile


# ------------------------------------------------------------- named images
@attrs.define(frozen=True)
class ImageInfo:
    name: str
    installed: bool
    size: str  # as `geos image list` says it ("112.6 MB"), "-" when not installed


def parse_image_list(text: str) -> list[ImageInfo]:
    """The rows of ``geos image list`` (``name  status  size  path``, columns two or more spaces
    apart, a header first); lines that are not such a row are skipped."""
    images = []
    for line in text.splitlines()[1:]:
        cells = re.split(r"\s{2,}", line.strip())
        if len(cells) >= 3 and re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9._-]*", cells[0]) \
                and cells[1] in ("installed", "not installed"):
            images.append(ImageInfo(cells[0], cells[1] == "installed", cells[2]))
    return images


def _geos(*args: str) -> list[str]:
    return [sys.executable, "-m", "geometry_os", *args]


def list_images() -> list[ImageInfo]:
    """The named images, from ``geos image list`` (the qemu plugin's command; run apart so
    this plugin depends on no other plugin's code).  Raises OSError or ValueError."""
    try:
        done = subprocess.run(_geos("image", "list"), capture_output=True, text=True, timeout=IMAGE_TIMEOUT)
    except subprocess.TimeoutExpired:
        raise ValueError(f"'geos image list' gave no answer in {IMAGE_TIMEOUT:.0f} s") from None
    if done.returncode != 0:
        raise ValueError((done.stderr.strip().splitlines() or ["'geos image list' failed"])[-1])
    return parse_image_list(done.stdout)


def new_vm_from_image(desktop: Desktop, name: str, installed: bool) -> None:
    """A VM booting the named image in the middle of the view; an image that is not installed is
    pulled first, its progress shown where the tile will be."""
    shell = desktop.shell
    camera = shell.camera
    position = (camera.x - NEW_VM_SIZE[0] / 2, camera.y - NEW_VM_SIZE[1] / 2)

    def start() -> None:
        try:
            spec = shell.tile_spec(vm_entry(desktop, unique_id(shell, name), name, position, {"image": name}))
            shell.add_tile(spec)
        except ValueError as exc:
            desktop.say(f"New VM {name}: {exc}", error=True)

    if installed:
        start()
        return
    pull = Pull(name, position, NEW_VM_SIZE)
    desktop.pulls.append(pull)
    desktop.say(f"pulling image {name} (geos image pull {name})")
    threading.Thread(target=_pull, args=(desktop, pull, start), name=f"geos-pull-{name}", daemon=True).start()


def _pull(desktop: Desktop, pull: Pull, then: Any) -> None:
    """Run ``geos image pull``; its progress lines move the placeholder's indicator."""
    shell = desktop.shell
    process = subprocess.Popen(_geos("image", "pull", pull.image), stdout=subprocess.DEVNULL,
                               stderr=subprocess.PIPE, text=True)
    last = ""
    assert process.stderr is not None
    for line in process.stderr:
        last = line.strip() or last
        match = PERCENT.search(line)
        progress = f"{match.group(1)}%" if match else "working"

        def show(progress: str = progress) -> None:
            pull.progress = progress
            shell.redraw()

        shell.call_soon(show)
    status = process.wait()

    def finished() -> None:
        desktop.pulls.remove(pull)
        if status == 0:
            desktop.say(f"image {pull.image} installed")
            then()
        else:
            desktop.say(f"pulling {pull.image} failed: {last or f'exit status {status}'}", error=True)
        shell.redraw()

    shell.call_soon(finished)
