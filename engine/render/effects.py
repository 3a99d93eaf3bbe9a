"""The scene's effect chains: which effects run, built into steps of passes, with their parameters.

The scene lists effects in order; each is an :class:`~geometry_os.registry.EffectType`
(tile stage or screen stage) with a params object.  A chain keeps its stage's effects
in scene order and builds them into :class:`~geometry_os.render.steps.Step` objects
(:func:`~geometry_os.render.steps.plan` says how effects share programs); the runner
(:mod:`geometry_os.render.runner`) draws them.  Order never depends on plugin load order.

Failures: an effect that cannot be built at start (its GLSL does not compile, its
preset does not load) is left out, blamed on its plugin and shown on screen until one
of its files is edited.  A rebuild that fails later (a broken edit) keeps the last good
programs drawing and shows the error.
"""

from __future__ import annotations

import logging
import typing
from collections.abc import Callable
from pathlib import Path
from typing import Any

import attrs

from geometry_os.render.passes import EffectError, PassList
from geometry_os.render.shaders import file_stamp
from geometry_os.render.steps import Step, StepBuilder, StepError, passes_for, plan
from geometry_os.settings import Color, check_value

log = logging.getLogger(__name__)

STAGES = ("tile", "screen")


@attrs.define(eq=False)
class ActiveEffect:
    """One entry of the scene's effect list, with its current (mutable) params."""

    kind: Any  # EffectType
    params: Any
    plugin: str
    fused_shader: Path | None = None  # its one pass's GLSL, when it shares a program (set by plan())
    animates: bool = True  # whether its picture may change by itself (refined when built)
    _uniforms: tuple[Any, dict[str, float | tuple[float, ...]]] = attrs.field(default=(None, {}), init=False)

    @property
    def name(self) -> str:
        return str(self.kind.name)

    def uniforms(self) -> dict[str, float | tuple[float, ...]]:
        """``u_<effect>_<param>`` for every numeric, boolean, colour or vector param."""
        params = self.params
        if self._uniforms[0] is params:  # params are replaced on every change, never changed
            return self._uniforms[1]
        out: dict[str, float | tuple[float, ...]] = {}
        self._uniforms = (params, out)
        for field in attrs.fields(type(self.params)):
            value = getattr(self.params, field.name)
            if isinstance(value, (bool, int, float)):
                out[f"u_{self.name}_{field.name}"] = float(value)
            elif isinstance(value, tuple) and 2 <= len(value) <= 4 and all(
                    isinstance(v, (int, float)) and not isinstance(v, bool) for v in value):
                out[f"u_{self.name}_{field.name}"] = tuple(float(v) for v in value)
        return out


