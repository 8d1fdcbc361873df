"""The ASGI app of ``a2d serve``: the page, its static files, and the JSON API.

FastAPI (on Starlette, served by uvicorn) rather than bare Starlette: the API's OpenAPI schema,
which the ``/api`` page renders (offline: FastAPI's own ``/docs`` loads Swagger UI from a CDN, so
it is off), comes from the routes themselves and cannot drift from them; the rest (streaming
uploads, server-sent events, plain responses) is Starlette underneath either way.

Requests are checked before they touch anything: the ``Host`` header must name this machine when
the server listens on loopback (no DNS rebinding), a state-changing request from a page must come
from this server's origin (no cross-site uploads), uploads stream to disk only up to the size
limit, job ids must be known, and a file is served only by a name its job wrote.
"""

from __future__ import annotations

import asyncio
import json
import shutil
import tempfile
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from importlib.resources import files
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from fastapi import FastAPI, Query, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import FileResponse, HTMLResponse, JSONResponse, Response, StreamingResponse
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException as StarletteHTTPException

from a2d.contracts.errors import A2DError, ExitCode
from a2d.serve.apidoc import API_DESCRIPTION, api_html
from a2d.serve.jobs import JobManager, JobSettings, is_job_id, refine_budget
from a2d.serve.models import ModelChoice, available_synths

#: HTTP status of each a2d exit code in API errors.
HTTP_STATUS = {
    ExitCode.USAGE: 400,
    ExitCode.NOT_FOUND: 404,
    ExitCode.DATA: 422,
    ExitCode.SYNTH_UNAVAILABLE: 503,
    ExitCode.OUTPUT: 507,
}
#: Static files of the page, by served name: nothing else under ``static/`` is reachable.
STATIC = {"app.js": "text/javascript", "app.css": "text/css", "icon.svg": "image/svg+xml"}
#: Served files' media types by suffix; others download as bytes.
MEDIA_TYPES = {
    ".wav": "audio/wav", ".png": "image/png", ".json": "application/json",
    ".html": "text/html", ".mid": "audio/midi",
}  # fmt: skip
#: Files the browser shows in place (players, images); everything else is an attachment.
INLINE = {".wav", ".png", ".json", ".html"}
LOOPBACK_HOSTS = {"127.0.0.1", "localhost", "::1", "[::1]"}
#: The page allows only its own scripts, styles, images and media.
CSP = (
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "media-src 'self'; connect-src 'self'; form-action 'self'; base-uri 'none'; "
    "frame-ancestors 'none'"
)


@dataclass
class ServeSettings:
    """Everything the app needs. :param models: from :func:`a2d.serve.models.available_models`.
    :param jobs_dir: where job folders go (default: a new temporary folder, removed at exit).
    :param loopback_only: refuse requests whose ``Host`` is not this machine."""

    models: list[ModelChoice]
    jobs: JobSettings = field(default_factory=JobSettings)
    max_upload_mb: float = 50.0
    jobs_dir: Path | None = None
    loopback_only: bool = True


class ApiError(Exception):
    def __init__(self, status: int, message: str, code: ExitCode = ExitCode.USAGE) -> None:
        super().__init__(message)
        self.status, self.code = status, code


def error_response(status: int, message: str, code: int) -> JSONResponse:
    """Every API error: ``{"error": "<problem>; <fix>", "code": <a2d exit code>}``."""
    return JSONResponse({"error": " ".join(message.split()), "code": int(code)}, status_code=status)


class _Hub:
    """Wakes the event streams of a job when its runner adds an event (from another thread)."""

    def __init__(self) -> None:
        self.loop: asyncio.AbstractEventLoop | None = None
        self._events: dict[str, asyncio.Event] = {}

    def waiter(self, job_id: str) -> asyncio.Event:
        return self._events.setdefault(job_id, asyncio.Event())

    def _wake(self, job_id: str) -> None:
        event = self._events.pop(job_id, None)
        if event is not None:
            event.set()

    def notify(self, job: Any) -> None:
        if self.loop is not None and not self.loop.is_closed():
            self.loop.call_soon_threadsafe(self._wake, job.id)


def _static(name: str) -> bytes:
    return files("a2d.serve").joinpath("static", name).read_bytes()


