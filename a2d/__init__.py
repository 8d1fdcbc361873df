"""a2d: audio to DAW. Predict real synthesizer settings from a sound, as a preset file."""

from a2d._version import __version__
from a2d.errors import A2DError
from a2d.hookspecs import hookimpl

__all__ = ["A2DError", "__version__", "hookimpl", "mel_spectrogram"]


def __getattr__(name: str):
    # Lazy: `import a2d` stays cheap (no numpy/torch); a2d.mel loads on first use.
    if name == "mel_spectrogram":
        from a2d.mel import mel_spectrogram

        return mel_spectrogram
    raise AttributeError(f"module 'a2d' has no attribute {name!r}")