class EffectChain:
    """The ordered effects of one stage, built into steps of compiled passes."""

    def __init__(self, stage: str, effects: list[ActiveEffect], on_change: Callable[[], None] | None = None) -> None:
        self.stage = stage
        self.effects = [e for e in effects if e.kind.stage == stage]
        self.on_change = on_change  # a rebuild changed the picture: the shell redraws
        self.version = 0  # bumped when the steps must be rebuilt
        self._built = -1  # the version the steps were built from
        self.steps: list[Step] = []
        self.builder: StepBuilder | None = None
        self.generation = 0  # bumped on every rebuild (the runner drops per-tile state of old steps)
        # Effects left out because they could not be built at start: id -> (error lines,
        # stamps of their files and the files the error names).  An edit of any of those
        # files brings them back.
        self.left_out: dict[int, tuple[list[str], dict[Path, float]]] = {}
        self.failed: dict[int, list[str]] = {}  # id -> why its last rebuild failed (the old passes keep drawing)
        self._made: dict[int, tuple[Any, PassList]] = {}  # id -> params and the passes its function made of them

    @property
    def active(self) -> list[ActiveEffect]:
        return [e for e in self.effects if id(e) not in self.left_out]

    def replace(self, effects: list[ActiveEffect]) -> None:
        self.effects = [e for e in effects if e.kind.stage == self.stage]
        self.left_out.clear()
        self.version += 1

    # ------------------------------------------------------------------ build
    def refresh(self, shell: Any) -> None:
        """Bring the steps up to date before drawing: after a change of the effect list, an
        edit of a left-out effect's file, or a parameter change that changes an effect's passes."""
        if self.builder is None:
            self.builder = StepBuilder(self.stage, shell.shaders_dir)
        if any(file_stamp(path) != stamp for _, stamps in self.left_out.values() for path, stamp in stamps.items()):
            self.left_out.clear()
            self.version += 1
        if self.version == self._built:
            for effect in self.active:
                made = self._made.get(id(effect))
                if made is not None and made[0] is not effect.params:
                    self._passes_changed(effect, made[1])
        if self.version != self._built:
            self._built = self.version
            self._build(shell)

    def _build(self, shell: Any) -> None:
        """Build every step; an effect that fails is left out (blamed on its plugin) and the rest rebuilt."""
        assert self.builder is not None
        self.delete()
        self.failed.clear()
        while True:
            steps: list[Step] = []
            self._made = {}
            try:
                for effects, passes in plan(self.active, self.stage, self.builder.shaders_dir, self._made):
                    steps.append(self.builder.fused(effects) if passes is None
                                 else self.builder.effect(effects[0], passes))
            except StepError as exc:
                for step in steps:
                    step.delete()
                self._leave_out(shell, exc)
                continue
            break
        self.steps = steps
        for step in steps:
            for effect in step.effects:
                effect.animates = step.animates
        self._changed()

    def _leave_out(self, shell: Any, exc: StepError) -> None:
        for effect in exc.culprits:
            files = set(exc.files)
            if effect.fused_shader is not None:
                files.add(effect.fused_shader.resolve())
            self.left_out[id(effect)] = (exc.lines, {path: file_stamp(path) for path in files})
            log.error("effect %s left out: %s", effect.name, "; ".join(exc.lines))
            shell.host.report_failure(effect.plugin, f"effect {effect.name}", exc.cause)

    def _passes_changed(self, effect: ActiveEffect, before: PassList) -> None:
        """``effect``'s params changed: if its passes function now returns other passes, rebuild."""
        try:
            passes = passes_for(effect)
        except EffectError as exc:
            self._failed(effect, [str(exc)], set(exc.files))
            self._made[id(effect)] = (effect.params, before)
            return
        self._made[id(effect)] = (effect.params, passes)
        if passes is before:
            return
        index = self._own_step(effect)
        if index is None:  # it shares a program, or starts to: plan the chain again
            self.version += 1
        else:
            self._rebuild(index, passes)

    def _own_step(self, effect: ActiveEffect) -> int | None:
        """The index of the multi-pass step that is ``effect``'s alone, if it has one."""
        for index, step in enumerate(self.steps):
            if step.effects == [effect] and effect.fused_shader is None:
                return index
        return None

    def _rebuild(self, index: int, passes: PassList | None = None) -> bool:
        """Rebuild one multi-pass step (its passes or files changed); a failure keeps the old one drawing."""
        assert self.builder is not None
        step = self.steps[index]
        effect = step.effects[0]
        try:
            if passes is None:
                passes = passes_for(effect)
                self._made[id(effect)] = (effect.params, passes)
            new = self.builder.effect(effect, passes)
        except (EffectError, StepError) as exc:
            lines = exc.lines if isinstance(exc, StepError) else [str(exc)]
            files = exc.files if isinstance(exc, StepError) else set(exc.files)
            self._failed(effect, lines, files)
            step.stamps.update({path: file_stamp(path) for path in files if path not in step.stamps})
            return False
        self.failed.pop(id(effect), None)
        step.delete()
        self.steps[index] = new
        effect.animates = new.animates
        self._changed()
        return True

    def _failed(self, effect: ActiveEffect, lines: list[str], files: set[Path]) -> None:
        if self.failed.get(id(effect)) != lines:
            log.error("effect %s not rebuilt: %s", effect.name, "; ".join(lines))
        self.failed[id(effect)] = lines

    def _changed(self) -> None:
        self.generation += 1
        if self.on_change is not None:
            self.on_change()

    # ------------------------------------------------------------- hot reload
    def poll(self) -> bool:
        """Development mode, each frame: rebuild programs whose files changed (a stat per file)."""
        changed = False
        for index, step in enumerate(self.steps):
            if step.stamps and any(file_stamp(path) != stamp for path, stamp in step.stamps.items()):
                step.stamps = {path: file_stamp(path) for path in step.stamps}
                changed |= self._rebuild(index)
                continue
            for compiled in step.passes:
                before = compiled.program.generation
                compiled.program.poll()
                changed |= compiled.program.generation != before
        if changed:
            self._changed()
        return changed

    def errors(self) -> list[str]:
        """Error lines to show: effects left out, failed rebuilds, programs whose edit did not compile."""
        lines = [line for lines, _ in self.left_out.values() for line in lines]
        lines += [line for failed in self.failed.values() for line in failed]
        for step in self.steps:
            for compiled in step.passes:
                if compiled.program.error is not None:
                    lines += compiled.program.error.lines
        return list(dict.fromkeys(lines))

    def delete(self) -> None:
        for step in self.steps:
            step.delete()
        self.steps = []


