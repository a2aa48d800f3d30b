"""One tunable request field of a Segmind model: its type, range, default and checks.

Each model's table of these lives in components/models.py; sliders, validation, request bodies,
presets, the API signature and the README all read it there.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

from components.errors import InvalidInput

SEED_MAX = 4_294_967_295


@dataclass(frozen=True)
class Parameter:
    """One field of a Segmind request, as the model's API page documents it."""

    name: str
    label: str
    minimum: float
    maximum: float
    default: float | int | bool
    step: float
    description: str
    kind: str = "number"  # "number", "integer" or "boolean"

    @property
    def integer(self) -> bool:
        return self.kind == "integer"

    @property
    def boolean(self) -> bool:
        return self.kind == "boolean"

    @property
    def is_seed(self) -> bool:
        """The seed is one control shared by every model: the page's seed box."""
        return self.name == "seed"

    def validate(self, value: Any) -> float | int | bool:
        """Return `value` as the field's type, or raise InvalidInput naming the field."""
        if self.boolean:
            # Strictly true or false: 1 or "yes" from an API caller is a mistake, not a choice.
            if not isinstance(value, bool):
                raise InvalidInput(
                    self.name, f"{self.name} must be true or false, got {_shown(value)}."
                )
            return value
        # bool is an int subclass; True is never a meaningful temperature.
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise InvalidInput(
                self.name,
                f"{self.name} must be a number, got {type(value).__name__}.",
            )
        # math.isfinite would overflow on a huge int (JSON allows 10**400); ints are finite.
        if isinstance(value, float) and not math.isfinite(value):
            raise InvalidInput(self.name, f"{self.name} must be a finite number, got {value}.")
        if self.integer:
            if value != int(value):
                raise InvalidInput(self.name, f"{self.name} must be a whole number, got {value}.")
            value = int(value)
        if not self.minimum <= value <= self.maximum:
            raise InvalidInput(
                self.name,
                f"{self.name} must be between {_fmt(self.minimum)} and {_fmt(self.maximum)}, "
                f"got {_fmt(value)}.",
            )
        return value


def _shown(value: Any) -> str:
    return _fmt(value) if isinstance(value, (int, float)) and not isinstance(value, bool) else type(value).__name__


def _fmt(number: float) -> str:
    if isinstance(number, float):
        return f"{number:g}"
    if abs(number) >= 10**15:  # a forged 400-digit integer is named by its size, not printed
        return f"a number of about {int(number.bit_length() * 0.30103) + 1} digits"
    return str(number)


def describe_range(parameter: Parameter) -> str:
    """How the README and the API docs spell a field's type and range."""
    if parameter.boolean:
        return "true or false"
    kind = "integer " if parameter.integer else ""
    return f"{kind}{_fmt(parameter.minimum)}–{_fmt(parameter.maximum)}"


def format_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return _fmt(value)
