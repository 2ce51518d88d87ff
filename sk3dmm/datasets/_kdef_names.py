"""KDEF's file naming: ``AF01AFS.JPG`` = session A, female, person 01, afraid, straight."""

from __future__ import annotations

import re

EXPRESSIONS = {
    "AF": "afraid",
    "AN": "angry",
    "DI": "disgusted",
    "HA": "happy",
    "NE": "neutral",
    "SA": "sad",
    "SU": "surprised",
}
ANGLES = {"FL": -90.0, "HL": -45.0, "S": 0.0, "HR": 45.0, "FR": 90.0}
GENDERS = {"F": "female", "M": "male"}

KDEF_PATTERN = re.compile(
    r"^(?P<session>[AB])(?P<gender>[FM])(?P<person>\d{2})(?P<expression>AF|AN|DI|HA|NE|SA|SU)"
    r"(?P<angle>FL|HL|S|HR|FR)\.(?:JPG|JPEG|PNG)$",
    re.IGNORECASE,  # copies come as AF01AFS.JPG, AF01AFS.jpg or af01afs.jpg
)


def kdef_name(session: str, gender: str, person: int, expression: str, angle: str) -> str:
    """The KDEF file name (without folder), e.g. ``kdef_name("A", "F", 1, "AF", "S") == "AF01AFS.JPG"``."""
    return f"{session}{gender}{person:02d}{expression}{angle}.JPG"