def activate(scene_effects: list[Any], registry: Any) -> list[ActiveEffect]:
    """The scene's ``effects`` list as :class:`ActiveEffect` objects, in scene order."""
    return [ActiveEffect(registry.effects.get(e.type), e.params, registry.effects.owner(e.type))
            for e in scene_effects]


class ParamError(ValueError):
    """A run-time parameter change that the params class does not allow."""


def find_effect(effects: list[ActiveEffect], ref: str) -> ActiveEffect:
    """The effect ``ref`` names: ``"crt"`` (the first crt) or ``"crt#2"`` (the second)."""
    name, _, number = ref.partition("#")
    matches = [e for e in effects if e.name == name]
    index = int(number) - 1 if number.isdigit() else 0
    if not matches or not 0 <= index < len(matches) or (number and not number.isdigit()):
        listed = ", ".join(e.name for e in effects) or "none"
        raise ParamError(f"no effect {ref!r} in this scene (has: {listed}; the second of a type is 'name#2')")
    return matches[index]


def set_param(effect: ActiveEffect, name: str, value: Any) -> None:
    """Change one parameter at run time, with the same checks as the scene loader."""
    fields = {f.name: f for f in attrs.fields(type(effect.params))}
    field = fields.get(name)
    if field is None:
        raise ParamError(f"effect {effect.name} has no parameter {name!r} (has: {', '.join(fields)})")
    expected = typing.get_type_hints(type(effect.params))[name]
    try:
        value = _converted(expected, value)
    except ValueError as exc:
        raise ParamError(f"effect {effect.name}: {name}: {exc}") from None
    reason = check_value(field, value)
    if reason:
        raise ParamError(f"effect {effect.name}: {name} {reason}")
    effect.params = attrs.evolve(effect.params, **{name: value})
    log.info("effect %s: %s = %r", effect.name, name, value)


def _converted(expected: Any, value: Any) -> Any:
    """``value`` as the ``expected`` field type, as the scene loader would read it (ValueError if not)."""
    if expected is Color:
        return Color.parse(value)
    if typing.get_origin(expected) is tuple:
        items = typing.get_args(expected)
        if not isinstance(value, (list, tuple)) or len(value) != len(items):
            raise ValueError(f"must be a list of {len(items)} values (got {value!r})")
        return tuple(_converted(item, v) for item, v in zip(items, value, strict=True))
    if expected is float and isinstance(value, int) and not isinstance(value, bool):
        return float(value)
    if type(value) is not expected:
        raise ValueError(f"must be {getattr(expected, '__name__', expected)} (got {value!r})")
    return value
