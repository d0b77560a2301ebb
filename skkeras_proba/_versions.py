"""The package's version, and a check that its dependencies are in the tested range.

Both are read from the installed package's metadata, which ``pyproject.toml``
writes: the version and the declared ranges are stated once, there.
"""

from __future__ import annotations

import importlib.metadata
import warnings
from typing import TYPE_CHECKING

from packaging.requirements import InvalidRequirement, Requirement
from packaging.version import InvalidVersion, Version

if TYPE_CHECKING:
    from collections.abc import Callable, Iterable

DISTRIBUTION = "skkeras_proba"


def _own_version() -> str:
    try:
        return importlib.metadata.version(DISTRIBUTION)
    except importlib.metadata.PackageNotFoundError:
        # Imported from a source tree that was never installed: no metadata.
        return "0+unknown"


__version__ = _own_version()


def declared_requirements() -> list[Requirement]:
    """The runtime dependencies the installed package declares (no extras).

    Returns
    -------
    requirements : list of packaging.requirements.Requirement
        One per dependency in ``pyproject.toml``'s ``dependencies``; empty when
        the package has no installed metadata.
    """
    try:
        lines = importlib.metadata.requires(DISTRIBUTION) or []
    except importlib.metadata.PackageNotFoundError:
        return []
    requirements = []
    for line in lines:
        try:
            requirement = Requirement(line)
        except InvalidRequirement:
            continue
        if requirement.marker is None or requirement.marker.evaluate({"extra": ""}):
            requirements.append(requirement)
    return requirements


def _installed_version(name: str) -> str | None:
    try:
        return importlib.metadata.version(name)
    except importlib.metadata.PackageNotFoundError:
        return None


def unsupported_versions(
    requirements: Iterable[Requirement],
    installed_version: Callable[[str], str | None] = _installed_version,
) -> list[tuple[Requirement, str]]:
    """The installed dependencies whose version is outside the declared range.

    Parameters
    ----------
    requirements : iterable of packaging.requirements.Requirement
        The declared ranges, as :func:`declared_requirements` returns them.
    installed_version : callable, default=importlib.metadata.version
        Maps a distribution name to its installed version, or to None when it
        is not installed. A dependency that is not installed is not reported:
        importing it fails with its own clear message.

    Returns
    -------
    out_of_range : list of (Requirement, str)
        Each requirement not met, with the version installed; empty when all
        are met. Pre-releases inside a range count as in it.
    """
    out_of_range = []
    for requirement in requirements:
        installed = installed_version(requirement.name)
        if installed is None:
            continue
        try:
            met = requirement.specifier.contains(Version(installed), prereleases=True)
        except InvalidVersion:
            met = False
        if not met:
            out_of_range.append((requirement, installed))
    return out_of_range


def _range(requirement: Requirement) -> str:
    # Lower bound first: "scikeras>=0.13,<0.14", as pyproject.toml writes it.
    bounds = sorted(map(str, requirement.specifier), key=lambda s: s[0] != ">")
    return requirement.name + ",".join(bounds)


def unsupported_versions_message(out_of_range: list[tuple[Requirement, str]]) -> str:
    """One message for :func:`unsupported_versions`' findings, ending in the fix."""
    found = "; ".join(
        f"{requirement.name} {installed} is installed, outside {_range(requirement)}"
        for requirement, installed in out_of_range
    )
    fix = " ".join(f'"{_range(requirement)}"' for requirement, _ in out_of_range)
    return (
        f"{DISTRIBUTION} {__version__} is tested only with the versions it declares: "
        f"{found}. Outside these ranges, fit and predict may fail deep inside "
        f"scikeras or Keras. Install supported versions: pip install {fix}"
    )


def warn_about_unsupported_versions() -> None:
    """Warn once, at import, when a declared dependency is out of its range.

    A warning rather than an ImportError: pip installs out-of-range versions
    only when told to (``--no-deps``, ``--force-reinstall`` of one package),
    someone who did that may know it works for them, and a warning still names
    the cause before any failure deep inside a fit.
    """
    out_of_range = unsupported_versions(declared_requirements())
    if out_of_range:
        warnings.warn(
            unsupported_versions_message(out_of_range), UserWarning, stacklevel=3
        )
