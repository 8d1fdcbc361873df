"""Self-describing model checkpoints.

A checkpoint is one ``torch.save`` file that loads with ``torch.load(weights_only=True)``. It holds
everything needed to use the model without the training data or config files: the format version,
the a2d version, the model name and constructor arguments, the exact parameter spec (JSON), the
synth name, the render and mel settings, the feature normalisation statistics, the resolved training
config, and the state (model, optimizer, step, RNG states) to resume training exactly.
"""

from __future__ import annotations

import functools
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from a2d.contracts.errors import CheckpointError, CheckpointNotFoundError
from a2d.contracts.plugins import model_class
from a2d.contracts.spec import ParamSpec
from a2d.contracts.synth import RenderSettings
from a2d.kernels.features import MelSettings
from a2d.kernels.retrieval import RetrievalIndex
from a2d.storage.atomic import atomic_save, output_error

if TYPE_CHECKING:
    import numpy as np
    import torch

    from a2d.contracts.model import Predictor

#: Bumped when the layout changes incompatibly.
CHECKPOINT_FORMAT = 1


@dataclass
class Checkpoint:
    """A loaded checkpoint.

    :param model: the model, in eval mode, on the ``map_location`` device.
    :param mean, std: normalisation statistics, broadcastable to features ``(C, n_mels, T)``
        (``(C, n_mels, 1)`` per mel bin, or ``(C, n_mels, frames)`` per element).
    :param payload: the raw dictionary (state dicts included).
    """

    path: Path
    model: Predictor
    model_name: str
    spec: ParamSpec
    synth: str
    render_settings: RenderSettings
    mel_settings: MelSettings
    mean: torch.Tensor
    std: torch.Tensor
    config: dict[str, Any]
    step: int
    metrics: dict[str, float] = field(default_factory=dict)
    payload: dict[str, Any] = field(default_factory=dict, repr=False)

    @functools.cached_property
    def index(self) -> RetrievalIndex | None:
        """The retrieval index of the training rows shipped with the model
        (:mod:`a2d.kernels.retrieval`; ``a2d models export --index``), or None."""
        state = self.payload.get("retrieval")
        if not state:
            return None
        try:
            return RetrievalIndex.from_state(state)
        except (ValueError, KeyError, AttributeError) as exc:
            raise CheckpointError(
                f"checkpoint {str(self.path)!r} has an unreadable retrieval index ({exc}); "
                "re-export it with this a2d (`a2d models export --index DATA`)"
            ) from exc

    @property
    def input_shape(self) -> tuple[int, ...]:
        """Feature shape ``(C, n_mels, frames)`` the model expects."""
        return tuple(self.model.model_args["input_shape"])

    @property
    def stochastic(self) -> bool:
        """Whether the model samples candidates (from noise) rather than predicting one."""
        return bool(self.model.stochastic)

    def normalize(self, mel: torch.Tensor) -> torch.Tensor:
        """Model input from log-mel ``(B, C, n_mels, frames)`` or ``(C, n_mels, frames)`` (dB):
        ``(mel - mean) / std`` on the model's device."""
        import torch

        mel = torch.as_tensor(mel)
        if tuple(mel.shape[-3:]) != self.input_shape:
            raise CheckpointError(
                f"features have shape {tuple(mel.shape[-3:])} but the model expects "
                f"{self.input_shape}; compute them with the checkpoint's render and mel settings"
            )
        mean = self.mean.to(mel.device)
        return ((mel.float() - mean) / self.std.to(mel.device)).to(self.device)

    @property
    def device(self) -> torch.device:
        return next(self.model.parameters()).device

    def predict(self, mel: torch.Tensor, n_candidates: int = 1, **kwargs: Any) -> torch.Tensor:
        """Encoded parameters ``(B, n_candidates, width)`` in [0, 1] for raw log-mel
        ``(B, C, n_mels, frames)`` (normalised here); ``kwargs`` go to the model's ``predict``
        (e.g. ``steps``, ``guidance_weight``, ``generator`` for the flow model)."""
        import torch

        with torch.no_grad():
            features = self.normalize(mel)
            if features.dim() == 3:
                features = features.unsqueeze(0)
            return self.model.predict(features, n_candidates=n_candidates, **kwargs)

    def sample(
        self, mel: np.ndarray, k: int, seed: int | list[int], *, starts: np.ndarray | None = None,
        t0: float = 0.0, **options: Any,
    ) -> np.ndarray:  # fmt: skip
        """``(k, width)`` encoded candidates (float64) for one log-mel ``(C, n_mels, frames)``:
        from the noise :func:`start_noise` draws with ``seed`` (the same candidates as
        :meth:`NumpyCheckpoint.sample`), or one prediction for a deterministic model.
        ``starts``/``t0``: begin the flow at time ``t0`` from ``starts`` partly noised
        (:func:`start_noise`; a model that :attr:`can_edit`); ``options`` are the model's
        sampling settings. A stochastic model whose ``predict`` takes no ``noise`` draws from a
        ``torch.Generator`` seeded with ``seed``, as before."""
        import torch

        x = torch.from_numpy(mel)[None]
        if not self.stochastic:
            out = self.predict(x, n_candidates=1)
        elif not accepts(self.model.predict, "noise"):
            if starts is not None:
                raise CheckpointError(f"the {self.model_name} model cannot start from given rows")
            import numpy

            if not isinstance(seed, int):
                seed = int(numpy.random.SeedSequence(seed).generate_state(1)[0])
            gen = torch.Generator().manual_seed(seed)
            out = self.predict(x, n_candidates=k, generator=gen, **options)
        else:
            noise = torch.from_numpy(start_noise(self.spec.width, k, seed, starts, t0))
            extra = {"t0": t0} if t0 else {}
            out = self.predict(x, n_candidates=k, noise=noise, **extra, **options)
        return out[0].detach().cpu().numpy().astype("float64")

    @property
    def can_edit(self) -> bool:
        """Whether the model samples from a given state at a given time (``noise``, ``t0``):
        what :meth:`sample` needs for ``starts`` (the flow model does)."""
        return self.stochastic and accepts(self.model.predict, "noise", "t0")

    def check_spec(self, spec: ParamSpec, what: str = "the data") -> None:
        """Raise :class:`CheckpointError` unless ``spec`` is exactly the checkpoint's spec."""
        if spec.synth != self.synth or not spec.same_as(self.spec):
            raise CheckpointError(
                f"checkpoint {str(self.path)!r} was trained for spec {self.spec.name!r} "
                f"(synth {self.synth!r}, fingerprint {self.spec.fingerprint}) but {what} uses spec "
                f"{spec.name!r} (synth {spec.synth!r}, fingerprint {spec.fingerprint}); use a "
                "checkpoint trained on this spec"
            )


