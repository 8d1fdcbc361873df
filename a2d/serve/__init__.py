"""``a2d serve``: a local web page where a musician drops a sound and takes a preset home.

The page (``static/``: one HTML file, a stylesheet, a script; nothing from the network) and a small
JSON API (:mod:`a2d.serve.app`, documented at ``/api`` and ``/openapi.json``) run in one
FastAPI app on uvicorn. Jobs (:mod:`a2d.serve.jobs`) run through ``a2d predict``'s own
:class:`~a2d.pipelines.predict.SoundMatcher` and its synth worker pool, one at a time, taken fairly from
the clients that queued them (:mod:`a2d.serve.fairqueue`); progress streams to the page as
server-sent events. :mod:`a2d.serve.media` draws what the page shows of a result,
:mod:`a2d.serve.models` lists the models it offers, :mod:`a2d.serve.apidoc` documents the API.

Safety: loopback only unless asked; every upload is size- and duration-limited, decoded and
validated exactly as ``a2d predict`` validates its inputs, and stored under its job's own
temporary folder by a name the server chooses; only files a job wrote are ever served.
"""

from __future__ import annotations

__all__ = ["ServeSettings", "create_app", "run_server"]


def __getattr__(name: str):
    # Lazy: `a2d --help` must not import FastAPI (an optional extra).
    if name in __all__:
        from a2d.serve import app

        return getattr(app, name)
    raise AttributeError(f"module 'a2d.serve' has no attribute {name!r}")
