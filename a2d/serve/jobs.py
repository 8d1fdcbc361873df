"""Jobs of ``a2d serve``: one upload matched by one model, queued fairly, run one at a time.

A job owns a folder ``ROOT/<job id>/`` (the id is a random 128-bit hex string): its upload, stored
as ``input<suffix>`` (the client's file name is only shown, never used as a path), and its
results. One runner thread takes jobs from a :class:`FairQueue` (round robin over the clients
that queued them, so one tab's ten uploads do not starve another tab's one) and matches each with
``a2d predict``'s :class:`~a2d.pipelines.predict.SoundMatcher`, kept per model with its synth worker pool.
Every step is an event in the job's list, which the page reads as server-sent events. A
cancelled or failed job deletes its folder; a finished one keeps it until the server stops or
:attr:`JobManager.keep` newer jobs have finished.
"""

from __future__ import annotations

import re
import shutil
import sys
import threading
import time
import traceback
import uuid
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from a2d.contracts.errors import A2DError, AudioInputError, ConfigError, ExitCode, RenderError
from a2d.serve.fairqueue import FairQueue
from a2d.serve.media import result_media
from a2d.serve.models import ModelChoice

#: What each predict phase says on the page.
PHASE_LABELS = {
    "start": "loading the model and starting the synth",
    "load": "decoding the sound",
    "analyse": "finding the note",
    "features": "computing features",
    "sample": "sampling candidates from the model",
    "render": "rendering the candidates on the synth",
    "score": "scoring the candidates",
    "refine": "refining the best candidates on the synth",
    "write": "writing the preset and the report",
    "media": "drawing spectrograms",
}
_JOB_ID = re.compile(r"^[0-9a-f]{32}$")
_SUFFIX = re.compile(r"^\.[A-Za-z0-9]{1,8}$")


class JobCancelled(Exception):
    """Raised at a phase boundary of a job whose cancellation was asked."""


class BusyError(A2DError):
    """A client queued more jobs than the server accepts at once (HTTP 429)."""

    exit_code = ExitCode.USAGE
    http_status = 429


def is_job_id(text: str) -> bool:
    return bool(_JOB_ID.match(text))


def display_name(name: str) -> str:
    """The client's file name as the page shows it: its last path part, only letters, digits,
    spaces and ``._()-`` (others become ``_``), no leading dots, at most 80 characters."""
    base = re.split(r"[/\\]", name or "")[-1]
    base = re.sub(r"[^A-Za-z0-9 ._()\-]", "_", base).strip().lstrip(".")
    if len(base) > 80:
        suffix = Path(base).suffix if _SUFFIX.match(Path(base).suffix) else ""
        base = base[: 80 - len(suffix)] + suffix
    return base or "sound"


def output_stem(name: str) -> str:
    """File stem of a job's outputs (``NAME.vital`` ...): the display name's stem, spaces and
    brackets as ``_``."""
    stem = re.sub(r"[^A-Za-z0-9._-]", "_", Path(name).stem).strip("._")
    return stem[:60] or "sound"


@dataclass
class Job:
    """One upload and its match. ``files`` maps every name the API serves to its path inside
    ``dir``: nothing else of the job (or of the server) is ever served."""

    id: str
    client: str
    name: str
    model: ModelChoice
    dir: Path
    input: Path
    refine: int
    start: np.ndarray | None = None
    refined_from: str | None = None
    state: str = "queued"
    error: str | None = None
    code: int | None = None
    result: dict[str, Any] | None = None
    files: dict[str, Path] = field(default_factory=dict)
    events: list[dict[str, Any]] = field(default_factory=list)
    created: float = field(default_factory=time.time)
    vectors: np.ndarray | None = None  # the shown candidates' encoded vectors (refine further)
    cancel: threading.Event = field(default_factory=threading.Event)

    @property
    def finished(self) -> bool:
        return self.state in ("done", "failed", "cancelled")

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "name": self.name,
            "state": self.state,
            "model": self.model.id,
            "model_label": self.model.label,
            "synth": self.model.synth,
            "refine": self.refine,
            "refined_from": self.refined_from,
            "error": self.error,
            "code": self.code,
            "result": self.result,
            "events": len(self.events),
        }


@dataclass(frozen=True)
class JobSettings:
    """How jobs match: K candidates, refine budget (and for *refine further*), worker processes,
    input limits, and how many jobs the server holds."""

    candidates: int = 16
    refine: int | None = None  # None: each model's synth's default, as `a2d predict`
    refine_more: int = 128
    workers: int = 1
    max_seconds: float = 60.0
    max_queued: int = 8
    keep: int = 50
    seed: int = 0


