"""tfds split strings: ``train``, ``train+test``, ``train[:10%]``, ``train[10:20]``, ``test[-5%:]``.

Percent boundaries round to the closest row (tfds' default ``closest`` rounding).

Example::

    >>> parse_split("train[:10%]+test")
    [ReadInstruction(split='train', start=None, stop=10, unit='%'), ReadInstruction(split='test', start=None, stop=None, unit='abs')]
    >>> ReadInstruction("train", None, 10, "%").to_absolute(1000)
    (0, 100)
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Iterable

from labdatasets.errors import SplitError

__all__ = ["ReadInstruction", "parse_split"]

_PART = re.compile(
    r"^(?P<split>[A-Za-z][A-Za-z0-9_]*)"
    r"(\[(?P<start>-?\d+%?)?(?P<colon>:)?(?P<stop>-?\d+%?)?\])?$"
)
HELP = "Splits are written like 'train', 'train+test', 'train[:10%]', 'train[10:20]' or 'test[-5%:]'."


@dataclasses.dataclass(frozen=True)
class ReadInstruction:
    """Rows ``[start, stop)`` of one split, in rows (``abs``) or percent (``%``)."""

    split: str
    start: int | None = None
    stop: int | None = None
    unit: str = "abs"

    def to_absolute(self, num_rows: int) -> tuple[int, int]:
        def convert(bound: int | None, default: int) -> int:
            if bound is None:
                return default
            if self.unit == "%":
                bound = int(round(bound * num_rows / 100.0))
            if bound < 0:
                bound += num_rows
            return min(max(bound, 0), num_rows)

        start, stop = convert(self.start, 0), convert(self.stop, num_rows)
        return start, max(start, stop)

    def __str__(self) -> str:
        if self.start is None and self.stop is None:
            return self.split
        suffix = "%" if self.unit == "%" else ""
        start = "" if self.start is None else f"{self.start}{suffix}"
        stop = "" if self.stop is None else f"{self.stop}{suffix}"
        return f"{self.split}[{start}:{stop}]"


def _bound(text: str | None, spec: str) -> tuple[int | None, str | None]:
    if text is None:
        return None, None
    unit = "%" if text.endswith("%") else "abs"
    value = int(text.rstrip("%"))
    if unit == "%" and not -100 <= value <= 100:
        raise SplitError(f"Invalid split {spec!r}: percent boundaries must be between -100% and 100%. {HELP}")
    return value, unit


def parse_split(spec: str) -> list[ReadInstruction]:
    """Parse a split string into read instructions; raise :class:`SplitError` if malformed."""
    if not isinstance(spec, str) or not spec.strip():
        raise SplitError(f"Invalid split {spec!r}. {HELP}")
    instructions = []
    for part in spec.replace(" ", "").split("+"):
        match = _PART.match(part)
        if not match:
            raise SplitError(f"Invalid split {spec!r} (at {part!r}). {HELP}")
        has_brackets = "[" in part
        if has_brackets and not match.group("colon"):
            raise SplitError(
                f"Invalid split {spec!r}: write a slice with ':' such as '{match.group('split')}[:10%]' or "
                f"'{match.group('split')}[10:20]'. {HELP}"
            )
        start, start_unit = _bound(match.group("start"), spec)
        stop, stop_unit = _bound(match.group("stop"), spec)
        units = {u for u in (start_unit, stop_unit) if u}
        if len(units) > 1:
            raise SplitError(f"Invalid split {spec!r}: do not mix rows and percent in one slice. {HELP}")
        instructions.append(ReadInstruction(match.group("split"), start, stop, units.pop() if units else "abs"))
    return instructions


def check_splits(instructions: Iterable[ReadInstruction], available: Iterable[str], dataset: str) -> None:
    names = list(available)
    for instruction in instructions:
        if instruction.split not in names:
            raise SplitError(
                f"{dataset} has no split {instruction.split!r}; its splits are: {', '.join(names)}."
            )
