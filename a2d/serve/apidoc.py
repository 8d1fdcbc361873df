"""The API's documentation page: the app's OpenAPI schema rendered as one offline HTML page.

FastAPI's own ``/docs`` and ``/redoc`` load their scripts from a CDN, which the page must not
need; the schema itself comes from the routes, so this page cannot drift from them.
"""

from __future__ import annotations

import html
import re
from typing import Any

API_DESCRIPTION = """\
The page of `a2d serve` uses this API; scripts can too. Upload a sound (`POST /api/jobs`, the
file's bytes as the body), follow the job (`GET /api/jobs/{id}/events`, server-sent events), read
its result (`GET /api/jobs/{id}`), and download what it made (`GET /api/jobs/{id}/files/{name}`).
Errors are `{"error": "<problem>; <fix>", "code": N}` with `a2d`'s exit code N: a bad sound gets
the same line as `a2d predict`."""


def api_html(schema: dict[str, Any]) -> str:
    """The OpenAPI ``schema`` as a plain page: each route with its summary, description,
    parameters, body and responses."""

    def e(text: str) -> str:  # escaped, `code` and ``code`` as <code>
        return re.sub(r"`{1,2}([^`]+)`{1,2}", r"<code>\1</code>", html.escape(str(text)))

    info = schema["info"]
    parts = [
        f"<h1>{e(info['title'])} {e(info['version'])}</h1>",
        f"<p>{e(info.get('summary', ''))}</p><p>{e(info.get('description', ''))}</p>",
        '<p>Machine-readable: <a href="/openapi.json">/openapi.json</a>. The page: '
        '<a href="/">/</a>.</p>',
    ]
    for path, ops in schema["paths"].items():
        for method, op in ops.items():
            parts.append(
                f"<section><h2><code>{e(method.upper())} {e(path)}</code></h2>"
                f"<p><b>{e(op.get('summary', ''))}</b></p>"
                f"<p>{e(op.get('description', ''))}</p>"
            )
            params = op.get("parameters", [])
            if params:
                rows = "".join(
                    f"<tr><td><code>{e(p['name'])}</code></td><td>{e(p['in'])}</td>"
                    f"<td>{'yes' if p.get('required') else 'no'}</td>"
                    f"<td>{e(p.get('description') or p.get('schema', {}).get('description', ''))}"
                    "</td></tr>"
                    for p in params
                )
                parts.append(
                    "<table><tr><th>parameter</th><th>in</th><th>required</th>"
                    f"<th>meaning</th></tr>{rows}</table>"
                )
            body = op.get("requestBody")
            if body:
                kinds = ", ".join(body.get("content", {}))
                parts.append(f"<p>Body ({e(kinds)}): {e(body.get('description', ''))}</p>")
            codes = "".join(
                f"<li><code>{e(code)}</code> {e(r.get('description', ''))}</li>"
                for code, r in op.get("responses", {}).items()
            )
            parts.append(f"<ul>{codes}</ul></section>")
    return (
        '<!DOCTYPE html><html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        '<title>a2d serve API</title><link rel="stylesheet" href="/static/app.css"></head>'
        f'<body><main class="doc">{"".join(parts)}</main></body></html>'
    )
