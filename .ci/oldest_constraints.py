"""Print pip constraints that pin each runtime dependency to its declared lower bound.

``make test-oldest`` installs the project with these constraints, so that the
oldest versions ``pyproject.toml`` declares are the ones tested. Every runtime
dependency must therefore have a lower bound that names a released version
(``tensorflow>=2.16.1``, not ``>=2.16``: there is no TensorFlow 2.16.0, and pip
would say so).
"""

import sys
import tomllib
from pathlib import Path

from packaging.requirements import Requirement

PYPROJECT = Path(__file__).resolve().parent.parent / "pyproject.toml"


def lower_bound_pins(dependencies: list[str]) -> list[str]:
    """``name==lower bound`` for each dependency; ValueError when one has none."""
    pins = []
    for line in dependencies:
        requirement = Requirement(line)
        lower = [
            spec.version
            for spec in requirement.specifier
            if spec.operator in (">=", "==", "~=")
        ]
        if len(lower) != 1:
            raise ValueError(
                f"Dependency {line!r} in pyproject.toml needs exactly one lower "
                "bound (>=, == or ~=) to test the oldest versions against."
            )
        pins.append(f"{requirement.name}=={lower[0]}")
    return pins


if __name__ == "__main__":
    project = tomllib.loads(PYPROJECT.read_text())["project"]
    sys.stdout.write(
        "".join(pin + "\n" for pin in lower_bound_pins(project["dependencies"]))
    )
