"""The package as a user gets it: the explicit package list is complete, and a wheel built
from this checkout works when installed into a fresh virtual environment, away from the
repository (no checkout on ``sys.path``, its own HOME and caches)."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tomllib
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

from geometry_os.assertions import assert_image_close
from geometry_os.plugins.pattern.source import BARS
from geometry_os.png import read_png
from tests.conftest import ROOT

SETUPTOOLS = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["tool"]["setuptools"]
# Left out of the copy the wheel is built from: this machine's build leftovers (a stale
# build/lib would put files into the wheel that the checkout no longer has).
NOT_SOURCES = shutil.ignore_patterns(".git", ".venv", "build", "dist", "*.egg-info", "__pycache__", ".hypothesis",
                                     ".gl", ".whl")


def python_packages(package: str, folder: Path) -> set[str]:
    """The import names of ``folder`` and every folder under it that has an ``__init__.py``."""
    names = set()
    for init in folder.rglob("__init__.py"):
        parts = init.parent.relative_to(folder).parts
        if "__pycache__" not in parts:
            names.add(".".join((package, *parts)))
    return names


def test_package_list_names_every_package_folder_and_nothing_else():
    package_dir: dict[str, str] = SETUPTOOLS["package-dir"]
    # a folder mapped to its own import name is not also a sub-package of the folder around it
    mapped = {(ROOT / folder).resolve() for folder in package_dir.values()}
    expected = set()
    for package, folder in package_dir.items():
        for name in python_packages(package, ROOT / folder):
            parts = name.removeprefix(package).split(".")[1:]
            inner = [ROOT / folder / Path(*parts[:i]) for i in range(1, len(parts) + 1)]
            if not any(path.resolve() in mapped for path in inner):
                expected.add(name)
    listed = set(SETUPTOOLS["packages"])
    assert {"geometry_os", "geometry_os.plugins", "geometry_os.plugins.qemu"} <= expected  # the walk found them
    assert sorted(expected - listed) == [], "folders with an __init__.py missing from [tool.setuptools] packages"
    assert sorted(listed - expected) == [], "[tool.setuptools] packages lists names that are no package folder"


# --------------------------------------------------------------- installed wheel
class Installed:
    """A fresh venv with the wheel installed, and an environment that keeps it off the checkout."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.venv = root / "venv"
        self.cwd = root / "elsewhere"
        self.cache = root / "cache"
        runtime = root / "runtime"
        for folder in (self.cwd, self.cache, root / "home", runtime):
            folder.mkdir()
        runtime.chmod(0o700)
        self.env = {key: value for key, value in os.environ.items()
                    if key not in ("PYTHONPATH", "VIRTUAL_ENV", "PYTHONHOME", "PYTHONSTARTUP")}
        self.env.update(HOME=str(root / "home"), XDG_CACHE_HOME=str(self.cache), XDG_RUNTIME_DIR=str(runtime))

    def run(self, *argv: str | Path, timeout: float = 120) -> subprocess.CompletedProcess[str]:
        """``argv`` from the unrelated folder, in the isolated environment."""
        return subprocess.run([str(arg) for arg in argv], cwd=self.cwd, env=self.env, capture_output=True,
                              text=True, timeout=timeout, check=False)

    def geos(self, *args: str | Path) -> subprocess.CompletedProcess[str]:
        return self.run(self.venv / "bin" / "geos", *args)

    def python(self, code: str) -> str:
        result = self.run(self.venv / "bin" / "python", "-c", code)
        assert result.returncode == 0, result.stderr
        return result.stdout.strip()


def pip(python: Path | str, *args: str | Path, cwd: Path) -> None:
    result = subprocess.run([str(python), "-m", "pip", "--disable-pip-version-check", "-q", *map(str, args)],
                            cwd=cwd, capture_output=True, text=True, timeout=300, check=False)
    assert result.returncode == 0, f"pip {' '.join(map(str, args))} failed:\n{result.stderr[-3000:]}"


