"""``a2d serve`` through its real process: the JSON API over HTTP, and the page in headless Chromium.

One server per module (the real ``a2d serve`` command, a tiny flow checkpoint trained here, one
synth worker process, a 1 MB / 5 s upload limit, its jobs folder in a temporary folder the tests
inspect). The page tests drive the system's Chromium through Playwright (``executable_path``; no
browser is downloaded); without Chromium or Playwright they skip, except in CI, which installs
both and must run them.
"""

from __future__ import annotations

import http.client
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlencode

import numpy as np
import pytest
import soundfile as sf

CLI = [sys.executable, "-c", "from a2d.cli import run; run()"]
ENV = {**os.environ, "OMP_NUM_THREADS": "1", "A2D_NUM_THREADS": "1"}
RATE = 44100
#: The server's limits in these tests.
MAX_MB, MAX_SECONDS = 1, 5
#: Final job states.
FINISHED = ("done", "failed", "cancelled")


def tone(path: Path, seconds: float = 1.5, hz: float = 220.0) -> Path:
    """A decaying sawtooth-ish tone (a real, pitched sound), 16-bit wav."""
    t = np.arange(int(seconds * RATE)) / RATE
    y = sum(np.sin(2 * np.pi * hz * k * t) / k for k in range(1, 6)) * np.exp(-2 * t)
    sf.write(path, (0.25 * y).astype(np.float32), RATE, subtype="PCM_16")
    return path


@dataclass
class Reply:
    status: int
    headers: dict[str, str]
    body: bytes

    def json(self) -> dict:
        return json.loads(self.body)


@dataclass
class Server:
    port: int
    jobs_dir: Path
    model: str
    proc: subprocess.Popen

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def request(
        self, method: str, path: str, body: bytes | None = None, headers: dict | None = None
    ) -> Reply:
        """One request with the path sent exactly as given (no normalising)."""
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=120)
        try:
            conn.request(method, path, body=body, headers=headers or {})
            r = conn.getresponse()
            return Reply(r.status, {k.lower(): v for k, v in r.getheaders()}, r.read())
        finally:
            conn.close()

    def upload(
        self, data: bytes, name: str, client: str = "tests", model: str | None = None
    ) -> Reply:
        query = urlencode({"name": name, "model": model or self.model, "client": client})
        return self.request("POST", f"/api/jobs?{query}", data)

    def events(self, job_id: str) -> list[dict]:
        """The job's server-sent events until its final one (the stream ends there)."""
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=300)
        try:
            conn.request("GET", f"/api/jobs/{job_id}/events")
            r = conn.getresponse()
            assert r.status == 200 and r.getheader("content-type").startswith("text/event-stream")
            out = []
            for raw in r:
                line = raw.decode().rstrip("\n")
                if line.startswith("data: "):
                    out.append(json.loads(line[6:]))
            return out
        finally:
            conn.close()

    def job(self, job_id: str) -> dict:
        reply = self.request("GET", f"/api/jobs/{job_id}")
        assert reply.status == 200, reply.body
        return reply.json()

    def job_folders(self) -> set[str]:
        return {p.name for p in self.jobs_dir.iterdir()}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def server(tiny_flow_checkpoint, tmp_path_factory) -> Iterator[Server]:
    jobs_dir = tmp_path_factory.mktemp("serve") / "jobs"
    port = free_port()
    log = open(jobs_dir.parent / "server.log", "w+")  # noqa: SIM115  # closed below
    argv = [*CLI, "serve", "-c", str(tiny_flow_checkpoint), "--port", str(port),
            "--workers", "1", "-k", "4", "--refine", "8", "--refine-more", "8",
            "--max-upload-mb", str(MAX_MB), "--max-seconds", str(MAX_SECONDS),
            "--jobs-dir", str(jobs_dir)]  # fmt: skip
    proc = subprocess.Popen(argv, stdout=log, stderr=subprocess.STDOUT, env=ENV)
    try:
        deadline = time.monotonic() + 120
        while True:
            try:
                conn = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
                conn.request("GET", "/api/options")
                options = json.loads(conn.getresponse().read())
                conn.close()
                break
            except OSError:
                if proc.poll() is not None or time.monotonic() > deadline:
                    log.seek(0)
                    pytest.fail(f"a2d serve did not start:\n{log.read()}")
                time.sleep(0.3)
        # The tiny model (shipped models, when the package has them, come first).
        (ours,) = [m for m in options["models"] if m["path"] == str(tiny_flow_checkpoint)]
        yield Server(port, jobs_dir, ours["id"], proc)
    finally:
        proc.send_signal(signal.SIGINT)
        try:
            proc.wait(timeout=60)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        log.seek(0)
        text = log.read()
        log.close()
        assert "Traceback" not in text, text