def refine_budget(settings: JobSettings, model: ModelChoice) -> int:
    """Renders a job of ``model`` spends refining: the server's ``--refine``, else the default of
    the model's synth (:attr:`~a2d.contracts.synth.SynthBackend.refine_renders`), as ``a2d
    predict`` does."""
    from a2d.contracts.errors import UnknownNameError
    from a2d.contracts.plugins import get_synth
    from a2d.contracts.synth import SynthBackend

    if settings.refine is not None:
        return settings.refine
    try:  # a checkpoint for a synth whose plugin is not installed: the page lists it as such
        return int(get_synth(model.synth).refine_renders)
    except UnknownNameError:
        return SynthBackend.refine_renders


class JobManager:
    """Owns the jobs, their folders, the queue and the runner thread.

    :param models: the models jobs may name. :param root: folder of the job folders (exists).
    :param on_event: called (from any thread) after an event is added to a job.
    """

    def __init__(
        self,
        models: list[ModelChoice],
        root: Path,
        settings: JobSettings,
        on_event: Callable[[Job], None] = lambda job: None,
    ) -> None:
        self.models = {m.id: m for m in models}
        self.root, self.settings, self.on_event = root, settings, on_event
        self.jobs: OrderedDict[str, Job] = OrderedDict()
        self.queue = FairQueue()
        self._lock = threading.Condition()
        self._matchers: OrderedDict[str, Any] = OrderedDict()
        self._running: Job | None = None
        self._stop = False
        self._thread = threading.Thread(target=self._loop, name="a2d-serve-jobs", daemon=True)
        self._thread.start()

    # -- submitting -------------------------------------------------------------------------

    def new_job(
        self, client: str, name: str, model_id: str, *, refine_from: str | None = None
    ) -> Job:
        """A job folder for an upload (not queued yet: :meth:`accept` validates and queues)."""
        if model_id not in self.models:
            known = ", ".join(self.models) or "none"
            raise ConfigError(f"unknown model {model_id!r}; known models: {known}")
        with self._lock:
            if self.queue.count(client) >= self.settings.max_queued:
                raise BusyError(
                    f"{self.settings.max_queued} jobs of this page are already waiting; wait for "
                    "them to finish or cancel some"
                )
        shown = display_name(name)
        suffix = Path(shown).suffix if _SUFFIX.match(Path(shown).suffix) else ""
        job_id = uuid.uuid4().hex
        folder = self.root / job_id
        folder.mkdir(mode=0o700)
        return Job(
            job_id, client, shown, self.models[model_id], folder, folder / f"input{suffix.lower()}",
            self.refine_budget(self.models[model_id]), refined_from=refine_from,
        )  # fmt: skip

    def refine_budget(self, model: ModelChoice) -> int:
        """Renders a job of ``model`` spends refining (:func:`refine_budget`)."""
        return refine_budget(self.settings, model)

    def validate(self, job: Job) -> None:
        """Decode the stored upload as ``a2d predict`` does; raise its error (the path shown as
        the client's file name) and delete the job's folder when it is bad."""
        from a2d.kernels.audio import load_sound

        try:
            load_sound(job.input, job.model.settings, max_seconds=self.settings.max_seconds)
        except AudioInputError as exc:
            self.discard(job)
            raise type(exc)(self.client_text(job, str(exc))) from None

    def accept(self, job: Job) -> Job:
        with self._lock:
            self.jobs[job.id] = job
            self.queue.put(job)
            self._event(job, {"type": "queued"})
            self._positions()
            self._lock.notify_all()
        return job

    def refine_further(self, client: str, job_id: str) -> Job:
        """A new job refining ``job_id``'s shown candidates with ``refine_more`` renders."""
        old = self.get(job_id)
        if old.state != "done" or old.vectors is None:
            raise ConfigError(f"job {job_id} has no result to refine; wait until it is done")
        job = self.new_job(client, old.name, old.model.id, refine_from=old.id)
        shutil.copyfile(old.input, job.input)
        job.start, job.refine = old.vectors, self.settings.refine_more
        return self.accept(job)

    def get(self, job_id: str) -> Job:
        from a2d.contracts.errors import UnknownNameError

        job = self.jobs.get(job_id) if is_job_id(job_id) else None
        if job is None:
            raise UnknownNameError(f"no job {job_id!r} on this server; start a new one")
        return job

    def cancel(self, job_id: str) -> Job:
        """Cancel a queued job now, a running one at its next phase; a finished one stays."""
        job = self.get(job_id)
        with self._lock:
            job.cancel.set()
            if self.queue.remove(job):
                self._finish(job, "cancelled", None, None)
                self._positions()
        return job

    def discard(self, job: Job) -> None:
        shutil.rmtree(job.dir, ignore_errors=True)

    def client_text(self, job: Job, text: str) -> str:
        """An error line with the stored upload's path shown as the client's file name."""
        return text.replace(str(job.input), job.name)

    # -- running ----------------------------------------------------------------------------

    def _event(self, job: Job, event: dict[str, Any]) -> None:
        job.events.append({**event, "state": job.state, "time": time.time()})
        self.on_event(job)

    def _positions(self) -> None:
        for i, job in enumerate(self.queue.order()):
            self._event(job, {"type": "waiting", "ahead": i + (self._running is not None)})

    def _finish(self, job: Job, state: str, error: str | None, code: int | None) -> None:
        job.state, job.error, job.code = state, error, code
        if state != "done":
            self.discard(job)
            job.files = {}
        self._event(job, {"type": state, **({"error": error} if error else {})})
        self._prune()

    def _prune(self) -> None:
        done = [j for j in self.jobs.values() if j.finished]
        for job in done[: max(0, len(done) - self.settings.keep)]:
            self.discard(job)
            del self.jobs[job.id]

    def _loop(self) -> None:
        while True:
            with self._lock:
                while not self._stop and not len(self.queue):
                    self._lock.wait()
                if self._stop:
                    return
                job = self.queue.pop()
                assert job is not None
                self._running = job
                job.state = "running"
                self._event(job, {"type": "running"})
                self._positions()
            try:
                self._run(job)
                state, error, code = "done", None, None
            except JobCancelled:
                state, error, code = "cancelled", None, None
            except A2DError as exc:
                state, error, code = "failed", self.client_text(job, str(exc)), int(exc.exit_code)
                if isinstance(exc, RenderError):  # a dead worker: the next job gets a new pool
                    self._drop_matcher(job.model.id)
            except Exception as exc:  # a bug: keep serving, say so, log the traceback
                traceback.print_exc(file=sys.stderr)
                state, code = "failed", int(ExitCode.INTERNAL)
                error = f"internal error ({type(exc).__name__}: {exc}); see the server's log"
                self._drop_matcher(job.model.id)
            with self._lock:
                self._running = None
                self._finish(job, state, error, code)
                self._positions()

    def _matcher(self, model: ModelChoice) -> Any:
        from a2d.pipelines.predict import SoundMatcher

        if model.id in self._matchers:
            self._matchers.move_to_end(model.id)
            return self._matchers[model.id]
        while len(self._matchers) >= 2:  # each holds a model and a pool of synth processes
            self._drop_matcher(next(iter(self._matchers)))
        s = self.settings
        matcher = SoundMatcher(
            model.path, candidates=s.candidates, seed=s.seed, workers=s.workers,
            refine=max(self.refine_budget(model), s.refine_more),
        )  # fmt: skip
        self._matchers[model.id] = matcher
        return matcher

    def _drop_matcher(self, model_id: str) -> None:
        matcher = self._matchers.pop(model_id, None)
        if matcher is not None:
            matcher.close()

    def _run(self, job: Job) -> None:
        skip = {"features", "sample"} if job.start is not None else set()
        if job.model.id in self._matchers:
            skip.add("start")
        steps = [p for p in PHASE_LABELS if p not in skip]

        def phase(name: str) -> None:
            if job.cancel.is_set() or self._stop:
                raise JobCancelled
            label = PHASE_LABELS[name]
            if name == "render":
                n = len(job.start) if job.start is not None else matcher.candidates
                label = f"rendering {n} candidates on the synth"
            elif name == "refine":
                label = f"refining the best candidates on the synth ({job.refine} renders)"
            step = steps.index(name) + 1 if name in steps else 0
            self._event(job, {"type": "phase", "phase": name, "label": label, "step": step,
                              "steps": len(steps)})  # fmt: skip

        if "start" in steps:
            phase("start")
        matcher = self._matcher(job.model)
        out = job.dir / "out" / output_stem(job.name)
        result = matcher.match(job.input, out, on_phase=phase, start=job.start, refine=job.refine)
        phase("media")
        job.result, job.files, job.vectors = result_media(matcher, result)
        if job.cancel.is_set() or self._stop:
            raise JobCancelled

    def file(self, job_id: str, name: str) -> Path:
        """The path of a file the job wrote, by its served name; anything else is not found."""
        from a2d.contracts.errors import UnknownNameError

        job = self.get(job_id)
        path = job.files.get(name)
        if path is None or not path.resolve().is_relative_to(job.dir.resolve()):
            raise UnknownNameError(f"job {job_id} has no file {name!r}; see the job's result")
        return path

    def close(self) -> None:
        """Stop the runner (the running job is cancelled at its next phase), close the synths."""
        with self._lock:
            self._stop = True
            if self._running is not None:
                self._running.cancel.set()
            self._lock.notify_all()
        self._thread.join()
        for model_id in list(self._matchers):
            self._drop_matcher(model_id)
