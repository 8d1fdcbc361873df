"""The errors a2d raises, and the exit codes the CLI turns them into.

Library code raises only :class:`A2DError` subclasses for expected failures (bad input, a missing
synth, a corrupt file). The CLI prints ``error: <message>`` on one line to stderr and exits with the
subclass's :attr:`A2DError.exit_code`. Anything else is a bug and keeps its traceback.
"""

from __future__ import annotations

from enum import IntEnum


class ExitCode(IntEnum):
    """Documented exit codes of the ``a2d`` command (also listed in the README)."""

    OK = 0
    #: An unexpected error (a bug): the traceback is printed.
    INTERNAL = 1
    #: Bad command-line usage or configuration: unknown option, key or value.
    USAGE = 2
    #: A named thing does not exist: synth, spec, model, file, checkpoint.
    NOT_FOUND = 3
    #: Input data is invalid: corrupt or mismatched dataset, checkpoint, audio or spec.
    DATA = 4
    #: A synth backend cannot run here, e.g. no Surge XT VST3 installed.
    SYNTH_UNAVAILABLE = 5
    #: The output cannot be written: unwritable folder, full disk, existing output.
    OUTPUT = 6
    #: The native extension is missing or a forced backend is unavailable.
    NATIVE = 7
    #: Some items of a batch failed (e.g. ``a2d predict`` on several files); the rest succeeded.
    PARTIAL = 8
    #: Interrupted by the user (Ctrl-C); completed work is kept.
    INTERRUPTED = 130


class A2DError(Exception):
    """Base class of every expected a2d error; the message is one line naming problem and fix."""

    exit_code: ExitCode = ExitCode.INTERNAL


class ConfigError(A2DError, ValueError):
    """A configuration key, value or command-line option is invalid."""

    exit_code = ExitCode.USAGE


class UnknownNameError(A2DError, KeyError):
    """A registered name (synth, spec, model, ...) does not exist."""

    exit_code = ExitCode.NOT_FOUND

    def __str__(self) -> str:  # KeyError would quote the message
        return str(self.args[0]) if self.args else ""


class RegistryError(A2DError):
    """A plugin registered something invalid (empty or duplicate name, bad hook)."""

    exit_code = ExitCode.USAGE


class SpecError(A2DError, ValueError):
    """A parameter spec is invalid, or data does not match a spec."""

    exit_code = ExitCode.DATA


class SynthUnavailableError(A2DError):
    """A synth backend cannot be used on this machine (the message says how to get it)."""

    exit_code = ExitCode.SYNTH_UNAVAILABLE


class RenderError(A2DError):
    """The synth failed to render or to load a state."""

    exit_code = ExitCode.DATA


class DatasetError(A2DError):
    """A dataset folder or shard is missing, corrupt, or does not match what was asked."""

    exit_code = ExitCode.DATA


class OutputError(A2DError):
    """An output location cannot be written (exists, unwritable, disk full)."""

    exit_code = ExitCode.OUTPUT


class CheckpointError(A2DError):
    """A checkpoint is missing, corrupt, or was trained for another synth/spec."""

    exit_code = ExitCode.DATA


class AudioInputError(A2DError):
    """An input sound cannot be used (missing, empty, corrupt, silent, NaN, too long)."""

    exit_code = ExitCode.DATA


class CheckpointNotFoundError(CheckpointError):
    """A checkpoint file does not exist."""

    exit_code = ExitCode.NOT_FOUND


class DatasetNotFoundError(DatasetError):
    """A dataset folder (its manifest) does not exist."""

    exit_code = ExitCode.NOT_FOUND


class AudioNotFoundError(AudioInputError):
    """An input sound file does not exist."""

    exit_code = ExitCode.NOT_FOUND


class ConfigNotFoundError(ConfigError):
    """A named configuration does not exist: a config file, a training size."""

    exit_code = ExitCode.NOT_FOUND


class UnknownSplitError(DatasetError):
    """A dataset has no split of the asked name."""

    exit_code = ExitCode.NOT_FOUND


class NativeBackendError(A2DError):
    """The requested native implementation (cpp/cuda) is not available."""

    exit_code = ExitCode.NATIVE


class PresetError(A2DError):
    """A preset or synth state is not what the synth writes (wrong format, truncated, corrupt)."""

    exit_code = ExitCode.DATA
