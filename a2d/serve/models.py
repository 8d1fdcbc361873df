"""The synths and models the page offers.

:func:`available_models` is the one list: the checkpoints the server was started with
(``--checkpoint FILE`` or a folder of training runs), after the models shipped in the package
(:func:`shipped_checkpoints`). Each is read once here, so a bad checkpoint stops the server at
start with the CLI's own one-line error, not a job later.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from a2d.contracts.errors import CheckpointNotFoundError


@dataclass(frozen=True)
class ModelChoice:
    """One model the page offers.

    :param id: stable short id (from the checkpoint's resolved path), used in URLs and the API.
    :param label: what the page shows, e.g. ``"flow (small, step 40000) · runs/vs"``.
    :param path: the checkpoint file. :param shipped: it comes with the package.
    :param settings: its :class:`~a2d.contracts.synth.RenderSettings` (inputs are shaped to them).
    """

    id: str
    label: str
    path: Path
    synth: str
    spec: str
    model: str
    size: str | None
    steps: int
    shipped: bool = False
    settings: Any = field(default=None, compare=False, repr=False)

    def to_dict(self) -> dict[str, Any]:
        doc = {k: v for k, v in asdict(self).items() if k != "settings"}
        doc["path"] = str(self.path)
        doc["seconds"] = self.settings.duration if self.settings is not None else None
        return doc


#: Where the shipped models live (issue 16); a build without them offers only ``--checkpoint``.
PRETRAINED = "a2d.storage.pretrained"


def _pretrained() -> Any:
    """The shipped-models module, or None in a build without it (any other import error raises)."""
    import importlib

    try:
        return importlib.import_module(PRETRAINED)
    except ModuleNotFoundError as exc:
        if exc.name not in (PRETRAINED, "a2d.storage"):
            raise
        return None


def shipped_checkpoints() -> list[Path]:
    """Checkpoints shipped in the package, each synth's default first."""
    module = _pretrained()
    if module is None:
        return []
    return [m.path for m in sorted(module.shipped_models(), key=lambda m: not m.default)]


def expand_checkpoints(paths: Iterable[str | Path]) -> list[Path]:
    """Checkpoint files as given, and for each folder its ``best.pt`` and its runs'
    (``FOLDER/*/best.pt``), sorted; duplicates dropped."""
    out: list[Path] = []
    for p in map(Path, paths):
        if p.is_dir():
            found = sorted([*p.glob("best.pt"), *p.glob("*/best.pt")])
            if not found:
                raise CheckpointNotFoundError(
                    f"{p}: no best.pt in this folder or its sub-folders; pass checkpoint files "
                    "or a folder of training runs"
                )
            out.extend(found)
        elif not p.exists():
            module = _pretrained()
            shipped = module.shipped_model(str(p)) if module is not None else None
            if shipped is None:
                raise CheckpointNotFoundError(
                    f"checkpoint {str(p)!r} does not exist; check the path, or name a shipped "
                    "model (see `a2d models`)"
                )
            out.append(shipped.path)
        else:
            out.append(p)
    unique: dict[Path, Path] = {}
    for p in out:
        unique.setdefault(p.resolve(), p)
    return list(unique.values())


def describe_checkpoint(path: Path, *, shipped: bool = False) -> ModelChoice:
    """Read ``path`` (the CLI's errors when it is missing or corrupt) into a :class:`ModelChoice`."""
    from a2d.storage.checkpoint import load_checkpoint

    ck = load_checkpoint(path)
    size = ck.config.get("preset")
    where = path.parent.name if path.name in ("best.pt", "last.pt") else path.name
    label = f"{ck.model_name} ({size or 'custom'}, step {ck.step}) · {where}"
    if shipped:
        label = f"{path.stem} (shipped) · {ck.model_name}, step {ck.step}"
    digest = hashlib.sha256(str(path.resolve()).encode()).hexdigest()[:12]
    return ModelChoice(
        digest, label, path, ck.synth, ck.spec.name, ck.model_name, size, ck.step, shipped,
        ck.render_settings,
    )  # fmt: skip


def available_models(checkpoints: Iterable[str | Path] = ()) -> list[ModelChoice]:
    """Every model the server offers: shipped ones first, then ``checkpoints`` (files or folders
    of runs) in the order given."""
    models = [describe_checkpoint(p, shipped=True) for p in shipped_checkpoints()]
    models += [describe_checkpoint(p) for p in expand_checkpoints(checkpoints)]
    seen: set[str] = set()
    return [m for m in models if not (m.id in seen or seen.add(m.id))]


@dataclass(frozen=True)
class SynthChoice:
    """A registered synth: whether it runs here (else why not) and how many models it has."""

    name: str
    label: str
    available: bool
    reason: str
    models: int

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def available_synths(models: list[ModelChoice]) -> list[SynthChoice]:
    """Every registered synth: those with models first, the default synth (Vital) first of
    them, then by name."""
    from a2d.contracts.errors import A2DError
    from a2d.contracts.plugins import registries

    synths = registries().synths
    out = []
    for name in sorted(synths.names()):
        cls = synths.get(name)
        try:
            cls.check_available()
            ok, reason = True, ""
        except A2DError as exc:
            ok, reason = False, str(exc)
        n = sum(m.synth == name for m in models)
        if ok and not n:
            reason = f"no model for {name}; start `a2d serve --checkpoint` with one trained for it"
        out.append(SynthChoice(name, cls.display_name or name, ok, reason, n))
    from a2d.storage.pretrained import DEFAULT_SYNTH

    return sorted(
        out, key=lambda s: (not s.models, not s.available, s.name != DEFAULT_SYNTH, s.name)
    )
