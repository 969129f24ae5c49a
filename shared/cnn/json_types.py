"""The value types a definition, optimizer or schedule is written in, taken as JSON gives them: a number
is a number (never "1" or true), a real number is finite, a flag is true or false, and a name is
printable text (a control character would break file names, headers and log lines)."""
from __future__ import annotations

import unicodedata
from typing import Annotated

from pydantic import AfterValidator, AllowInfNan, Field, Strict

Whole = Annotated[int, Strict()]
PositiveInt = Annotated[Whole, Field(gt=0)]
NonNegativeInt = Annotated[Whole, Field(ge=0)]
# Strict floats still take whole numbers (1 for 1.0) but never booleans or text.
Number = Annotated[float, Strict(), AllowInfNan(False)]
Flag = Annotated[bool, Strict()]


def printable(text: str) -> str:
    """Refuse control characters (newlines, tabs, NUL, escapes) and unassigned code points."""
    for index, char in enumerate(text):
        if unicodedata.category(char) in ("Cc", "Cf", "Cs", "Co", "Cn"):
            raise ValueError(f"must not hold control or invisible characters; character {index} is "
                             f"{char!r}")
    return text


PrintableText = Annotated[str, Strict(), AfterValidator(printable)]
