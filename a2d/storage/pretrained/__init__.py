"""Pretrained models shipped inside the package: ``a2d predict SOUND`` works with no training.

Each shipped model is an ordinary a2d checkpoint (:mod:`a2d.storage.checkpoint`: self-describing, loaded
with ``torch.load(weights_only=True)``) stored in this folder as ``NAME.pt``, written by
``a2d models export`` from a run of ``a2d train``. Export drops the optimizer and RNG state and
adds a *card*: what the model was trained on, how long, and how it scored (``a2d evaluate``
summaries), so ``a2d models`` can describe every model without any other file. ``docs/models.md``
is the human-readable card; ``configs/pretrained/`` holds the commands' configs to rebuild each one.

The default model of a synth is the one named in :data:`DEFAULTS`.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

#: Folder of the shipped ``.pt`` files (inside the installed package: no network at run time).
MODELS_DIR = Path(__file__).resolve().parent

#: The model ``a2d predict`` uses for each synth when no ``--checkpoint`` is given.
#: Dexed's is two-operator FM: it beats retrieval and matches real sounds closer than a model of the
#: full DX7 spec (docs/models.md, `dexed_fm2`; `dexed_full` is rebuilt from configs/pretrained/).
DEFAULTS: dict[str, str] = {"vital": "vital_simple", "dexed": "dexed_fm2"}

#: The synth ``a2d predict`` matches when neither ``--synth`` nor ``--checkpoint`` says.
DEFAULT_SYNTH = "vital"


@dataclass(frozen=True)
class ShippedModel:
    """One shipped model, described from its own file.

    :param name: the file's stem, which ``--checkpoint NAME`` accepts.
    :param card: the export card (data, steps, training time, evaluation figures, limits).
    """

    name: str
    path: Path
    synth: str
    spec: str
    model: str
    step: int
    size_bytes: int
    default: bool
    card: dict[str, Any] = field(default_factory=dict, repr=False)


@functools.cache
def _describe(path: Path, mtime_ns: int) -> ShippedModel:
    import json

    from a2d.storage.checkpoint import check_payload, read_payload
    from a2d.storage.torchfile import read_torch_file

    try:  # the plain data only, without torch (a2d predict, a2d models)
        payload = check_payload(read_torch_file(path, arrays=False), path)
    except Exception:  # not readable that way: torch's reader, and its one-line error
        payload = read_payload(path)
    name = path.stem
    synth = str(payload["synth"])
    return ShippedModel(
        name=name,
        path=path,
        synth=synth,
        spec=str(json.loads(payload["spec"])["name"]),
        model=str(payload["model"]),
        step=int(payload["step"]),
        size_bytes=path.stat().st_size,
        default=DEFAULTS.get(synth) == name,
        card=dict(payload.get("card") or {}),
    )


def shipped_models(folder: Path | None = None) -> list[ShippedModel]:
    """Every shipped model, by name (reads each file's description; cached per file version)."""
    folder = MODELS_DIR if folder is None else Path(folder)
    return [_describe(p, p.stat().st_mtime_ns) for p in sorted(folder.glob("*.pt"))]


def shipped_model(name: str, folder: Path | None = None) -> ShippedModel | None:
    """The shipped model called ``name``, or ``None``."""
    folder = MODELS_DIR if folder is None else Path(folder)
    path = folder / f"{name}.pt"
    return (
        _describe(path, path.stat().st_mtime_ns) if path.is_file() and name.isidentifier() else None
    )


def resolve_checkpoint(
    checkpoint: str | Path | None,
    *,
    synth: str | None = None,
    spec: str | None = None,
    folder: Path | None = None,
) -> Path:
    """The checkpoint file to load for ``a2d predict``.

    ``checkpoint`` may be a file path (returned as is: loading reports a missing or bad file), the
    name of a shipped model (``vital_simple``), or ``None``: the shipped model trained on ``spec``
    when one is given, else the default model of ``synth`` (Vital when neither is given).
    """
    from a2d.contracts.errors import CheckpointNotFoundError

    if checkpoint is not None:
        text = str(checkpoint)
        path = Path(text)
        if path.exists() or path.suffix or "/" in text or "\\" in text:
            return path
        shipped = shipped_model(text, folder)
        if shipped is None:
            raise CheckpointNotFoundError(
                f"{text!r} is neither a checkpoint file nor a shipped model; pass a .pt path or "
                f"one of: {', '.join(m.name for m in shipped_models(folder)) or 'none shipped'} "
                "(see `a2d models`)"
            )
        return shipped.path
    models = shipped_models(folder)
    if spec is not None:
        for m in models:
            if m.spec == spec:
                return m.path
        raise CheckpointNotFoundError(
            f"no shipped model is trained on spec {spec!r}; pass --checkpoint FILE (a model from "
            f"`a2d train --data DIR`) or choose a shipped one (see `a2d models`)"
        )
    synth = synth or DEFAULT_SYNTH
    name = DEFAULTS.get(synth)
    shipped = shipped_model(name, folder) if name else None
    if shipped is None:
        raise CheckpointNotFoundError(
            f"no shipped model for synth {synth!r}; pass --checkpoint FILE (train one with "
            f"`a2d generate --synth {synth} ...` and `a2d train`), or see `a2d models`"
        )
    return shipped.path


def export_model(
    checkpoint: str | Path,
    out: str | Path,
    *,
    card: dict[str, Any] | None = None,
    evaluations: dict[str, dict[str, Any]] | None = None,
    half: bool = False,
    sampling: dict[str, Any] | None = None,
    index: Any = None,
    neighbours: int | None = None,
    edits: int | None = None,
    edit_t0: float | None = None,
) -> Path:
    """Write a deployable copy of a training checkpoint: model weights, spec, settings and
    normalisation (all ``load_checkpoint`` needs), no optimizer or RNG state, plus a card.

    :param card: plain data describing the model (name, data, commands, limits...); its fields
        replace those of the card ``checkpoint`` already has (a shipped model re-exported).
    :param evaluations: ``{label: summary}`` from ``a2d evaluate`` (its ``summary.json``),
        reduced to each method's mean scores and stored in the card.
    :param half: store floating-point weights as float16 (loaded back into float32 parameters).
    :param sampling: new defaults of the model's sampling arguments (e.g. a flow model's ODE
        ``steps`` and ``method``); each must be a constructor argument of the model.
    :param index: ``(RetrievalIndex, description)`` of the training rows
        (:func:`a2d.storage.pretrained.index.index_from_dataset`), shipped beside the weights:
        ``a2d predict`` proposes its nearest rows with the model's samples.
    :param neighbours: how many index rows ``a2d predict`` proposes by default for this model;
        ``edits``, ``edit_t0``: how many of them the flow carries towards the input, from which
        time (:func:`a2d.pipelines.proposers.edit_settings`). Defaults the source checkpoint
        already stores are kept unless given anew.
    """
    import torch

    from a2d.storage.checkpoint import read_payload, save_checkpoint

    payload = read_payload(checkpoint)
    state = payload["model_state"]
    if half:
        state = {k: v.half() if torch.is_floating_point(v) else v for k, v in state.items()}
    card = {**dict(payload.get("card") or {}), **dict(card or {})}  # a re-export keeps its card
    card.setdefault("source_step", int(payload["step"]))
    card.setdefault("source_metrics", dict(payload.get("metrics", {})))
    dtypes = {
        str(v.dtype).removeprefix("torch.") for v in state.values() if torch.is_floating_point(v)
    }
    card["storage"] = "+".join(sorted(dtypes))  # as stored: a half model re-exported stays float16
    card["parameters"] = int(sum(v.numel() for v in state.values() if torch.is_floating_point(v)))
    if evaluations:
        card["evaluations"] = {k: summarize_evaluation(v) for k, v in evaluations.items()}
    out_payload = {k: v for k, v in payload.items() if k != "train_state"}
    if sampling:
        import inspect

        from a2d.contracts.errors import ConfigError
        from a2d.contracts.plugins import model_class

        known = set(inspect.signature(model_class(payload["model"]).__init__).parameters) - {"self"}
        unknown = sorted(set(sampling) - known)
        if unknown:
            raise ConfigError(
                f"the {payload['model']} model has no argument {unknown[0]!r}; pass one of "
                f"{', '.join(sorted(known))}"
            )
        out_payload["model_args"] = {**payload["model_args"], **sampling}
        card["sampling"] = dict(sampling)
    out_payload["model_state"] = state
    out_payload["train_state"] = {}
    if index is not None:
        out_payload["retrieval"] = index[0].to_state()
        card["retrieval"] = dict(index[1])
    defaults = dict(payload.get("predict_defaults") or {})
    given = {"neighbours": neighbours, "edits": edits, "edit_t0": edit_t0}
    defaults.update({k: v for k, v in given.items() if v is not None})
    if defaults:
        out_payload["predict_defaults"] = defaults
        card.setdefault("retrieval", {}).update({f"predict_{k}": v for k, v in defaults.items()})
    out_payload["card"] = card
    return save_checkpoint(out, out_payload)


#: Scores kept from an evaluation summary, per method and K.
_KEPT = ("n", "renders", "mss", "mss_se", "wmfcc", "sot", "rms", "param_mse")


def summarize_evaluation(summary: dict[str, Any]) -> dict[str, Any]:
    """The card's compact form of an ``a2d evaluate`` summary: per method and K, the mean scores."""

    def scores(row: dict[str, Any]) -> dict[str, Any]:
        return {key: row[key] for key in _KEPT if isinstance(row.get(key), (int, float))}

    methods: dict[str, Any] = {}
    for method, entry in (summary.get("methods") or {}).items():
        if "mss" in entry:  # `a2d evaluate --sounds`: one entry per method
            methods[method] = scores(entry)
        else:  # `a2d evaluate --data`: one entry per K
            methods[method] = {str(k): scores(r) for k, r in entry.items() if isinstance(r, dict)}
    keys = ("split", "rows", "candidates", "budget", "pitch_accuracy")
    kept = {k: summary[k] for k in keys if k in summary}
    return {**kept, "methods": methods}
