"""The ``geos`` command.

Exit codes: 0 success, 1 a run that failed, 2 invalid input (a bad scene, an
unknown plugin, a bad argument).  Errors are one line each, never a traceback.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import sys
import tempfile
from collections.abc import Callable, Sequence
from pathlib import Path

import geometry_os
from geometry_os import logs
from geometry_os.plugin_host import PluginError, PluginHost, blocked_from_env
from geometry_os.registry import EXIT_FAILED, EXIT_INVALID, EXIT_OK, CheckResult
from geometry_os.resources import default_scene
from geometry_os.scene import Scene, SceneError, load_scene

log = logging.getLogger("geos")



BUILTIN_COMMANDS = ("run", "check", "plugins", "docs", "doctor")


def make_host(block: Sequence[str], plugin_dirs: Sequence[Path]) -> PluginHost:
    """Plugins as the command line and environment say: built-ins, entry points, files."""
    host = PluginHost(blocked=set(block) | blocked_from_env())
    host.load_default(plugin_dirs=plugin_dirs)
    return host


# ------------------------------------------------------------------- commands
def cmd_check(args: argparse.Namespace, host: PluginHost) -> int:
    status = EXIT_OK
    for path in args.scenes:
        try:
            load_scene(path, host)
        except SceneError as exc:
            for line in exc.lines:
                sys.stderr.write(line + "\n")
            status = EXIT_INVALID
        else:
            if not args.quiet:
                sys.stdout.write(f"{path}: ok\n")
    return status


def cmd_plugins(args: argparse.Namespace, host: PluginHost) -> int:
    rows = [("name", "version", "status", "origin", "hooks")]
    for info in host.infos.values():
        rows.append((info.name, info.version, info.status, info.origin, ", ".join(info.hooks) or "-"))
    widths = [max(len(row[i]) for row in rows) for i in range(4)]
    for row in rows:
        sys.stdout.write("  ".join(cell.ljust(widths[i]) for i, cell in enumerate(row[:4])) + "  " + row[4] + "\n")
    for info in host.infos.values():
        if info.error:
            sys.stdout.write(f"{info.name}: {info.error}\n")
    return EXIT_OK


def cmd_docs(args: argparse.Namespace, host: PluginHost) -> int:
    from geometry_os.docgen import write_or_check

    builtins = PluginHost()  # the reference documents the built-ins, whatever else is installed
    builtins.load_builtins()
    stale = write_or_check(Path(args.docs_dir), builtins, check=args.check)
    if args.check and stale:
        for name in stale:
            sys.stderr.write(f"{args.docs_dir}/{name}: out of date; run 'geos docs'\n")
        return EXIT_FAILED
    return EXIT_OK


def cmd_doctor(args: argparse.Namespace, host: PluginHost) -> int:
    """What works on this machine: every plugin's checks, one line each."""
    marks = {"ok": "ok  ", "warn": "warn", "fail": "FAIL"}
    worst = EXIT_OK
    for check in host.registry.checks:
        try:
            results = check.run()
        except Exception as exc:  # a broken check is itself a finding, not a crash
            results = [CheckResult("fail", check.name, f"check raised {type(exc).__name__}: {exc}")]
        for result in results:
            detail = f": {result.detail}" if result.detail else ""
            sys.stdout.write(f"{marks.get(result.status, result.status)}  {result.label}{detail}\n")
            if result.status == "fail":
                worst = EXIT_FAILED
    for info in host.infos.values():
        if info.error:
            sys.stdout.write(f"FAIL  plugin {info.name}: {info.error}\n")
            worst = EXIT_FAILED
    return worst


def cmd_run(args: argparse.Namespace, host: PluginHost) -> int:
    from geometry_os.scene.save import last_saved_scene

    if args.libvirt:
        if args.scene:
            sys.stderr.write("geos run: give a scene or --libvirt, not both (a scene lists connections under "
                             "plugins.options.libvirt)\n")
            return EXIT_INVALID
        return _run_generated(libvirt_scene(args.libvirt), host, args)
    path = Path(args.scene) if args.scene else last_saved_scene() or default_scene()
    if not args.scene:
        log.info("opening %s", path)
    try:
        scene = load_scene(path, host)
    except SceneError as exc:
        for line in exc.lines:
            sys.stderr.write(line + "\n")
        return EXIT_INVALID
    return _run(scene, host, args)


def _run(scene: Scene, host: PluginHost, args: argparse.Namespace) -> int:
    from geometry_os.shell import RunOptions, run_scene

    return run_scene(scene, host, RunOptions(headless=args.headless, frames=args.frames,
                                             screenshot=args.screenshot, dev=not args.no_dev))


def libvirt_scene(uris: Sequence[str]) -> str:
    """The scene ``geos run --libvirt URI...`` runs: no tiles, every domain of each connection (docs/libvirt.md)."""
    connections = ", ".join(json.dumps(uri) for uri in uris)  # JSON strings are YAML flow scalars
    return (f"window: {{title: {json.dumps('Geometry OS — ' + ', '.join(uris))}}}\n"
            f"plugins:\n  options:\n    libvirt: {{connections: [{connections}]}}\n")


def _run_generated(text: str, host: PluginHost, args: argparse.Namespace) -> int:
    """Run a scene made on the command line (no file: relative paths are the working directory's)."""
    with tempfile.TemporaryDirectory(prefix="geos-scene-") as folder:
        path = Path(folder) / "scene.yaml"
        path.write_text(text, encoding="utf-8")
        try:
            scene = load_scene(path, host)
        except SceneError as exc:
            for line in exc.lines:  # "FILE:LINE: where: what": the file is ours, the mistake the argument's
                sys.stderr.write(f"geos run: {line.split(': ', 2)[-1]}\n")
            return EXIT_INVALID
    object.__setattr__(scene, "path", None)
    return _run(scene, host, args)


