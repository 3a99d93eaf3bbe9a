"""What a uniform member or sampler of a pass means, from its name (RetroArch's semantics)."""

from __future__ import annotations

import enum
import re

from attrs import frozen


class TextureKind(enum.Enum):
    ORIGINAL = "Original"                 # this frame's input image
    SOURCE = "Source"                     # the previous pass's output (Original for pass 0)
    ORIGINAL_HISTORY = "OriginalHistory"  # index frames ago; 0 is Original
    PASS_OUTPUT = "PassOutput"            # pass index's output this frame (index < this pass)
    PASS_FEEDBACK = "PassFeedback"        # pass index's output the previous frame
    USER = "User"                         # the preset's look-up texture number index


@frozen
class TextureRef:
    kind: TextureKind
    index: int = 0


class Semantic(enum.Enum):
    """The value a uniform member carries; sizes are vec4(width, height, 1/width, 1/height)."""

    MVP = "MVP"                                  # mat4 mapping the quad (0..1) to clip space
    OUTPUT_SIZE = "OutputSize"                   # this pass's framebuffer
    FINAL_VIEWPORT_SIZE = "FinalViewportSize"    # the last pass's target
    FRAME_COUNT = "FrameCount"                   # frames so far, modulo frame_count_modN if set
    FRAME_DIRECTION = "FrameDirection"           # 1, or -1 while rewinding
    ROTATION = "Rotation"                        # 0..3 quarter turns of the image
    ORIGINAL_ASPECT = "OriginalAspect"           # float, width / height of Original
    ORIGINAL_ASPECT_ROTATED = "OriginalAspectRotated"
    ORIGINAL_FPS = "OriginalFPS"                 # the source's frame rate
    FRAME_TIME_DELTA = "FrameTimeDelta"          # microseconds since the previous frame
    CURRENT_SUBFRAME = "CurrentSubFrame"         # 1 (no sub-frames)
    TOTAL_SUBFRAMES = "TotalSubFrames"           # 1 (no sub-frames)
    TEXTURE_SIZE = "TextureSize"                 # the size of the texture in UniformMember.texture
    PARAMETER = "Parameter"                      # a #pragma parameter, by UniformMember.parameter


#: The GLSL types each semantic may be declared with.
TYPES: dict[Semantic, tuple[str, ...]] = {
    Semantic.MVP: ("mat4",),
    Semantic.OUTPUT_SIZE: ("vec4",),
    Semantic.FINAL_VIEWPORT_SIZE: ("vec4",),
    Semantic.FRAME_COUNT: ("uint", "int"),
    Semantic.FRAME_DIRECTION: ("int", "uint"),
    Semantic.ROTATION: ("uint", "int"),
    Semantic.ORIGINAL_ASPECT: ("float",),
    Semantic.ORIGINAL_ASPECT_ROTATED: ("float",),
    Semantic.ORIGINAL_FPS: ("float",),
    Semantic.FRAME_TIME_DELTA: ("uint", "int"),
    Semantic.CURRENT_SUBFRAME: ("uint", "int"),
    Semantic.TOTAL_SUBFRAMES: ("uint", "int"),
    Semantic.TEXTURE_SIZE: ("vec4",),
    Semantic.PARAMETER: ("float",),
}
#: Semantics that RetroArch defines but this front-end refuses (HDR output).
UNSUPPORTED = frozenset({"EnableHDR", "MaxNits", "PaperWhiteNits", "HDRMode", "ExpandGamut", "InverseTonemap",
                         "HDR10"})

_BUILTINS = {s.value: s for s in Semantic if s not in (Semantic.TEXTURE_SIZE, Semantic.PARAMETER)}
_INDEXED = re.compile(r"(OriginalHistory|PassOutput|PassFeedback|User)(\d+)")
_INDEXED_SIZE = re.compile(r"(OriginalHistory|PassOutput|PassFeedback|User)Size(\d+)")


class NotAvailable(Exception):
    """A name with a known meaning that this pass cannot use (e.g. a later pass's output)."""


@frozen
class Context:
    """What names mean for one pass of one preset."""

    pass_index: int
    pass_count: int
    aliases: dict[str, int]  # alias -> the pass it names
    luts: tuple[str, ...]
    parameters: frozenset[str]

    def texture(self, name: str) -> TextureRef | None:
        """The texture ``name`` samples, or None if the name means nothing.

        Raises :class:`NotAvailable` for a known texture this pass may not read.
        """
        if name == "Original":
            return TextureRef(TextureKind.ORIGINAL)
        if name == "Source":
            return TextureRef(TextureKind.SOURCE)
        indexed = _INDEXED.fullmatch(name)
        if indexed:
            return self._checked(TextureRef(TextureKind(indexed.group(1)), int(indexed.group(2))))
        if name in self.aliases:
            return self._checked(TextureRef(TextureKind.PASS_OUTPUT, self.aliases[name]))
        if name.endswith("Feedback") and name[:-len("Feedback")] in self.aliases:
            return TextureRef(TextureKind.PASS_FEEDBACK, self.aliases[name[:-len("Feedback")]])
        if name in self.luts:
            return TextureRef(TextureKind.USER, self.luts.index(name))
        return None

    def size_of(self, name: str) -> TextureRef | None:
        """The texture whose size the member ``name`` holds (``XSize``, ``PassOutputSize1``), or None."""
        indexed = _INDEXED_SIZE.fullmatch(name)
        if indexed:
            return self._checked(TextureRef(TextureKind(indexed.group(1)), int(indexed.group(2))))
        if name.endswith("Size") and not _INDEXED.fullmatch(name[:-len("Size")]):
            return self.texture(name[:-len("Size")])
        return None

    def _checked(self, ref: TextureRef) -> TextureRef:
        if ref.kind is TextureKind.PASS_OUTPUT and ref.index >= self.pass_index:
            raise NotAvailable(f"pass {ref.index}'s output is not ready before pass {self.pass_index} "
                               f"(sample its Feedback for the previous frame)")
        if ref.kind is TextureKind.PASS_FEEDBACK and ref.index >= self.pass_count:
            raise NotAvailable(f"there is no pass {ref.index} (the preset has {self.pass_count})")
        if ref.kind is TextureKind.USER and ref.index >= len(self.luts):
            raise NotAvailable(f"there is no texture {ref.index} (the preset has {len(self.luts)})")
        return ref

    def member(self, name: str) -> tuple[Semantic, TextureRef | None] | None:
        """What the uniform member ``name`` carries, or None if nothing."""
        if name in _BUILTINS:
            return _BUILTINS[name], None
        size = self.size_of(name)
        if size is not None:
            return Semantic.TEXTURE_SIZE, size
        if name in self.parameters:
            return Semantic.PARAMETER, None
        return None
