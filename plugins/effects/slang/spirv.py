"""What a SPIR-V module reads: block members, samplers, and its varyings' locations.

spirv-cross's JSON reflection lists every declared member; it does not say which ones
the code reads.  RetroArch errors on a member with no known meaning only when it is
read, so we find the reads here: an access chain whose base is a block variable and
whose first index is a constant names the member.  Anything else that takes the whole
block counts as reading every member.
"""

from __future__ import annotations

import struct

from attrs import frozen

MAGIC = 0x07230203

OP_NAME = 5
OP_TYPE_POINTER = 32
OP_CONSTANT = 43
OP_FUNCTION_CALL = 57
OP_VARIABLE = 59
OP_LOAD = 61
OP_STORE = 62
OP_COPY_MEMORY = 63
OP_ACCESS_CHAIN = 65
OP_IN_BOUNDS_ACCESS_CHAIN = 66
OP_PTR_ACCESS_CHAIN = 67
OP_DECORATE = 71
OP_COPY_OBJECT = 83
DECORATION_LOCATION = 30

STORAGE_UNIFORM_CONSTANT = 0
STORAGE_INPUT = 1
STORAGE_UNIFORM = 2
STORAGE_OUTPUT = 3
STORAGE_PUSH_CONSTANT = 9


class SpirvFormatError(ValueError):
    """The bytes are not a SPIR-V module we can read."""


@frozen
class Usage:
    """``members``: block struct type id -> indices of the members read (None: all of them)."""

    members: dict[int, frozenset[int] | None]
    samplers: frozenset[str]  # names of opaque (sampler) variables the code loads
    input_locations: tuple[int, ...]
    output_locations: tuple[int, ...]


def read_usage(data: bytes) -> Usage:
    """Read a module; raises :class:`SpirvFormatError` if it is not SPIR-V."""
    if len(data) < 20 or len(data) % 4:
        raise SpirvFormatError("not a SPIR-V module (size)")
    words = struct.unpack(f"<{len(data) // 4}I", data)
    if words[0] != MAGIC:
        raise SpirvFormatError("not a SPIR-V module (magic)")
    return _Reader(words).usage()


class _Reader:
    def __init__(self, words: tuple[int, ...]) -> None:
        self.names: dict[int, str] = {}
        self.pointers: dict[int, int] = {}  # pointer type id -> pointee type id
        self.constants: dict[int, int] = {}
        self.variables: dict[int, tuple[int, int]] = {}  # id -> (storage class, pointee type id)
        self.locations: dict[int, int] = {}
        self.reads: dict[int, set[int] | None] = {}  # variable id -> member indices read (None: all)
        self.instructions = list(_instructions(words))

    def usage(self) -> Usage:
        for op, operands in self.instructions:
            self.declare(op, operands)
        for op, operands in self.instructions:
            self.use(op, operands)
        members: dict[int, frozenset[int] | None] = {}
        samplers: set[str] = set()
        for var, read in self.reads.items():
            storage, pointee = self.variables[var]
            if storage in (STORAGE_UNIFORM, STORAGE_PUSH_CONSTANT):
                members[pointee] = None if read is None else frozenset(read)
            elif storage == STORAGE_UNIFORM_CONSTANT and var in self.names:
                samplers.add(self.names[var])
        return Usage(members, frozenset(samplers), self.interface(STORAGE_INPUT), self.interface(STORAGE_OUTPUT))

    def declare(self, op: int, operands: tuple[int, ...]) -> None:
        if op == OP_NAME and operands:
            self.names[operands[0]] = _string(operands[1:])
        elif op == OP_TYPE_POINTER and len(operands) >= 3:
            self.pointers[operands[0]] = operands[2]
        elif op == OP_CONSTANT and len(operands) >= 3:
            self.constants[operands[1]] = operands[2]
        elif op == OP_VARIABLE and len(operands) >= 3:
            self.variables[operands[1]] = (operands[2], self.pointers.get(operands[0], -1))
        elif op == OP_DECORATE and len(operands) >= 3 and operands[1] == DECORATION_LOCATION:
            self.locations[operands[0]] = operands[2]

    def use(self, op: int, operands: tuple[int, ...]) -> None:
        if op in (OP_ACCESS_CHAIN, OP_IN_BOUNDS_ACCESS_CHAIN) and len(operands) >= 4:
            index = self.constants.get(operands[3])
            self.read(operands[2], index)
        elif op in (OP_LOAD, OP_PTR_ACCESS_CHAIN, OP_COPY_OBJECT) and len(operands) >= 3:
            self.read(operands[2], None)
        elif op == OP_STORE and operands:
            self.read(operands[0], None)
        elif op == OP_COPY_MEMORY:
            for operand in operands[:2]:
                self.read(operand, None)
        elif op == OP_FUNCTION_CALL:
            for operand in operands[3:]:
                self.read(operand, None)

    def read(self, var: int, member: int | None) -> None:
        if var not in self.variables:
            return
        known = self.reads.get(var, set())
        if member is None or known is None:
            self.reads[var] = None
        else:
            self.reads[var] = known | {member}

    def interface(self, storage: int) -> tuple[int, ...]:
        return tuple(sorted(self.locations[v] for v, (s, _) in self.variables.items()
                            if s == storage and v in self.locations))


def _instructions(words: tuple[int, ...]) -> list[tuple[int, tuple[int, ...]]]:
    out = []
    at = 5  # after the header
    while at < len(words):
        count, op = words[at] >> 16, words[at] & 0xFFFF
        if count == 0 or at + count > len(words):
            raise SpirvFormatError(f"truncated instruction at word {at}")
        out.append((op, words[at + 1:at + count]))
        at += count
    return out


def _string(words: tuple[int, ...]) -> str:
    raw = struct.pack(f"<{len(words)}I", *words)
    return raw.split(b"\0", 1)[0].decode("utf-8", "replace")
