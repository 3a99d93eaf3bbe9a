"""The actions the built-ins register (``register_actions``): tile menus, the palette and
``geos vm`` are made of them, so their names, shortcuts and verbs must hold together."""

from __future__ import annotations

from collections import Counter

from geometry_os.plugins.desktop.actions import VERBS
from geometry_os.plugins.desktop.overlay import CHAR_W, MENU_W, Entry, ListOverlay
from geometry_os.plugins.desktop.shortcuts import parse


def test_the_desktop_and_input_plugins_register_actions(host):
    implementers = {impl.plugin_name for impl in host.pm.hook.register_actions.get_hookimpls()}
    assert {"desktop", "input"} <= implementers
    names = host.registry.actions.names()
    assert {"vm.pause", "vm.off", "map.save", "keys.paste", "keys.broadcast", "keys.ctrl-alt-f12"} <= set(names)
    assert {host.registry.actions.owner(name) for name in ("vm.pause", "keys.paste")} == {"desktop", "input"}


def test_every_shortcut_names_a_key_and_only_pause_and_resume_share_one():
    from geometry_os.plugin_host import PluginHost

    host = PluginHost()
    host.load_builtins()
    actions = list(host.registry.actions)
    assert all(parse(action.shortcut) is not None for action in actions if action.shortcut)
    shared = {shortcut for shortcut, count in Counter(a.shortcut for a in actions if a.shortcut).items() if count > 1}
    assert shared == {"Pause"}  # pause applies to running VMs, resume to paused ones: never both at once
    assert not {"F1", "Ctrl+Shift+P"} & {action.shortcut for action in actions}  # the palette's own keys


def test_every_geos_vm_verb_runs_a_registered_action(host):
    assert set(VERBS.values()) <= set(host.registry.actions.names())
    assert {"vm", "add", "move", "save"} <= set(host.registry.control_ops.names())
    assert {"tiles", "vm", "add", "move", "save"} <= set(host.registry.commands.names())


def test_a_menu_is_as_wide_as_its_longest_row_and_never_narrower_than_the_default():
    short = ListOverlay(None, "vm", [Entry("Pause", "Pause", lambda: None)])  # type: ignore[arg-type]
    assert short.width == MENU_W
    label = "Clipboard not shared (no guest agent): paste as keystrokes"
    wide = ListOverlay(None, "vm", [Entry(label, "Ctrl+Shift+V", lambda: None)])  # type: ignore[arg-type]
    assert wide.width >= (len(label) + len("Ctrl+Shift+V")) * CHAR_W > MENU_W
