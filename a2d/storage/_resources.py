"""Where a2d's shipped config files live: ``configs/`` in a source checkout (and editable
install), ``a2d/configs`` inside an installed wheel."""

from __future__ import annotations

from pathlib import Path

_PACKAGE_DIR = Path(__file__).resolve().parent.parent  # a2d/, above a2d/storage/


def configs_dir() -> Path:
    """The folder holding ``train/*.yaml`` and ``generate/*.yaml``."""
    if (_PACKAGE_DIR / "configs" / "train").is_dir():  # installed wheel
        return _PACKAGE_DIR / "configs"
    checkout = _PACKAGE_DIR.parent
    if (checkout / "pyproject.toml").is_file() and (checkout / "configs" / "train").is_dir():
        return checkout / "configs"
    # Editable installs map the package to the source tree but install data beside the .so.
    import importlib.util

    spec = importlib.util.find_spec("a2d._core")
    if spec is not None and spec.origin:
        candidate = Path(spec.origin).resolve().parent / "configs"
        if (candidate / "train").is_dir():
            return candidate
    return _PACKAGE_DIR / "configs"
