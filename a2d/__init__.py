"""a2d: audio to DAW. Predict real synthesizer settings from a sound, as a preset file.

The package is layered (``docs/design.md``); each layer imports only the ones below it:
``contracts`` (errors, parameter specs, the synth and model contracts, plugin hooks and lookup) <-
``kernels`` and ``nn`` (mel, loudness, DTW, ODE sampling, metrics; network blocks) <- ``storage``
(datasets, checkpoints, configs, atomic writes) <- ``runtime`` (worker processes and pools) <-
``pipelines`` (generate, train, evaluate, predict, quickstart) <- ``cli``.
"""

from a2d import _moved
from a2d._version import __version__
from a2d.contracts.errors import A2DError
from a2d.contracts.hookspecs import hookimpl

_moved.install()

__all__ = ["A2DError", "__version__", "hookimpl", "mel_spectrogram"]


def __getattr__(name: str):
    # Lazy: `import a2d` stays cheap (no numpy/torch); a2d.kernels.mel loads on first use.
    if name == "mel_spectrogram":
        from a2d.kernels.mel import mel_spectrogram

        return mel_spectrogram
    raise AttributeError(f"module 'a2d' has no attribute {name!r}")
