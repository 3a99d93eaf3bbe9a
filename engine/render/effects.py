"""The scene's effect chains: GLSL generation, parameters and uniforms.

The scene lists effects in order; each is an :class:`~geometry_os.registry.EffectType`
(tile stage or screen stage) with a params object.  A chain turns its stage's
effects into a generated include (``@tile_effects`` / ``@screen_effects``): the
parameter uniforms, each effect's GLSL file, then ``apply_<stage>_effects`` calling
``effect_<name>`` in scene order.  Order never depends on plugin load order.
"""

from __future__ import annotations

import logging
import typing
from pathlib import Path
from typing import Any

import attrs

from geometry_os.render.shaders import Generated, ShaderError, compile_program, file_stamp, files_in_error
from geometry_os.settings import check_value

log = logging.getLogger(__name__)

STAGES = ("tile", "screen")


@attrs.define(eq=False)
class ActiveEffect:
    """One entry of the scene's effect list, with its current (mutable) params."""

    kind: Any  # EffectType
    params: Any
    plugin: str

    @property
    def name(self) -> str:
        return str(self.kind.name)

    def uniforms(self) -> dict[str, float]:
        """``u_<effect>_<param>`` for every numeric or boolean param."""
        out = {}
        for field in attrs.fields(type(self.params)):
            value = getattr(self.params, field.name)
            if isinstance(value, (bool, int, float)):
                out[f"u_{self.name}_{field.name}"] = float(value)
        return out


class EffectChain:
    """The ordered effects of one stage, and the program they are compiled into."""

    def __init__(self, stage: str, effects: list[ActiveEffect]) -> None:
        self.stage = stage
        self.effects = [e for e in effects if e.kind.stage == stage]
        self.version = 0  # bumped when the chain's GLSL must be rebuilt
        self._built = 0  # the version the program was last built from
        # Effects left out because their GLSL did not compile at start: name -> (error
        # lines, stamps of their files and the files the error names).  An edit of any
        # of those files brings them back.
        self.left_out: dict[str, tuple[list[str], dict[Path, float]]] = {}

    @property
    def active(self) -> list[ActiveEffect]:
        return [e for e in self.effects if e.name not in self.left_out]

    def generated(self) -> Generated:
        effects = self.active
        header = "\n".join(f"uniform float {name};" for effect in effects for name in effect.uniforms())
        calls = "\n".join(f"    color = effect_{effect.name}(color, uv);" for effect in effects)
        text = f"vec4 apply_{self.stage}_effects(vec4 color, vec2 uv) {{\n{calls}\n    return color;\n}}"
        return Generated(files=tuple(e.kind.shader for e in effects), text=text, header=header)

    def replace(self, effects: list[ActiveEffect]) -> None:
        self.effects = [e for e in effects if e.kind.stage == self.stage]
        self.left_out.clear()
        self.version += 1

    def program(self, shell: Any, name: str, build: Any) -> Any:
        """``shell.program(name, build)``, leaving out effects whose GLSL does not compile.

        At start there is no last good program to keep, so one broken third-party
        effect would take the whole stage down: instead it is left out, reported
        against its plugin and shown on screen until its file is edited.
        """
        while True:
            try:
                return shell.program(name, build)
            except ShaderError as exc:
                named = files_in_error(exc)
                culprits = [e for e in self.active if e.kind.shader.resolve() in named]
                if not culprits:  # the error is in a file an effect includes: find which one
                    culprits = self._breaking_effect(build)
                if not culprits:
                    raise
                for effect in culprits:
                    files = named | {effect.kind.shader.resolve()}
                    self.left_out[effect.name] = (exc.lines, {path: file_stamp(path) for path in files})
                    shell.host.report_failure(effect.plugin, f"effect {effect.name}", exc)

    def _breaking_effect(self, build: Any) -> list[ActiveEffect]:
        """The one effect without which the program compiles, if there is one."""
        for effect in self.active:
            self.left_out[effect.name] = ([], {})
            try:
                compile_program(*build()).delete()  # built only to find the culprit
            except ShaderError:
                continue
            finally:
                del self.left_out[effect.name]
            return [effect]
        return []

    def refresh(self, program: Any) -> None:
        """Rebuild ``program`` (a ReloadableProgram) after the chain changed or a left-out
        effect's file was edited; a rebuild that fails keeps the last good program."""
        if any(file_stamp(path) != stamp for _, stamps in self.left_out.values() for path, stamp in stamps.items()):
            self.left_out.clear()
            self.version += 1
        if self.version != self._built:
            self._built = self.version
            program.reload()

    def errors(self) -> list[str]:
        """Error lines of the effects left out, for the on-screen error list."""
        return [line for lines, _ in self.left_out.values() for line in lines]

    def set_uniforms(self, program: Any) -> None:
        for effect in self.active:
            for name, value in effect.uniforms().items():
                if name in program.uniforms:
                    program[name] = value


def activate(scene_effects: list[Any], registry: Any) -> list[ActiveEffect]:
    """The scene's ``effects`` list as :class:`ActiveEffect` objects, in scene order."""
    return [ActiveEffect(registry.effects.get(e.type), e.params, registry.effects.owner(e.type))
            for e in scene_effects]


class ParamError(ValueError):
    """A run-time parameter change that the params class does not allow."""


def set_param(effect: ActiveEffect, name: str, value: Any) -> None:
    """Change one parameter at run time, with the same checks as the scene loader."""
    fields = {f.name: f for f in attrs.fields(type(effect.params))}
    field = fields.get(name)
    if field is None:
        raise ParamError(f"effect {effect.name} has no parameter {name!r} (has: {', '.join(fields)})")
    expected = typing.get_type_hints(type(effect.params))[name]
    if expected is float and isinstance(value, int) and not isinstance(value, bool):
        value = float(value)
    if type(value) is not expected:
        raise ParamError(f"effect {effect.name}: {name} must be {expected.__name__} (got {value!r})")
    reason = check_value(field, value)
    if reason:
        raise ParamError(f"effect {effect.name}: {name} {reason}")
    effect.params = attrs.evolve(effect.params, **{name: value})
    log.info("effect %s: %s = %r", effect.name, name, value)
