"""The container of a skkeras_proba file: a zip of exactly what ``save`` writes.

``manifest.json`` and ``keras/<n>.keras`` members only, each name matched
exactly; each member's size is checked before it is read and the read stops
there; the manifest's format, version and nesting are checked before anything
in it is used.
"""

from __future__ import annotations

import json
import re
import zipfile
from pathlib import Path
from typing import Any

from skkeras_proba._persistence._checks import (
    MAX_DEPTH,
    MAX_MANIFEST_BYTES,
    MAX_MODEL_BYTES,
    Damaged,
    LoadError,
    TooLarge,
    check_depth,
)
from skkeras_proba._versions import __version__

FORMAT = "skkeras_proba"
FORMAT_VERSION = 2
MANIFEST = "manifest.json"
MODEL_MEMBER = re.compile(r"keras/(0|[1-9][0-9]{0,5})\.keras")


def model_member(n: int) -> str:
    """The name of the ``n``-th Keras model's member."""
    return f"keras/{n}.keras"


class Archive:
    """A zip file whose member names and sizes are what ``save`` writes."""

    def __init__(self, archive: zipfile.ZipFile) -> None:
        infos = archive.infolist()
        names = [info.filename for info in infos]
        if MANIFEST not in names:
            raise LoadError(
                f"is not a file written by skkeras_proba.save (it has no {MANIFEST})",
                "Load it with the tool that wrote it.",
            )
        if len(set(names)) != len(names):
            raise Damaged("it holds several members of the same name")
        for info in infos:
            if info.filename != MANIFEST and not MODEL_MEMBER.fullmatch(info.filename):
                raise Damaged(f"it holds a member {info.filename!r}")
            if info.flag_bits & 0x1 or info.compress_type not in (
                zipfile.ZIP_STORED,
                zipfile.ZIP_DEFLATED,
            ):
                raise Damaged(
                    f"member {info.filename!r} is encrypted, or compressed in a "
                    "way save never writes"
                )
        self.archive = archive
        self.model_members = set(names) - {MANIFEST}

    def _open(self, name: str, limit: int) -> Any:
        info = self.archive.getinfo(name)
        if info.file_size > limit:
            raise TooLarge(
                f"member {name!r} inflates to {info.file_size} bytes, more than "
                f"the {limit} bytes load reads"
            )
        return self.archive.open(info)

    def manifest(self) -> dict[str, Any]:
        """The manifest, parsed and checked for format, version and depth."""
        with self._open(MANIFEST, MAX_MANIFEST_BYTES) as member:
            text = member.read(MAX_MANIFEST_BYTES + 1)
        try:
            manifest = json.loads(text)
        except RecursionError:  # json's own nesting limit, far below the stack's
            raise TooLarge(
                f"its manifest nests deeper than {MAX_DEPTH} levels"
            ) from None
        check_depth(manifest, "manifest")
        check_header(manifest)
        return manifest

    def extract_model(self, name: str, directory: Path) -> tuple[Path, Any]:
        """The member copied to ``directory``, and its Keras config."""
        target = directory / f"{MODEL_MEMBER.fullmatch(name)[1]}.keras"
        with self._open(name, MAX_MODEL_BYTES) as source, target.open("wb") as copy:
            _copy(source, copy, MAX_MODEL_BYTES)
        with zipfile.ZipFile(target) as model_archive:
            infos = model_archive.infolist()
            if sum(info.file_size for info in infos) > MAX_MODEL_BYTES:
                raise TooLarge(f"the files in {name!r} inflate to more than allowed")
            info = model_archive.getinfo("config.json")
            if info.file_size > MAX_MANIFEST_BYTES:
                raise TooLarge(f"the Keras config in {name!r} is too large")
            config = json.loads(model_archive.read(info))
        return target, config


def _copy(source: Any, target: Any, limit: int) -> None:
    """Copy in chunks, stopping past ``limit`` bytes, whatever headers say."""
    copied = 0
    while chunk := source.read(2**20):
        copied += len(chunk)
        if copied > limit:
            raise TooLarge(f"a member inflates to more than {limit} bytes")
        target.write(chunk)


def check_header(manifest: Any) -> None:
    """Raise unless the manifest is ours, of a version this code reads."""
    named = manifest.get("format") if isinstance(manifest, dict) else None
    if named != FORMAT:
        raise LoadError(
            f"is not a file written by skkeras_proba.save (its manifest names "
            f"format {named!r})",
            "Load it with the tool that wrote it.",
        )
    version = manifest.get("format_version")
    if not isinstance(version, int) or isinstance(version, bool) or version < 1:
        raise Damaged(f"format_version={version!r}")
    if version > FORMAT_VERSION:
        raise LoadError(
            f"was written in format version {version} by skkeras_proba "
            f"{manifest.get('library_version')!s:.20}; this skkeras_proba "
            f"{library_version()} reads format versions up to {FORMAT_VERSION}",
            "Upgrade skkeras_proba to load it.",
        )
    expected = {"format", "format_version", "library_version", "estimator"}
    if set(manifest) != expected:
        raise Damaged(f"its manifest has the keys {sorted(manifest)}")


def library_version() -> str:
    return __version__