def accepts(fn: Any, *names: str) -> bool:
    """Whether callable ``fn`` takes every keyword of ``names``."""
    import inspect

    params = inspect.signature(fn).parameters
    return all(n in params for n in names)


def start_noise(
    width: int, k: int, seed: int | list[int], starts: np.ndarray | None = None, t0: float = 0.0
) -> np.ndarray:
    """The ``(k, width)`` float32 state a flow sampler integrates from: standard normal noise from
    ``numpy.random.default_rng(seed)`` (an int or a list of ints), or with ``starts`` (``(n, width)`` encoded vectors in
    [0, 1], each used ``k // n`` times in turn) the straight path's point at ``t0``,
    ``(1 - t0) * noise + t0 * (2 * start - 1)``: a retrieved row, partly noised, that the flow
    then carries to the input (SDEdit for rectified flows)."""
    import numpy as np

    noise = np.random.default_rng(seed).standard_normal((k, width), dtype=np.float32)
    if starts is None:
        return noise
    x1 = np.repeat(np.asarray(starts, np.float32), -(-k // len(starts)), axis=0)[:k] * 2 - 1
    return ((1 - np.float32(t0)) * noise + np.float32(t0) * x1).astype(np.float32)


def make_payload(
    *,
    model: Predictor,
    spec: ParamSpec,
    render_settings: dict[str, Any],
    mel_settings: dict[str, Any],
    mean: torch.Tensor,
    std: torch.Tensor,
    config: dict[str, Any],
    step: int,
    metrics: dict[str, float] | None = None,
    train_state: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """The dictionary :func:`save_checkpoint` writes (plain data and tensors only)."""
    from a2d._version import __version__

    state = {k: v.detach().cpu() for k, v in model.state_dict().items()}
    return {
        "format": CHECKPOINT_FORMAT,
        "a2d_version": __version__,
        "model": model.name,
        "model_args": dict(model.model_args),
        "spec": spec.to_json(),
        "synth": spec.synth,
        "render_settings": dict(render_settings),
        "mel_settings": dict(mel_settings),
        "normalization": {"mean": mean.detach().cpu(), "std": std.detach().cpu()},
        "config": config,
        "step": int(step),
        "metrics": dict(metrics or {}),
        "model_state": state,
        "train_state": train_state or {},
    }


def save_checkpoint(path: str | Path, payload: dict[str, Any]) -> Path:
    """Write ``payload`` atomically (temporary file + rename) and return the path."""
    path = Path(path)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise output_error(path.parent, exc) from None
    import torch

    return atomic_save(path, lambda tmp: torch.save(payload, tmp))


def read_payload(path: str | Path, map_location: str | torch.device = "cpu") -> dict[str, Any]:
    """The raw checkpoint dictionary; a missing, corrupt or too-new file is a CheckpointError."""
    import torch

    path = Path(path)
    if not path.is_file():
        raise CheckpointNotFoundError(
            f"checkpoint {str(path)!r} does not exist; pass the path of a .pt file"
        )
    try:
        with warnings.catch_warnings():
            # torch warns (UserWarning) before refusing a pickle that is not plain data; the
            # refusal below is the one line the user sees.
            warnings.simplefilter("ignore")
            payload = torch.load(path, map_location=map_location, weights_only=True)
    except Exception as exc:  # torch raises many types for truncated or foreign files
        raise CheckpointError(
            f"checkpoint {str(path)!r} cannot be read ({type(exc).__name__}); it is corrupt or not "
            "an a2d checkpoint: re-train or re-copy it"
        ) from exc
    return check_payload(payload, path)


def check_payload(payload: Any, path: Path) -> dict[str, Any]:
    """``payload`` if it is an a2d checkpoint this version reads, else a CheckpointError."""
    if not isinstance(payload, dict) or "format" not in payload or "model_state" not in payload:
        raise CheckpointError(
            f"{str(path)!r} is not an a2d checkpoint (no format/model_state keys); pass a "
            "checkpoint written by `a2d train`"
        )
    fmt = payload["format"]
    if not isinstance(fmt, int) or isinstance(fmt, bool) or fmt < 1:
        raise CheckpointError(
            f"checkpoint {str(path)!r} has an invalid format field ({fmt!r}); it is corrupt or not "
            "an a2d checkpoint: re-train or re-copy it"
        )
    if fmt > CHECKPOINT_FORMAT:
        raise CheckpointError(
            f"checkpoint {str(path)!r} has format {payload['format']}, newer than this a2d "
            f"supports ({CHECKPOINT_FORMAT}); upgrade a2d"
        )
    return payload


def load_checkpoint(
    path: str | Path,
    map_location: str | torch.device = "cpu",
    *,
    spec: ParamSpec | None = None,
) -> Checkpoint:
    """Load a checkpoint and rebuild its model (eval mode) on ``map_location``.

    :param spec: if given, the checkpoint must have been trained on exactly this spec
        (else :class:`CheckpointError`).
    """
    payload = read_payload(path, map_location)

    def build() -> Checkpoint:
        model = model_class(payload["model"]).build(**payload["model_args"])
        model.load_state_dict(payload["model_state"])
        norm = payload["normalization"]
        return Checkpoint(
            model=model.to(map_location).eval(), mean=norm["mean"].float(),
            std=norm["std"].float(), **checkpoint_fields(payload, Path(path)),
        )  # fmt: skip

    return rebuild(build, Path(path), spec)


def checkpoint_fields(payload: dict[str, Any], path: Path) -> dict[str, Any]:
    """The fields of a :class:`Checkpoint` other than the model and its normalisation."""
    return {
        "path": path, "model_name": payload["model"],
        "spec": ParamSpec.from_json(payload["spec"]), "synth": payload["synth"],
        "render_settings": RenderSettings(**payload["render_settings"]),
        "mel_settings": MelSettings.from_dict(payload["mel_settings"]),
        "config": payload["config"], "step": int(payload["step"]),
        "metrics": dict(payload.get("metrics", {})), "payload": payload,
    }  # fmt: skip


def rebuild(build: Any, path: Path, spec: ParamSpec | None) -> Any:
    """``build()``, its failures as one CheckpointError line; then the spec check."""
    try:
        ckpt = build()
    except CheckpointError:
        raise
    except Exception as exc:
        from a2d.contracts.errors import A2DError

        reason = str(exc) if isinstance(exc, A2DError) else f"{type(exc).__name__}: {exc}"
        reason = reason.splitlines()[0] if reason else type(exc).__name__
        raise CheckpointError(
            f"checkpoint {str(path)!r} cannot be rebuilt ({reason}); it was written by an "
            "incompatible a2d or plugin version"
        ) from exc
    if spec is not None:
        ckpt.check_spec(spec)
    return ckpt