@pytest.fixture(scope="module")
def sounds(tmp_path_factory) -> Path:
    """Good and bad input files, named as a user's would be."""
    d = tmp_path_factory.mktemp("sounds")
    tone(d / "tone.wav")
    tone(d / "low.wav", hz=110.0)
    (d / "not_audio.wav").write_bytes(b"RIFF but not really a wave file" * 10)
    (d / "empty.wav").write_bytes(b"")
    sf.write(d / "silent.wav", np.zeros(RATE, np.float32), RATE)
    sf.write(d / "short.wav", 0.3 * np.sin(np.arange(RATE // 10) / 5).astype(np.float32), RATE)
    (d / "notes.txt").write_text("a text file, not a sound")
    tone(d / "long.wav", seconds=MAX_SECONDS + 1)
    return d


@pytest.fixture(scope="module")
def finished(server, sounds) -> dict:
    """One job run to the end through the API: its events and its final state."""
    reply = server.upload((sounds / "tone.wav").read_bytes(), "tone.wav")
    assert reply.status == 201, reply.body
    job_id = reply.json()["id"]
    events = server.events(job_id)
    return {"id": job_id, "events": events, "job": server.job(job_id)}


# -- the API --------------------------------------------------------------------------------------


def test_options_offer_the_checkpoint_for_its_synth(server, tiny_flow_checkpoint):
    opts = server.request("GET", "/api/options").json()
    (model,) = [m for m in opts["models"] if m["id"] == server.model]
    assert model["synth"] == "vital" and model["spec"] == "vital_simple"
    assert model["path"] == str(tiny_flow_checkpoint) and model["steps"] == 6
    assert model["refine"] == 8  # the server's --refine; without it, the synth's default
    vital = next(s for s in opts["synths"] if s["name"] == "vital")
    assert vital["available"] and vital["models"] == sum(
        m["synth"] == "vital" for m in opts["models"]
    )
    assert opts["synths"][0]["name"] == "vital"  # synths with models first
    assert opts["limits"] == {"max_upload_mb": MAX_MB, "max_seconds": MAX_SECONDS, "max_queued": 8}


def test_a_job_streams_every_phase_then_its_result(finished):
    events, job = finished["events"], finished["job"]
    assert job["state"] == "done", job["error"]
    assert events[0]["type"] == "queued" and events[-1]["type"] == "done"
    phases = [e["phase"] for e in events if e["type"] == "phase"]
    expected = ["load", "analyse", "features", "sample", "render", "score", "refine", "write"]
    assert [p for p in phases if p in expected] == expected
    assert phases[-1] == "media"
    steps = [e["step"] for e in events if e["type"] == "phase"]
    assert steps == sorted(steps) and steps[-1] == events[-2]["steps"]
    r = job["result"]
    assert r["note"]["play"].startswith("play ") and r["score"]["in_words"]
    assert [c["rank"] for c in r["candidates"]] == [1, 2, 3]
    assert r["candidates"][0]["preset"] == r["preset"] == "tone.vital"
    assert r["candidates"][0]["mss_db"] == pytest.approx(r["score"]["mss_db"])
    assert r["axes"]["freq_hz"][0][1] == "100" and r["axes"]["time_s"][0] == [0.0, "0"]


def test_a_jobs_files_are_what_predict_wrote(server, finished, tiny_flow_checkpoint):
    job_id, r = finished["id"], finished["job"]["result"]
    folder = server.jobs_dir / job_id / "out" / "tone"
    params = json.loads(server.request("GET", f"/api/jobs/{job_id}/files/{r['params']}").body)
    assert params == json.loads((folder / "tone.params.json").read_text())
    assert params["checkpoint"] == str(tiny_flow_checkpoint)
    assert params["candidates"][0]["mss_db"] == pytest.approx(r["score"]["mss_db"])
    preset = server.request("GET", f"/api/jobs/{job_id}/files/tone.vital")
    assert preset.status == 200 and preset.body == (folder / "tone.vital").read_bytes()
    assert preset.headers["content-disposition"] == 'attachment; filename="tone.vital"'
    midi = server.request("GET", f"/api/jobs/{job_id}/files/tone.mid")
    assert midi.body[:4] == b"MThd" and "attachment" in midi.headers["content-disposition"]
    png = server.request("GET", f"/api/jobs/{job_id}/files/{r['candidates'][1]['spectrogram']}")
    assert png.headers["content-type"] == "image/png" and png.body[:4] == b"\x89PNG"
    wav = server.request("GET", f"/api/jobs/{job_id}/files/{r['input']['audio']}")
    audio, rate = sf.read(__import__("io").BytesIO(wav.body), always_2d=True)
    assert rate == 44100 and audio.shape == (44100, 2)  # the model's clip: 1 s stereo


def test_bad_sounds_get_the_same_line_as_the_cli(server, sounds, tiny_flow_checkpoint, tmp_path):
    bad = ["not_audio.wav", "empty.wav", "silent.wav", "short.wav", "notes.txt"]
    before = server.job_folders()
    api = {}
    for name in bad:
        reply = server.upload((sounds / name).read_bytes(), name)
        assert reply.status == 422, (name, reply.body)
        assert reply.json()["code"] == 4
        api[name] = reply.json()["error"]
    assert server.job_folders() == before  # nothing kept of a refused upload
    for name in bad:
        shutil.copy(sounds / name, tmp_path / name)
    proc = subprocess.run(
        [*CLI, "predict", *bad, "-c", str(tiny_flow_checkpoint), "-o", "out", "--refine", "0"],
        cwd=tmp_path, capture_output=True, text=True, env=ENV, timeout=300,
    )  # fmt: skip
    assert proc.returncode == 4, proc.stderr
    cli = [ln.removeprefix("  failed: ") for ln in proc.stderr.splitlines() if "failed:" in ln]
    assert cli == [api[name] for name in bad]
    assert all(line.startswith(f"{name}: ") for name, line in zip(bad, cli, strict=True))


def test_a_too_long_sound_is_refused_with_the_limit(server, sounds):
    reply = server.upload((sounds / "long.wav").read_bytes(), "long.wav")
    assert reply.status == 422
    assert reply.json()["error"] == (
        f"long.wav: {MAX_SECONDS + 1} s is longer than the {MAX_SECONDS} s limit; cut the part "
        "you want to match (only the first seconds are used)"
    )


def test_a_too_large_upload_is_refused_before_it_is_stored(server):
    before = server.job_folders()
    big = b"\0" * (MAX_MB * 1024 * 1024 + 1)
    reply = server.upload(big, "big.wav")  # announced by Content-Length
    assert reply.status == 413
    assert reply.json()["error"] == (
        f"the upload is larger than the {MAX_MB} MB limit; cut the part you want to match"
    )

    def chunks() -> Iterator[bytes]:  # no Content-Length: refused while it streams
        for _ in range(MAX_MB * 4):
            yield b"\0" * (256 * 1024 + 1)

    conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=60)
    query = urlencode({"name": "big.wav", "model": server.model})
    conn.request("POST", f"/api/jobs?{query}", body=chunks(), encode_chunked=True)
    r = conn.getresponse()
    assert r.status == 413 and "MB limit" in json.loads(r.read())["error"]
    conn.close()
    assert server.job_folders() == before


@pytest.mark.parametrize(
    "path",
    [
        "/api/jobs/{id}/files/..%2F..%2F..%2F..%2Fetc%2Fpasswd",
        "/api/jobs/{id}/files/%2e%2e",
        "/api/jobs/{id}/files/../../../../etc/passwd",
        "/api/jobs/{id}/files/..\\..\\server.log",
        "/api/jobs/{id}/files/input.wav",  # the upload itself is not a result
        "/api/jobs/{id}/files/out",
        "/api/jobs/{id}/files/%2Fetc%2Fpasswd",
        "/api/jobs/..%2F..%2F..%2Fetc/files/passwd",
        "/api/jobs/../../etc/passwd",
        "/static/..%2F__init__.py",
        "/static/../app.py",
        "/static/index.html",
    ],
)
def test_no_file_is_served_outside_a_jobs_results(server, finished, path):
    reply = server.request("GET", path.format(id=finished["id"]))
    assert reply.status == 404, (path, reply.status, reply.body[:200])
    assert b"root:" not in reply.body and b"import" not in reply.body
    assert reply.json()["code"] == 3 and reply.json()["error"]


def test_a_client_file_name_never_becomes_a_path(server, sounds):
    outside = server.jobs_dir.parent / "escaped.wav"
    names = ["../../escaped.wav", "/etc/cron.d/x.wav", "..\\..\\escaped.wav", "a/../../b.wav"]
    for name in names:
        reply = server.upload((sounds / "tone.wav").read_bytes(), name, client="names")
        assert reply.status == 201, reply.body
        job = reply.json()
        assert "/" not in job["name"] and "\\" not in job["name"] and job["name"][0] != "."
        assert (server.jobs_dir / job["id"] / "input.wav").is_file()
        server.request("DELETE", f"/api/jobs/{job['id']}")
    assert not outside.exists() and not Path("/etc/cron.d/x.wav").exists()


def test_two_concurrent_jobs_from_two_tabs_both_finish(server, sounds):
    replies: dict[str, Reply] = {}

    def post(client: str, name: str) -> None:
        replies[client] = server.upload((sounds / name).read_bytes(), name, client=client)

    threads = [threading.Thread(target=post, args=a) for a in (("tab-a", "tone.wav"),
                                                                ("tab-b", "low.wav"))]  # fmt: skip
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    ids = {c: r.json()["id"] for c, r in replies.items()}
    events = {c: server.events(i) for c, i in ids.items()}
    jobs = {c: server.job(i) for c, i in ids.items()}
    assert all(j["state"] == "done" for j in jobs.values()), jobs
    assert jobs["tab-a"]["result"]["preset"] == "tone.vital"
    assert jobs["tab-b"]["result"]["preset"] == "low.vital"
    plans = {c: j["result"]["pitch_plan"] for c, j in jobs.items()}
    assert plans["tab-a"].startswith("detected A3 (MIDI 57)")  # each job heard its own sound
    assert plans["tab-b"].startswith("detected A2 (MIDI 45)"), plans
    # One ran while the other waited: the waiting one was told so.
    runs = sorted(ids, key=lambda c: next(e["time"] for e in events[c] if e["type"] == "running"))
    assert any(e["type"] == "waiting" and e["ahead"] >= 1 for e in events[runs[1]])


def test_cancelling_queued_and_running_jobs_removes_their_folders(server, sounds):
    data = (sounds / "tone.wav").read_bytes()
    first = server.upload(data, "first.wav", client="cancel").json()
    second = server.upload(data, "second.wav", client="cancel").json()
    assert (server.jobs_dir / second["id"]).is_dir()
    server.request("DELETE", f"/api/jobs/{second['id']}")  # still queued behind the first
    assert server.job(second["id"])["state"] == "cancelled"
    assert not (server.jobs_dir / second["id"]).exists()
    while server.job(first["id"])["state"] == "queued":
        time.sleep(0.05)
    server.request("DELETE", f"/api/jobs/{first['id']}")  # running: stops at its next phase
    events = server.events(first["id"])
    assert events[-1]["type"] == "cancelled"
    assert not (server.jobs_dir / first["id"]).exists()
    assert server.events(second["id"])[-1]["type"] == "cancelled"


def children(pid: int) -> set[int]:
    """Child processes started by any thread of ``pid`` (the job runner is not the main one)."""
    return {
        int(c) for task in Path(f"/proc/{pid}/task").iterdir()
        for c in (task / "children").read_text().split()
    }  # fmt: skip


def test_a_job_whose_synth_worker_dies_fails_cleanly_and_the_next_one_runs(server, sounds, procs):
    """A real fault: the synth worker process is killed while the job renders. The job fails
    with predict's one line, its folder goes, and the next job gets a fresh pool."""
    reply = server.upload((sounds / "tone.wav").read_bytes(), "doomed.wav", client="fault")
    job_id = reply.json()["id"]
    conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=300)
    conn.request("GET", f"/api/jobs/{job_id}/events")
    stream = conn.getresponse()
    events, killed = [], []
    for raw in stream:
        line = raw.decode()
        if not line.startswith("data: "):
            continue
        events.append(json.loads(line[6:]))
        if events[-1].get("phase") == "render" and not killed:
            for pid in children(server.proc.pid):  # the pool's, not its resource tracker
                if b"spawn_main" in Path(f"/proc/{pid}/cmdline").read_bytes():
                    os.kill(pid, signal.SIGKILL)
                    killed.append(pid)
    conn.close()
    assert killed, "no synth worker process to kill"
    assert events[-1]["type"] == "failed", events[-1]
    assert events[-1]["error"].startswith("a synth worker process died")
    assert "--workers 0" in events[-1]["error"]  # predict's own line, fix included
    assert server.job(job_id)["code"] == 4
    assert not (server.jobs_dir / job_id).exists()
    again = server.upload((sounds / "tone.wav").read_bytes(), "again.wav", client="fault")
    assert server.events(again.json()["id"])[-1]["type"] == "done"


def test_a_reconnecting_stream_resumes_after_the_last_event_it_saw(server, finished):
    n = len(finished["events"])
    reply = server.request(
        "GET", f"/api/jobs/{finished['id']}/events", headers={"Last-Event-ID": str(n - 3)}
    )
    ids = [int(ln[4:]) for ln in reply.body.decode().splitlines() if ln.startswith("id: ")]
    assert ids == [n - 2, n - 1]


def test_one_client_cannot_queue_without_limit(server, sounds):
    data, ids, refused = (sounds / "tone.wav").read_bytes(), [], None
    for i in range(12):
        reply = server.upload(data, f"t{i}.wav", client="greedy")
        if reply.status != 201:
            refused = (i, reply)
            break
        ids.append(reply.json()["id"])
    for job_id in ids:
        server.request("DELETE", f"/api/jobs/{job_id}")
    assert refused is not None and refused[0] in (8, 9)  # 8 waiting (+ 1 running)
    assert refused[1].status == 429
    assert refused[1].json()["error"] == (
        "8 jobs of this page are already waiting; wait for them to finish or cancel some"
    )
    assert all(server.events(i)[-1]["type"] == "cancelled" for i in ids)
    assert not any((server.jobs_dir / i).exists() for i in ids)


def test_refine_further_starts_from_the_shown_candidates(server, finished):
    reply = server.request("POST", f"/api/jobs/{finished['id']}/refine?client=refine")
    assert reply.status == 201, reply.body
    job = reply.json()
    assert job["refined_from"] == finished["id"] and job["refine"] == 8
    events = server.events(job["id"])
    phases = [e["phase"] for e in events if e["type"] == "phase"]
    assert "sample" not in phases and "refine" in phases  # no model sampling: its candidates
    result = server.job(job["id"])["result"]
    assert result["score"]["mss_db"] <= finished["job"]["result"]["score"]["mss_db"] + 1e-6


def test_foreign_hosts_and_origins_are_refused(server, sounds):
    reply = server.request("GET", "/api/options", headers={"Host": "attacker.example:8000"})
    assert reply.status == 421 and "127.0.0.1 or localhost" in reply.json()["error"]
    reply = server.request(
        "POST", f"/api/jobs?name=x.wav&model={server.model}", (sounds / "tone.wav").read_bytes(),
        headers={"Origin": "http://attacker.example"},
    )  # fmt: skip
    assert reply.status == 403
    page = server.request("GET", "/")
    assert "script-src 'self'" in page.headers["content-security-policy"]
    assert page.headers["x-content-type-options"] == "nosniff"


def test_unknown_jobs_and_models_are_one_line_errors(server, sounds):
    reply = server.request("GET", "/api/jobs/" + "0" * 32)
    assert reply.status == 404 and reply.json()["error"].startswith("no job ")
    reply = server.upload((sounds / "tone.wav").read_bytes(), "t.wav", model="nope")
    assert reply.status == 400 and reply.json()["error"].startswith("unknown model 'nope'")
    reply = server.request("POST", "/api/jobs?name=x.wav")
    assert reply.status == 400 and "model" in reply.json()["error"]


def test_the_api_page_documents_every_route(server):
    schema = server.request("GET", "/openapi.json").json()
    page = server.request("GET", "/api").body.decode()
    for path, ops in schema["paths"].items():
        for method in ops:
            assert f"{method.upper()} {path}" in page
    assert {"/api/jobs", "/api/jobs/{job_id}/events", "/api/jobs/{job_id}/files/{name}"} <= set(
        schema["paths"]
    )
    assert "application/octet-stream" in json.dumps(schema["paths"]["/api/jobs"]["post"])


def test_the_command_refuses_other_interfaces_without_the_flag(tiny_flow_checkpoint, tmp_path):
    run = [*CLI, "serve", "-c", str(tiny_flow_checkpoint), "--host", "0.0.0.0"]
    proc = subprocess.run(run, capture_output=True, text=True, env=ENV, timeout=120)
    assert proc.returncode == 2
    assert proc.stderr.splitlines() == [
        "error: --host 0.0.0.0 is reachable from other machines and the page has no login; "
        "add --allow-remote to do it anyway, or keep the default 127.0.0.1"
    ]
    proc = subprocess.run(
        [*CLI, "serve", "-c", str(tmp_path / "nope.pt")], capture_output=True, text=True, env=ENV
    )
    assert proc.returncode == 3 and len(proc.stderr.splitlines()) == 1, proc.stderr
    assert "nope.pt' does not exist" in proc.stderr
    with socket.socket() as busy:  # another program holds the port
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        run = [*CLI, "serve", "-c", str(tiny_flow_checkpoint), "--port", str(port)]
        proc = subprocess.run(run, capture_output=True, text=True, env=ENV, timeout=120)
    assert proc.returncode == 2
    assert proc.stderr.splitlines() == [
        f"error: cannot listen on 127.0.0.1 port {port} (Address already in use); choose "
        "another --port, or stop the program using it"
    ]


def test_without_refine_a_job_spends_its_models_synth_default():
    """`a2d serve` without --refine gives each model its synth's budget, as `a2d predict` does;
    with --refine, every model gets that."""
    from a2d.contracts.plugins import get_synth
    from a2d.serve.jobs import JobSettings, refine_budget
    from a2d.serve.models import ModelChoice

    def model(synth: str) -> ModelChoice:
        return ModelChoice(synth, synth, Path(f"{synth}.pt"), synth, f"{synth}_x", "flow", None, 8)

    for synth in ("vital", "dexed"):
        assert refine_budget(JobSettings(), model(synth)) == get_synth(synth).refine_renders
        assert refine_budget(JobSettings(refine=5), model(synth)) == 5
    default = JobSettings()
    assert refine_budget(default, model("dexed")) > refine_budget(default, model("vital"))
    assert refine_budget(default, model("not_installed")) == 64  # the contract's default


def test_the_fair_queue_takes_clients_in_turn():
    from a2d.serve.fairqueue import FairQueue

    @dataclass(eq=False)
    class J:
        client: str
        n: int

    q = FairQueue()
    jobs = [J("a", 1), J("a", 2), J("a", 3), J("b", 1), J("c", 1), J("b", 2)]
    for j in jobs:
        q.put(j)  # type: ignore[arg-type]
    order = [(j.client, j.n) for j in q.order()]
    assert order == [("a", 1), ("b", 1), ("c", 1), ("a", 2), ("b", 2), ("a", 3)]
    assert q.remove(jobs[1]) and not q.remove(jobs[1])  # type: ignore[arg-type]
    popped = []
    while (j := q.pop()) is not None:
        popped.append((j.client, j.n))
    assert popped == [("a", 1), ("b", 1), ("c", 1), ("a", 3), ("b", 2)]


# -- the page, in headless Chromium ---------------------------------------------------------------


@pytest.fixture(scope="module")
def browser() -> Iterator:
    """The system's Chromium driven by Playwright (never a downloaded browser)."""
    exe = shutil.which("chromium") or shutil.which("chromium-browser")
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        exe = None
    if exe is None:
        if os.environ.get("CI"):
            pytest.fail("CI must run the page tests: install chromium and a2d[serve]")
        pytest.skip("needs playwright (pip install 'a2d[serve]') and the chromium package")
    from playwright.sync_api import expect

    expect.set_options(timeout=240_000)  # jobs render on a shared CPU
    with sync_playwright() as p:
        args = ["--renderer-process-limit=2", "--autoplay-policy=no-user-gesture-required"]
        b = p.chromium.launch(executable_path=exe, args=args)
        try:
            yield b
        finally:
            b.close()


@pytest.fixture
def page(browser, server) -> Iterator:
    """A fresh tab (its own session) on the server; fails the test if anything it loads comes
    from elsewhere or the page logs an error."""
    ctx = browser.new_context(viewport={"width": 1200, "height": 900}, accept_downloads=True)
    tab = ctx.new_page()
    tab.set_default_timeout(240_000)
    tab.requested, tab.errors = [], []
    tab.on("request", lambda r: tab.requested.append(r.url))
    tab.on("pageerror", lambda e: tab.errors.append(str(e)))
    tab.on("console", lambda m: m.type == "error" and tab.errors.append(m.text))
    tab.goto(server.url + "/")
    tab.get_by_label("Model").select_option(server.model)  # the tiny one, not a shipped one
    yield tab
    ctx.close()
    assert all(u.startswith(server.url + "/") for u in tab.requested), tab.requested
    expected_4xx = [e for e in tab.errors if "status of 4" in e]  # refused uploads, by design
    assert [e for e in tab.errors if e not in expected_4xx] == []


def watch_status(page) -> None:
    page.evaluate(
        """() => { window.seen = [];
        new MutationObserver(() => document.querySelectorAll('.job .state').forEach(
            (p) => window.seen.includes(p.textContent) || window.seen.push(p.textContent)))
          .observe(document.body, {subtree: true, childList: true, characterData: true}); }"""
    )


def test_page_upload_progress_play_download_and_reload(page, server, sounds, tmp_path):
    from playwright.sync_api import expect

    from a2d.kernels.metrics import mss
    from a2d_vital.playback import render_preset

    expect(page.get_by_label("Synth")).to_have_value("vital")
    page.get_by_label("Model").select_option(server.model)
    expect(page.locator("#limits")).to_contain_text("then 8 renders refining the best")
    page.get_by_label("Drop sounds here, or choose files").set_input_files(sounds / "tone.wav")
    watch_status(page)
    page.get_by_role("button", name="Find the preset").click()
    card = page.locator("article.job").first
    expect(card).to_have_attribute("data-state", "done")
    seen = page.evaluate("window.seen")
    assert any(s.startswith("Step ") and "rendering 4 candidates" in s for s in seen), seen
    assert any("refining" in s for s in seen) and seen[-1].startswith("Done in ")
    job_id = card.get_attribute("data-job")
    assert f"job={job_id}" in page.url
    result = server.job(job_id)["result"]
    play = result["note"]["play"]
    expect(card.locator(".play")).to_have_text(f"{play[0].upper()}{play[1:]}.")
    expect(card.locator(".score")).to_contain_text(result["score"]["in_words"])
    expect(card.locator("section.candidate")).to_have_count(3)

    # Play match #2 in the page's player.
    player = card.locator("section.candidate[data-rank='2'] audio")
    player.evaluate("a => a.play()")
    page.wait_for_function("a => a.currentTime > 0.05 && !a.error", arg=player.element_handle())

    # Download its preset; it loads in Vital's engine and plays the render the page played.
    with page.expect_download() as info:
        card.get_by_role("link", name="Download match #2's preset").click()
    download = info.value
    assert download.suggested_filename == "tone-cand2.vital"
    text = Path(download.path()).read_text()
    src = player.get_attribute("src")
    played, rate = sf.read(__import__("io").BytesIO(page.request.get(server.url + src).body()))
    note = result["candidates"][1]["note"]  # match #2 plays its own note length
    assert note["pitch"] == result["note"]["pitch"]
    says = card.locator("section.candidate[data-rank='2'] .note")  # and the card says which
    expect(says).to_have_text(f"{note['play'][0].upper()}{note['play'][1:]}.")
    loaded = render_preset(
        text, note["pitch"], note["velocity"], note["end_s"] - note["start_s"], 1.0, rate
    )
    assert float(mss(loaded[None], played.T[None].astype(np.float32), rate)[0]) < 1e-3
    with page.expect_download() as info:
        card.get_by_role("link", name="Download the preset (tone.vital)").click()
    assert info.value.suggested_filename == "tone.vital"
    with page.expect_download() as info:
        card.get_by_role("link", name="the MIDI note (tone.mid)").click()
    assert Path(info.value.path()).read_bytes()[:4] == b"MThd"

    # A reload shows the same result (the job id is in the URL).
    page.reload()
    card = page.locator(f"article.job[data-job='{job_id}']")
    expect(card).to_have_attribute("data-state", "done")
    expect(card.locator("section.candidate")).to_have_count(3)
    page.screenshot(path=tmp_path / "page.png", full_page=True)


def test_page_at_phone_width_is_usable_by_keyboard(browser, server, finished):
    ctx = browser.new_context(viewport={"width": 390, "height": 844})
    page = ctx.new_page()
    try:
        page.goto(f"{server.url}/?job={finished['id']}")
        page.locator("article.job[data-state='done']").wait_for(timeout=60_000)
        width = page.evaluate("document.documentElement.scrollWidth")
        assert width <= 390, f"the page scrolls sideways at phone width ({width} px)"
        unlabeled = page.evaluate(
            """() => [...document.querySelectorAll('input, select')]
                 .filter((e) => !e.labels || !e.labels.length).map((e) => e.id)"""
        )
        assert unlabeled == []
        assert page.evaluate("[...document.images].every((i) => i.alt.length > 20)")
        assert page.evaluate(
            "[...document.querySelectorAll('audio')].every((a) => a.getAttribute('aria-label'))"
        )
        order = []
        for _ in range(6):
            page.keyboard.press("Tab")
            order.append(page.evaluate("document.activeElement.id || document.activeElement.text"))
        assert order == ["Skip to the results", "API", "files", "synth", "model", "go"], order
    finally:
        ctx.close()


def test_page_shows_the_cli_line_for_a_bad_file(page, sounds):
    from playwright.sync_api import expect

    page.get_by_label("Drop sounds here, or choose files").set_input_files(sounds / "not_audio.wav")
    page.get_by_role("button", name="Find the preset").click()
    alert = page.locator("article.job").first.get_by_role("alert")
    expect(alert).to_contain_text("not_audio.wav: cannot decode (")
    expect(alert).to_contain_text("the file is corrupt or not audio")


def test_page_refuses_a_too_large_upload(page, tmp_path):
    from playwright.sync_api import expect

    big = tmp_path / "huge.wav"
    sf.write(big, np.random.default_rng(0).uniform(-0.5, 0.5, (RATE * 4, 2)), RATE, "FLOAT")
    assert big.stat().st_size > MAX_MB * 1024 * 1024
    page.get_by_label("Drop sounds here, or choose files").set_input_files(big)
    page.get_by_role("button", name="Find the preset").click()
    expect(page.locator("article.job").first.get_by_role("alert")).to_have_text(
        f"the upload is larger than the {MAX_MB} MB limit; cut the part you want to match"
    )


def test_page_runs_two_sounds_at_once(page, server, sounds):
    from playwright.sync_api import expect

    page.get_by_label("Drop sounds here, or choose files").set_input_files(
        [sounds / "tone.wav", sounds / "low.wav"]
    )
    page.get_by_role("button", name="Find the preset").click()
    cards = page.locator("article.job")
    expect(cards).to_have_count(2)
    for i in range(2):
        expect(cards.nth(i)).to_have_attribute("data-state", "done")
    presets = {
        cards.nth(i).get_by_role("link", name="Download the preset").first.get_attribute("download")
        for i in range(2)
    }
    assert presets == {"tone.vital", "low.vital"}
    assert page.url.count("job=") == 2


def test_page_takes_a_dropped_file_and_cancels_it(page, server, sounds):
    import base64

    from playwright.sync_api import expect

    data = base64.b64encode((sounds / "tone.wav").read_bytes()).decode()
    transfer = page.evaluate_handle(
        """(b64) => { const dt = new DataTransfer();
            const bytes = Uint8Array.from(atob(b64), (c) => c.charCodeAt(0));
            dt.items.add(new File([bytes], "dropped.wav", {type: "audio/wav"})); return dt; }""",
        data,
    )
    page.dispatch_event("#drop", "drop", {"dataTransfer": transfer})
    card = page.locator("article.job").first
    expect(card.get_by_role("heading")).to_contain_text("dropped.wav")
    expect(card).to_have_attribute("data-job", re.compile("^[0-9a-f]{32}$"))
    job_id = card.get_attribute("data-job")
    card.get_by_role("button", name="Cancel").click()
    expect(card).to_have_attribute("data-state", "cancelled")
    expect(card.get_by_role("status")).to_have_text("Cancelled")
    assert server.job(job_id)["state"] == "cancelled"
    assert not (server.jobs_dir / job_id).exists()
