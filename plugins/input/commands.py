"""``geos type``, ``geos keys`` and ``geos shot``: automation of a running shell."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from geometry_os import api


def _target(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("tile", help="the tile: its id, its title or its number (1 is the first)")
    parser.add_argument("--pid", type=int, default=None,
                        help="the geos shell to talk to, when several run")


def _configure_type(parser: argparse.ArgumentParser) -> None:
    _target(parser)
    parser.add_argument("text", help=r"what to type; \n is Enter, \t is Tab (US layout)")


def _configure_keys(parser: argparse.ArgumentParser) -> None:
    _target(parser)
    parser.add_argument("combo", help="a combination such as ctrl-alt-del, ctrl-alt-f2, alt-sysrq-s")


def _send(message: dict[str, Any], pid: int | None) -> int:
    try:
        api.control_request(message, pid=pid)
    except api.ControlError as exc:
        sys.stderr.write(f"geos: {exc}\n")
        return 1
    return 0


def _run_type(args: argparse.Namespace, host: Any) -> int:
    from geometry_os.plugins.input.bridge import text_events

    text = args.text.encode().decode("unicode_escape") if "\\" in args.text else args.text
    try:
        text_events(text)  # refuse what cannot be typed before bothering the shell
    except ValueError as exc:
        sys.stderr.write(f"geos type: {exc}\n")
        return 2
    return _send({"op": "type", "tile": args.tile, "text": text}, args.pid)


def _run_keys(args: argparse.Namespace, host: Any) -> int:
    from geometry_os.plugins.input.bridge import combo_events

    try:
        combo_events(args.combo)
    except ValueError as exc:
        sys.stderr.write(f"geos keys: {exc}\n")
        return 2
    return _send({"op": "keys", "tile": args.tile, "combo": args.combo}, args.pid)


def _configure_shot(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("png", type=Path, help="the PNG file to write")
    parser.add_argument("--pid", type=int, default=None, help="the geos shell to ask, when several run")


def _run_shot(args: argparse.Namespace, host: Any) -> int:
    return _send({"op": "screenshot", "path": str(args.png.resolve())}, args.pid)


COMMANDS = [
    api.CommandType("type", "type text into a running tile's VM", _configure_type, _run_type),
    api.CommandType("keys", "send a key combination (ctrl-alt-del...) to a running tile's VM",
                _configure_keys, _run_keys),
    api.CommandType("shot", "write a PNG of a running shell's window", _configure_shot, _run_shot),
]