@pytest.fixture(scope="module")
def installed(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Installed]:
    root = tmp_path_factory.mktemp("wheel")
    source = root / "source"
    shutil.copytree(ROOT, source, ignore=NOT_SOURCES, symlinks=True)
    # build isolation: the [build-system] table alone must be enough to build it
    pip(sys.executable, "wheel", "--no-deps", "--wheel-dir", root / "dist", source, cwd=root)
    wheels = list((root / "dist").glob("geometry_os-*.whl"))
    assert len(wheels) == 1, wheels
    subprocess.run([sys.executable, "-m", "venv", str(root / "venv")], check=True, timeout=120)
    pip(root / "venv" / "bin" / "python", "install", wheels[0], cwd=root)  # dependencies from the index
    yield Installed(root)


def bar_coverage(image: np.ndarray) -> list[float]:
    """The fraction of the image each test-card bar colour covers (BARS are BGRX; the image is RGBA)."""
    rgb = image[..., :3].astype(np.int16)
    return [float((np.abs(rgb - bar[2::-1].astype(np.int16)).max(axis=-1) <= 12).mean()) for bar in BARS]


@pytest.mark.slow
def test_installed_wheel_checks_and_renders_its_scenes(installed):
    site = Path(installed.python("import sysconfig; print(sysconfig.get_paths()['purelib'])"))
    assert not [p.name for p in site.iterdir() if p.name.split(".")[0] in ("engine", "plugins")]
    record = next(site.glob("geometry_os-*.dist-info")).joinpath("RECORD").read_text()
    assert not [line for line in record.splitlines() if line.split("/")[0] in ("engine", "plugins")]
    guard = installed.python("from geometry_os.plugins.qemu import _guarded_map; print(_guarded_map.__file__)")
    assert Path(guard).is_relative_to(site) and guard.endswith(".so")  # the C extension was built into the wheel
    scenes = Path(installed.python("from geometry_os.resources import scenes_dir; print(scenes_dir())"))
    assert scenes.is_relative_to(site)  # the installed copy, not the checkout
    for shipped in sorted((ROOT / "scenes").glob("*.yaml")):
        assert (scenes / shipped.name).read_bytes() == shipped.read_bytes()

    check = installed.geos("check", scenes / "default.yaml")
    assert (check.returncode, check.stderr) == (0, ""), check.stderr

    shots = {}
    for name, command in (("installed", [installed.venv / "bin" / "geos"]),
                          ("checkout", [sys.executable, "-m", "geometry_os"])):
        out = installed.cwd / f"{name}.png"
        result = installed.run(*command, "run", "--headless", "--frames", "5", "--screenshot", out,
                               scenes / "patterns.yaml")
        assert result.returncode == 0 and "Traceback" not in result.stderr, result.stderr
        shots[name] = read_png(out)
    # the four test cards are on screen: every bar colour covers a good part of the window
    coverage = bar_coverage(shots["installed"])
    assert min(coverage) > 0.02, coverage
    # and the installed program draws what the checkout draws (the moving squares, frame
    # counters and the HUD's numbers differ between two runs)
    assert_image_close(shots["installed"], shots["checkout"], tolerance=8, max_bad_fraction=0.02)


@pytest.mark.slow
@pytest.mark.qemu
def test_installed_wheel_finds_qemu_and_builds_the_tiny_guest(installed):
    doctor = installed.geos("doctor")
    assert doctor.returncode in (0, 1) and "Traceback" not in doctor.stderr + doctor.stdout, doctor.stderr
    assert any(line.startswith("ok") and line.split()[1] == "QEMU:" for line in doctor.stdout.splitlines()), \
        doctor.stdout

    pull = installed.geos("image", "pull", "tiny-linux")
    assert pull.returncode == 0, pull.stderr[-3000:]
    iso = installed.cache / "geometry-os" / "images" / "tiny-linux.iso"
    assert iso.stat().st_size > 1_000_000
    assert iso.read_bytes()[0x8001:0x8006] == b"CD001"  # an ISO 9660 volume descriptor
