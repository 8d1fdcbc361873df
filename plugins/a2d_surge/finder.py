"""Find the Surge XT VST3 bundle: ``--plugin-path``, env ``A2D_SURGE_VST3``, then the standard
install folders of the OS."""

from __future__ import annotations

import os
import sys
from collections.abc import Mapping
from pathlib import Path

from a2d.contracts.errors import SynthUnavailableError

BUNDLE_NAME = "Surge XT.vst3"
ENV_VAR = "A2D_SURGE_VST3"
INSTALL_HINT = (
    "install Surge XT (free, https://surge-synthesizer.github.io) or point a2d at its VST3 "
    f"with {ENV_VAR}=/path/to/{BUNDLE_NAME} or --plugin-path"
)


def standard_folders(platform: str | None = None, home: Path | None = None) -> list[Path]:
    """The VST3 folders searched on ``platform`` (``sys.platform`` values), in order."""
    platform = platform or sys.platform
    home = home or Path.home()
    if platform.startswith("linux"):
        return [Path("/usr/lib/vst3"), Path("/usr/local/lib/vst3"), home / ".vst3"]
    if platform == "darwin":
        return [Path("/Library/Audio/Plug-Ins/VST3"), home / "Library/Audio/Plug-Ins/VST3"]
    if platform.startswith("win"):
        return [Path(r"C:\Program Files\Common Files\VST3")]
    return []


def find_surge_vst3(
    plugin_path: str | os.PathLike[str] | None = None,
    *,
    environ: Mapping[str, str] | None = None,
    folders: list[Path] | None = None,
) -> Path:
    """Path of the Surge XT VST3 bundle.

    :param plugin_path: an explicit bundle path (wins; must exist).
    :param environ: environment to read ``A2D_SURGE_VST3`` from (default ``os.environ``).
    :param folders: folders to search (default :func:`standard_folders`).
    :raises SynthUnavailableError: nothing found; the message says how to get Surge XT.
    """
    environ = os.environ if environ is None else environ
    for source, value in (("--plugin-path", plugin_path), (ENV_VAR, environ.get(ENV_VAR))):
        if value:
            path = Path(value).expanduser()
            if not path.exists():
                raise SynthUnavailableError(f"{source} {path} does not exist; {INSTALL_HINT}")
            return path
    for folder in standard_folders() if folders is None else folders:
        candidate = folder / BUNDLE_NAME
        if candidate.exists():
            return candidate
    raise SynthUnavailableError(f"Surge XT VST3 not found; {INSTALL_HINT}")
