"""a2d: audio to DAW. Predict real synthesizer settings from a sound, as a preset file."""

from a2d._version import __version__
from a2d.errors import A2DError
from a2d.hookspecs import hookimpl

__all__ = ["A2DError", "__version__", "hookimpl"]