# --------------------------------------------------------------------- parser
def _common(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--block", action="append", default=[], metavar="PLUGIN",
                        help="do not load this plugin (repeatable; also GEOS_BLOCK_PLUGINS=a,b)")
    parser.add_argument("--plugins-dir", action="append", default=[], type=Path, metavar="DIR",
                        help="also load every plugin file (*.py) in DIR")


def build_parser(host: PluginHost | None = None) -> argparse.ArgumentParser:
    """The full parser: built-in commands, and the commands ``host``'s plugins add."""
    parser = argparse.ArgumentParser(prog="geos", description="Geometry OS: virtual machines on an infinite map.")
    parser.add_argument("--version", action="version", version=f"geos {geometry_os.__version__}")
    parser.add_argument("-v", "--verbose", action="count", default=0, help="more log output (-vv: debug)")
    parser.add_argument("-q", "--quiet", action="store_true", help="errors only")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")

    run = sub.add_parser("run", help="open a scene on the map (default: the scene saved last, else the "
                         "shipped default scene)")
    run.add_argument("scene", nargs="?", help="scene file (YAML)")
    run.add_argument("--headless", action="store_true", help="render offscreen through EGL, no window")
    run.add_argument("--frames", type=int, default=None, metavar="N", help="stop after N frames")
    run.add_argument("--screenshot", type=Path, default=None, metavar="PNG",
                     help="write the last frame to this PNG file")
    run.add_argument("--no-dev", action="store_true", help="do not watch shaders and the scene for changes")
    run.add_argument("--libvirt", action="append", default=[], metavar="URI",
                     help="no scene: every domain of this libvirt connection as a tile, e.g. qemu:///system "
                          "or qemu+ssh://user@host/system (repeatable; docs/libvirt.md)")
    _common(run)
    run.set_defaults(func=cmd_run)

    check = sub.add_parser("check", help="validate scene files without running anything")
    check.add_argument("scenes", nargs="+", type=Path, metavar="SCENE")
    _common(check)
    check.set_defaults(func=cmd_check)

    plugins = sub.add_parser("plugins", help="list plugins: name, version, status, origin, hooks")
    _common(plugins)
    plugins.set_defaults(func=cmd_plugins)

    docs = sub.add_parser("docs", help="regenerate docs/plugin-hooks.md and docs/scenes.md")
    docs.add_argument("--check", action="store_true", help="only check that they are up to date")
    docs.add_argument("--docs-dir", default="docs", help="the docs folder (default: docs)")
    docs.set_defaults(func=cmd_docs)

    doctor = sub.add_parser("doctor", help="check what works here: QEMU, its D-Bus display, KVM, GL")
    _common(doctor)
    doctor.set_defaults(func=cmd_doctor)

    for command in host.registry.commands if host is not None else ():
        if command.name in BUILTIN_COMMANDS:
            log.error("plugin %s: command %r shadows a built-in command; ignored",
                      host.registry.commands.owner(command.name), command.name)
            continue
        plugin_parser = sub.add_parser(command.name, help=command.help)
        command.configure(plugin_parser)
        _common(plugin_parser)
        plugin_parser.set_defaults(func=command.run)
    return parser


def _preparse(argv: Sequence[str]) -> tuple[argparse.Namespace, list[str]]:
    """The options needed before plugins load (which ones, headless or not)."""
    pre = argparse.ArgumentParser(add_help=False)
    pre.add_argument("--block", action="append", default=[])
    pre.add_argument("--plugins-dir", action="append", default=[], type=Path)
    pre.add_argument("-v", "--verbose", action="count", default=0)
    pre.add_argument("-q", "--quiet", action="store_true")
    return pre.parse_known_args(argv)


def needs_display(rest: Sequence[str]) -> bool:
    """Whether these arguments open a window: only ``geos run`` without ``--headless`` (or help)."""
    words = [word for word in rest if not word.startswith("-")]
    return (words[:1] or ["run"]) == ["run"] and not {"--headless", "-h", "--help", "--version"} & set(rest)


def display_problem() -> str | None:
    """Why no window can be opened here (one line), or None when a display answers."""
    import pyglet

    try:
        pyglet.display.get_display()
    except Exception:  # pyglet has two NoSuchDisplayException classes (window and xlib)
        shown = os.environ.get("WAYLAND_DISPLAY") or os.environ.get("DISPLAY")
        where = f"the display {shown!r} does not answer" if shown else "no display is set (DISPLAY is empty)"
        return (f"cannot open a window: {where}; run it in a desktop session, "
                "or use 'geos run --headless' to render offscreen")
    return None


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    early, rest = _preparse(argv)
    logs.configure(-1 if early.quiet else early.verbose)
    if not [word for word in rest if not word.startswith("-")] and not {"-h", "--help", "--version"} & set(rest):
        rest.append("run")  # plain ``geos`` runs the default scene
    if needs_display(rest):
        problem = display_problem()
        if problem is not None:
            sys.stderr.write(f"geos: {problem}\n")
            return EXIT_INVALID
    else:
        # nothing else opens a window: plugins' pyglet imports must not look for a display
        import pyglet

        pyglet.options["headless"] = True
    try:
        host = make_host(early.block, early.plugins_dir)
    except PluginError as exc:
        sys.stderr.write(f"geos: {exc}\n")
        return EXIT_INVALID
    args = build_parser(host).parse_args(rest)  # --block etc. were taken by _preparse
    func: Callable[[argparse.Namespace, PluginHost], int] = args.func
    try:
        return func(args, host)
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:  # `geos plugins | head`: the reader left, nothing to report
        sys.stderr.close()
        return EXIT_OK


if __name__ == "__main__":
    sys.exit(main())