def create_app(settings: ServeSettings) -> FastAPI:
    """The app; its job runner starts with the app (lifespan) and stops with it."""
    from contextlib import asynccontextmanager

    hub = _Hub()
    state: dict[str, Any] = {}
    limit = int(settings.max_upload_mb * 1024 * 1024)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        hub.loop = asyncio.get_running_loop()
        own = settings.jobs_dir is None
        root = Path(tempfile.mkdtemp(prefix="a2d-serve-")) if own else settings.jobs_dir
        root.mkdir(parents=True, exist_ok=True)
        state["jobs"] = JobManager(settings.models, root, settings.jobs, hub.notify)
        try:
            yield
        finally:
            await run_in_threadpool(state["jobs"].close)
            if own:
                shutil.rmtree(root, ignore_errors=True)

    app = FastAPI(
        title="a2d serve",
        version=_version(),
        summary="Drop a sound, get a synth preset: the API behind the page of `a2d serve`.",
        description=API_DESCRIPTION,
        lifespan=lifespan,
        docs_url=None,  # Swagger UI and ReDoc load from a CDN; /api renders the schema offline
        redoc_url=None,
    )

    def jobs() -> JobManager:
        return state["jobs"]

    @app.exception_handler(A2DError)
    async def a2d_error(request: Request, exc: A2DError) -> JSONResponse:
        status = getattr(exc, "http_status", None) or HTTP_STATUS.get(exc.exit_code, 400)
        return error_response(status, str(exc), exc.exit_code)

    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        code = ExitCode.NOT_FOUND if exc.status_code == 404 else ExitCode.USAGE
        what = f"no such address {request.url.path!r}" if exc.status_code == 404 else exc.detail
        return error_response(exc.status_code, f"{what}; see /api", code)

    @app.exception_handler(RequestValidationError)
    async def bad_request(request: Request, exc: RequestValidationError) -> JSONResponse:
        problems = ", ".join(
            f"{'.'.join(map(str, e['loc'][1:])) or e['loc'][0]}: {e['msg']}" for e in exc.errors()
        )
        return error_response(400, f"bad request ({problems}); see /api", ExitCode.USAGE)

    @app.exception_handler(ApiError)
    async def api_error(request: Request, exc: ApiError) -> JSONResponse:
        return error_response(exc.status, str(exc), exc.code)

    @app.middleware("http")
    async def guard(request: Request, call_next: Any) -> Response:
        host = (request.headers.get("host") or "").rsplit(":", 1)[0].lower()
        if host.startswith("["):
            host = request.headers.get("host", "").split("]")[0] + "]"
        if settings.loopback_only and host not in LOOPBACK_HOSTS:
            return error_response(
                421, f"this server answers only to 127.0.0.1 or localhost, not {host!r}; open "
                "the address `a2d serve` printed", ExitCode.USAGE,
            )  # fmt: skip
        origin = request.headers.get("origin")
        own = request.headers.get("host", "").lower()
        unsafe = request.method not in ("GET", "HEAD", "OPTIONS")
        if unsafe and origin is not None and urlsplit(origin).netloc.lower() != own:
            return error_response(  # a page of another site posting here
                403, f"requests from {origin} are refused; use the page this server serves",
                ExitCode.USAGE,
            )  # fmt: skip
        response = await call_next(request)
        response.headers.setdefault("Content-Security-Policy", CSP)
        response.headers["X-Content-Type-Options"] = "nosniff"
        response.headers["Referrer-Policy"] = "no-referrer"
        return response

    @app.get("/", response_class=HTMLResponse, include_in_schema=False)
    def page() -> HTMLResponse:
        return HTMLResponse(_static("index.html"), headers={"Cache-Control": "no-cache"})

    @app.get("/static/{name}", include_in_schema=False)
    def static(name: str) -> Response:
        if name not in STATIC:
            raise ApiError(404, f"no static file {name!r}", ExitCode.NOT_FOUND)
        return Response(_static(name), media_type=STATIC[name])

    @app.get("/api", response_class=HTMLResponse, summary="This API, as a page")
    def api_page() -> HTMLResponse:
        """The OpenAPI schema (``/openapi.json``) rendered as one offline page."""
        return HTMLResponse(api_html(app.openapi()))

    @app.get("/api/options", summary="Synths, models and limits")
    def options() -> dict[str, Any]:
        """The synths (whether each runs here, how many models it has), the models (shipped
        first; ``refine``: the renders a job of that model spends refining), and the upload
        limits."""
        return {
            "synths": [s.to_dict() for s in available_synths(settings.models)],
            "models": [
                {**m.to_dict(), "refine": refine_budget(settings.jobs, m)} for m in settings.models
            ],
            "limits": {
                "max_upload_mb": settings.max_upload_mb,
                "max_seconds": settings.jobs.max_seconds,
                "max_queued": settings.jobs.max_queued,
            },
            "matching": {
                "candidates": settings.jobs.candidates,
                "refine": settings.jobs.refine,
                "refine_more": settings.jobs.refine_more,
            },
        }

    @app.post(
        "/api/jobs",
        status_code=201,
        summary="Upload a sound and queue a job",
        openapi_extra={
            "requestBody": {
                "required": True,
                "description": "The sound file's bytes (wav, flac, ogg or mp3), as the body.",
                "content": {
                    "application/octet-stream": {"schema": {"type": "string", "format": "binary"}}
                },
            }
        },
        responses={
            413: {"description": "The upload is larger than the server's limit."},
            422: {"description": "The sound cannot be used (the same message as `a2d predict`)."},
            429: {"description": "Too many jobs of this client are waiting."},
        },
    )
    async def upload(
        request: Request,
        name: str = Query(..., description="The file's name (shown on the page; its suffix "
                          "tells the format). Never used as a path.", max_length=255),
        model: str = Query(..., description="A model id from /api/options."),
        client: str = Query("", description="Who queued it, for fair queueing (the page sends "
                            "one id per tab); default: the caller's address.", max_length=64),
    ) -> JSONResponse:  # fmt: skip
        """Stream the body to the new job's folder (refused past the size limit), decode and
        check it as ``a2d predict`` does, then queue it. Example:
        ``curl --data-binary @kick.wav "http://127.0.0.1:8000/api/jobs?name=kick.wav&model=ID"``.
        """
        size = request.headers.get("content-length")
        if size is not None and size.isdigit() and int(size) > limit:
            raise ApiError(413, too_large(settings.max_upload_mb), ExitCode.DATA)
        who = client or (request.client.host if request.client else "anonymous")
        job = jobs().new_job(who, name, model)
        received = 0
        try:
            with open(job.input, "xb") as fh:
                async for chunk in request.stream():
                    received += len(chunk)
                    if received > limit:
                        raise ApiError(413, too_large(settings.max_upload_mb), ExitCode.DATA)
                    fh.write(chunk)
            await run_in_threadpool(jobs().validate, job)
        except BaseException:
            jobs().discard(job)
            raise
        jobs().accept(job)
        return JSONResponse(job.to_dict(), status_code=201)

    @app.get("/api/jobs/{job_id}", summary="A job and its result")
    def job_state(job_id: str) -> dict[str, Any]:
        """State (queued, running, done, failed, cancelled), error line, and when done the result:
        the note to play, the score in words, the shown candidates with their files."""
        return jobs().get(job_id).to_dict()

    @app.delete("/api/jobs/{job_id}", summary="Cancel a job")
    def cancel(job_id: str) -> dict[str, Any]:
        """A queued job stops now, a running one at its next phase; its folder is deleted."""
        return jobs().cancel(job_id).to_dict()

    @app.post("/api/jobs/{job_id}/refine", status_code=201, summary="Refine a result further")
    def refine(job_id: str, client: str = Query("", max_length=64)) -> dict[str, Any]:
        """A new job that starts from this job's shown candidates and spends more renders
        refining them on the synth."""
        return jobs().refine_further(client or "anonymous", job_id).to_dict()

    @app.get(
        "/api/jobs/{job_id}/events",
        summary="A job's progress as server-sent events",
        response_class=StreamingResponse,
        responses={200: {"content": {"text/event-stream": {}}}},
    )
    async def events(request: Request, job_id: str, after: int = Query(-1, ge=-1)) -> Response:
        """Every event of the job from ``after + 1`` (or the ``Last-Event-ID`` header) on, each a
        JSON object with ``type`` (queued, waiting, running, phase, done, failed, cancelled),
        ``state`` and phase details; the stream ends after the last one."""
        job = jobs().get(job_id)
        last = request.headers.get("last-event-id", "")
        start = int(last) + 1 if last.isdigit() else after + 1

        async def stream() -> AsyncIterator[str]:
            sent = start
            yield "retry: 2000\n\n"
            while True:
                while sent < len(job.events):
                    yield f"id: {sent}\ndata: {json.dumps(job.events[sent])}\n\n"
                    sent += 1
                if job.finished and sent >= len(job.events):
                    return
                waiter = hub.waiter(job.id)
                try:
                    await asyncio.wait_for(waiter.wait(), timeout=15)
                except asyncio.TimeoutError:
                    yield ": keep-alive\n\n"

        return StreamingResponse(
            stream(), media_type="text/event-stream", headers={"Cache-Control": "no-cache"}
        )

    @app.get("/api/jobs/{job_id}/files/{name}", summary="A file a job wrote")
    def job_file(job_id: str, name: str) -> Response:
        """Only the names listed in the job's result (preset, MIDI note, renders, spectrograms,
        report); presets and MIDI files download as attachments."""
        if not is_job_id(job_id):
            raise ApiError(404, f"no job {job_id!r} on this server; start a new one", 3)
        path = jobs().file(job_id, name)
        suffix = path.suffix.lower()
        return FileResponse(
            path, media_type=MEDIA_TYPES.get(suffix, "application/octet-stream"),
            filename=path.name, content_disposition_type="inline" if suffix in INLINE else "attachment",
            headers={"Content-Security-Policy": "default-src 'none'; img-src data:; media-src data:; style-src 'unsafe-inline'"},
        )  # fmt: skip

    return app


def too_large(mb: float) -> str:
    return f"the upload is larger than the {mb:g} MB limit; cut the part you want to match"


def _version() -> str:
    from a2d import __version__

    return __version__


def run_server(settings: ServeSettings, host: str, port: int) -> None:
    """Serve until Ctrl-C (uvicorn; one process, the job runner in a thread)."""
    import uvicorn

    config = uvicorn.Config(
        create_app(settings), host=host, port=port, log_level="warning", lifespan="on",
        timeout_graceful_shutdown=5,
    )  # fmt: skip
    uvicorn.Server(config).run()
