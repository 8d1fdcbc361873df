"""``a2d predict`` end to end with a real (tiny) checkpoint, the real Vital synth and real files."""

from __future__ import annotations

import json
import re
import struct
import subprocess
import zlib

import numpy as np
import pytest
import soundfile as sf

from a2d.contracts.errors import CheckpointError, ConfigError, ExitCode
from a2d.kernels.audio import load_sound, match_loudness
from a2d.kernels.loudness import integrated_loudness
from a2d.kernels.metrics import mss
from a2d.pipelines.demo import write_demo
from a2d.pipelines.html import bar_chart_png, png_bytes, spectrogram_png
from a2d.pipelines.predict import predict


def decode_png(data: bytes) -> np.ndarray:
    """Minimal reader for what :func:`png_bytes` writes (8-bit RGB, filter 0)."""
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    pos, chunks = 8, {}
    while pos < len(data):
        (n,) = struct.unpack(">I", data[pos : pos + 4])
        kind, body = data[pos + 4 : pos + 8], data[pos + 8 : pos + 8 + n]
        assert struct.unpack(">I", data[pos + 8 + n : pos + 12 + n])[0] == zlib.crc32(kind + body)
        chunks[kind] = body
        pos += 12 + n
    w, h = struct.unpack(">II", chunks[b"IHDR"][:8])
    raw = np.frombuffer(zlib.decompress(chunks[b"IDAT"]), np.uint8).reshape(h, 1 + 3 * w)
    assert np.all(raw[:, 0] == 0)
    return raw[:, 1:].reshape(h, w, 3)


def test_png_writer_round_trips_and_draws_spectrograms_low_frequencies_at_the_bottom():
    img = np.random.default_rng(0).integers(0, 256, (5, 7, 3), dtype=np.uint8)
    np.testing.assert_array_equal(decode_png(png_bytes(img)), img)
    mel = np.full((4, 3), -80.0)
    mel[0] = 0.0  # loudest in the lowest band
    pix = decode_png(spectrogram_png(mel, size=8))
    assert pix.shape == (8, 6, 3)
    assert pix[-1].sum() > pix[0].sum()  # bright (yellow) bottom row, dark (purple) top
    bars = decode_png(bar_chart_png([1.0, 0.5]))
    row = lambda i: bars[6 + i * 28 + 10]  # noqa: E731 - middle of bar i
    assert (row(0) != 255).any(axis=-1).sum() > (row(1) != 255).any(axis=-1).sum()


@pytest.fixture(scope="module")
def demo_wav(tmp_path_factory):
    return write_demo(tmp_path_factory.mktemp("in") / "pluck.wav", 44100, 1.5)


@pytest.fixture(scope="module")
def flow_result(tiny_flow_checkpoint, demo_wav, tmp_path_factory):
    out = tmp_path_factory.mktemp("pred")
    return predict([demo_wav], tiny_flow_checkpoint, out, candidates=3, seed=1), out


def test_predict_writes_preset_params_render_and_report(flow_result, tiny_flow_checkpoint):
    from a2d.storage.checkpoint import load_checkpoint
    from a2d_vital.backend import load_vital_preset

    summary, out = flow_result
    assert summary.exit_code == ExitCode.OK and not summary.failures
    (res,) = summary.results
    assert res.out_dir == out / "pluck" and res.preset == out / "pluck" / "pluck.vital"
    assert load_vital_preset(res.preset) is not None  # Vital loads what we wrote

    spec = load_checkpoint(tiny_flow_checkpoint).spec
    doc = json.loads(res.params_json.read_text())
    assert set(doc["params"]) == {*spec.param_names, "note"}
    assert all("text" in doc["params"][name] for name in spec.param_names)
    assert [c["rank"] for c in doc["candidates"]] == [1, 2, 3]
    scores = [c["mss_db"] for c in doc["candidates"]]
    assert scores == sorted(scores) and doc["score"]["mss_db"] == scores[0]
    assert set(doc["timings_s"]) == {
        "load", "analyse", "features", "sample", "render", "score", "write",
    }  # fmt: skip

    audio, rate = sf.read(str(res.audio), always_2d=True)
    assert rate == 44100 and audio.shape == (44100, 2)
    # The kept score is the MSS of the written render, loudness-matched to the prepared input.
    sound = load_sound(res.sound, load_checkpoint(tiny_flow_checkpoint).render_settings)
    matched = match_loudness(
        audio.T[None].astype(np.float32), float(integrated_loudness(sound.audio, rate)), rate
    )
    assert mss(matched, sound.audio, rate)[0] == pytest.approx(scores[0], rel=1e-4)

    html = res.report.read_text()
    pngs = re.findall(r'src="data:image/png;base64,', html)
    assert len(re.findall(r'<img class="spec"', html)) == 4  # input + the 3 best candidates
    assert len(re.findall(r'<img class="diff"', html)) == 1  # best match minus input
    assert len(pngs) == 4 + 1 + 3  # and a colour bar per row of spectrograms and for the diff
    assert html.count("<audio controls") == 4
    assert not re.search(r'(src|href)="https?:', html)  # readable offline


def test_predict_tells_a_producer_what_to_load_and_play(flow_result):
    from a2d.pipelines.calibration import describe
    from a2d_vital.backend import control_ranges
    from a2d_vital.playback import render_preset
    from a2d_vital.preset import PRESET_VERSION, compatibility_problems, read_preset

    (res,) = flow_result[0].results
    doc = json.loads(res.params_json.read_text())
    note = doc["params"]["note"]
    assert res.midi == res.out_dir / "pluck.mid" and note["midi_file"] == "pluck.mid"
    assert note["play"].startswith(f"play {note['name']} (MIDI note {note['pitch']}) for ")
    assert doc["midi"] == "pluck.mid" and doc["render"] == "pluck.wav"
    # The MIDI file plays exactly the note params.json names.
    from test_midi import read_smf

    (event,) = read_smf(res.midi.read_bytes())["notes"]
    assert (event["pitch"], event["velocity"]) == (note["pitch"], note["velocity"])
    assert event["end_s"] == pytest.approx(note["end_s"], abs=1e-3)

    # Values: the panel's text agrees with the stored number (cutoff: MIDI note - 60).
    cutoff = doc["params"]["filter_1_cutoff"]
    assert cutoff["text"] == f"{cutoff['value'] - 60:.5f}"[:5] + " semitones"
    assert "MIDI note" in cutoff["value_unit"] and cutoff["hint"].startswith("cutoff ")
    tune = doc["params"]["osc_2_tune"]
    assert tune["text"].endswith(" cents") and float(tune["text"][:-6]) == pytest.approx(
        100 * tune["value"], abs=0.01
    )
    assert all("quartic" not in str(e) for e in doc["params"].values())
    assert doc["score"]["in_words"] == describe(doc["score"]["mss_db"])
    assert doc["demo_model"] is True and doc["model_size"] == "tiny"

    # The preset opens in the released Vital and sounds as the written render.
    from a2d.contracts.plugins import create_backend, get_spec

    vital = read_preset(res.preset)
    assert vital["synth_version"] == PRESET_VERSION
    backend = create_backend(get_spec("vital_simple"))
    assert compatibility_problems(vital, control_ranges(backend.synth)) == []
    audio, rate = sf.read(str(res.audio), always_2d=True)
    again = render_preset(
        res.preset.read_text(), note["pitch"], note["velocity"], note["end_s"] - note["start_s"],
        audio.shape[0] / rate, rate,
    )  # fmt: skip
    assert mss(again[None], audio.T[None].astype(np.float32), rate)[0] < 1e-3

    html = res.report.read_text()
    for name in ("pluck.vital", "pluck.mid", "pluck.wav"):
        assert f'href="{name}"' in html
    assert "Open External Preset" in html and note["play"] in html.replace("Play", "play")
    assert "Demo model" in html and doc["score"]["in_words"] in html


def test_same_seed_same_candidates_and_deterministic_model_gives_one(
    flow_result, tiny_flow_checkpoint, tiny_feedforward_checkpoint, demo_wav, tmp_path
):
    summary, _ = flow_result
    again = predict([demo_wav], tiny_flow_checkpoint, tmp_path / "a", candidates=3, seed=1)
    first = sorted(c.vector.tolist() for c in summary.results[0].candidates)
    assert sorted(c.vector.tolist() for c in again.results[0].candidates) == first
    ff = predict([demo_wav], tiny_feedforward_checkpoint, tmp_path / "b", candidates=5)
    assert len(ff.results[0].candidates) == 1


def test_worker_processes_render_the_same_candidates(
    flow_result, tiny_flow_checkpoint, demo_wav, tmp_path
):
    summary, _ = flow_result
    pooled = predict(
        [demo_wav], tiny_flow_checkpoint, tmp_path / "pool", candidates=3, seed=1, workers=2
    )
    here = sorted(summary.results[0].candidates, key=lambda c: c.index)
    there = sorted(pooled.results[0].candidates, key=lambda c: c.index)
    assert [c.index for c in there] == [c.index for c in here] == [0, 1, 2]
    for a, b in zip(here, there, strict=True):
        np.testing.assert_array_equal(a.vector, b.vector)
        np.testing.assert_allclose(b.audio, a.audio, atol=1e-5)  # same synth, other process
        assert b.mss == pytest.approx(a.mss, abs=1e-3)


def test_render_threads_give_the_one_synth_prediction(demo_wav, tmp_path):
    """The shipped Vital model's default path (samples + index rows + refine) on two render
    threads picks, refines and scores exactly as on one synth, and reports its lanes' speed."""
    from a2d.pipelines.predict import SoundMatcher

    got = {}
    for threads in (1, 2):
        with SoundMatcher(None, candidates=4, neighbours=3, refine=12, threads=threads) as matcher:
            assert (matcher.pool is None) == (threads == 1)
            got[threads] = matcher.match(demo_wav, tmp_path / str(threads))
    one, two = got[1], got[2]
    assert [c.source for c in two.candidates] == [c.source for c in one.candidates]
    for a, b in zip(one.candidates, two.candidates, strict=True):
        np.testing.assert_array_equal(a.vector, b.vector)
        np.testing.assert_allclose(b.audio, a.audio, rtol=0, atol=1e-6)
        assert b.mss == pytest.approx(a.mss, abs=1e-4)
    assert two.candidates[0].source == "refine" or two.candidates[0].mss <= one.candidates[0].mss


def test_edits_carry_retrieved_rows_towards_the_input(
    demo_wav, tmp_path, monkeypatch, tiny_feedforward_checkpoint
):
    """The shipped model's proposals: K samples, N index rows, E of those rows carried by the
    flow (each nearer its own row than the others), the same with the torch model; counted in
    the stages; asked of a model or setting that cannot have them, refused in one line."""
    from a2d.kernels.audio import load_sound
    from a2d.pipelines.predict import SoundMatcher

    with SoundMatcher(None, candidates=4, neighbours=3, edits=2, threads=1) as m:
        assert (m.edits, m.edit_t0, m.proposals) == (2, 0.85, 9)
        mel = m.features(load_sound(demo_wav, m.settings).audio)
        vectors, sources = m.propose(mel)
        assert sources == ["model"] * 4 + ["index"] * 3 + ["edit"] * 2
        rows, edits = vectors[4:7], vectors[7:]
        for i, e in enumerate(edits):
            assert np.abs(e - rows[i]).mean() < min(
                np.abs(e - r).mean() for j, r in enumerate(rows) if j != i
            )
        np.testing.assert_array_equal(m.propose(mel)[0], vectors)  # seeded
        result = m.match(demo_wav, tmp_path / "out")
        assert "edit_best_of_2_mss_db" in json.loads(result.params_json.read_text())["stages"]
    monkeypatch.setenv("A2D_TORCH_INFERENCE", "1")
    with SoundMatcher(None, candidates=4, neighbours=3, edits=2, threads=1) as m:
        np.testing.assert_allclose(m.propose(mel)[0], vectors, atol=2e-5)
    with SoundMatcher(None, candidates=4, neighbours=0, threads=1) as m:
        assert m.edits == 0  # retrieval off: no edits by default
    with SoundMatcher(None, candidates=2, neighbours=0, edits=3, threads=1) as m:
        vectors, sources = m.propose(mel)  # edits of the 3 nearest rows, the rows not proposed
        assert sources == ["model"] * 2 + ["edit"] * 3 and m.proposals == 5
    with pytest.raises(ConfigError, match="--edits needs retrieved rows"):
        SoundMatcher(tiny_feedforward_checkpoint, edits=2)
    with pytest.raises(ConfigError, match="--edit-t0 must be between 0 and 1"):
        SoundMatcher(None, edit_t0=1.0)


def test_the_refine_budget_defaults_to_the_synths(demo_wav, tmp_path):
    """``refine=None`` (what ``a2d predict`` passes without ``--refine``) spends the synth's own
    default, which Dexed raises above the contract's (its renders are cheap); a number given
    wins; a negative one is refused."""
    from a2d.contracts.plugins import get_synth
    from a2d.contracts.synth import SynthBackend
    from a2d.pipelines.predict import SoundMatcher

    vital, dexed = get_synth("vital"), get_synth("dexed")
    assert vital.refine_renders == SynthBackend.refine_renders == 64
    assert dexed.refine_renders > vital.refine_renders
    for synth, cls in (("vital", vital), ("dexed", dexed)):
        with SoundMatcher(None, synth=synth, refine=None, threads=1) as m:
            assert m.refine_budget == cls.refine_renders
            assert m.renders == max(m.proposals, cls.refine_renders)
    with SoundMatcher(None, synth="dexed", refine=8, threads=1) as m:
        assert m.refine_budget == 8
        result = m.match(demo_wav, tmp_path / "given")
        assert json.loads(result.params_json.read_text())["stages"]["refine_renders"] == 8
    with pytest.raises(ValueError, match="refine must be >= 0"):
        SoundMatcher(None, refine=-1)


@pytest.mark.parametrize("threads_ok", [True, False])
def test_several_inputs_start_worker_processes_only_for_synths_without_threads(
    tiny_flow_checkpoint, demo_wav, tmp_path, monkeypatch, threads_ok
):
    """workers=None (the CLI's default): Vital renders on synths in threads, whatever the number
    of inputs; a synth that cannot render in threads gets one worker process per core for
    several inputs (their start pays off), as before."""
    import multiprocessing

    from a2d_vital.backend import VitalBackend

    monkeypatch.setattr(VitalBackend, "parallel_threads", threads_ok)
    monkeypatch.setattr("a2d.pipelines.predict.os.cpu_count", lambda: 3)  # one worker per core
    seen = []
    predict(
        [demo_wav, demo_wav], tiny_flow_checkpoint, tmp_path / "o", candidates=4, workers=None,
        on_done=lambda path, item: seen.append(len(multiprocessing.active_children())),
    )  # fmt: skip
    assert len(seen) == 2
    assert (seen == [0, 0]) if threads_ok else seen == [3, 3]


def test_a_batch_continues_past_bad_files(tiny_feedforward_checkpoint, demo_wav, tmp_path):
    empty = tmp_path / "empty.wav"
    empty.write_bytes(b"")
    seen = []
    summary = predict(
        [empty, demo_wav, tmp_path / "gone.flac"], tiny_feedforward_checkpoint, tmp_path / "out",
        on_done=lambda path, item: seen.append(path.name),
    )  # fmt: skip
    assert summary.exit_code == ExitCode.PARTIAL
    assert [r.sound.name for r in summary.results] == ["pluck.wav"]
    assert [f.sound.name for f in summary.failures] == ["empty.wav", "gone.flac"]
    assert "empty" in summary.failures[0].error and "no such file" in summary.failures[1].error
    assert seen == ["empty.wav", "pluck.wav", "gone.flac"]


def test_a_checkpoint_for_another_spec_or_synth_is_refused(
    tiny_feedforward_checkpoint, demo_wav, tmp_path
):
    with pytest.raises(CheckpointError, match="trained on spec 'vital_simple', not 'vital_full'"):
        predict([demo_wav], tiny_feedforward_checkpoint, tmp_path, spec="vital_full")
    with pytest.raises(CheckpointError, match="for synth 'vital', not 'surge'"):
        predict([demo_wav], tiny_feedforward_checkpoint, tmp_path, synth="surge")


def test_cli_reports_partial_failure_with_its_exit_code(
    a2d_cli, tiny_feedforward_checkpoint, demo_wav, tmp_path
):
    bad = tmp_path / "noise.ogg"
    bad.write_bytes(b"OggS not really")
    cmd = [a2d_cli, "predict", str(demo_wav), str(bad), "-c", str(tiny_feedforward_checkpoint)]
    proc = subprocess.run(
        [*cmd, "-o", str(tmp_path / "out")], capture_output=True, text=True, timeout=300
    )
    assert proc.returncode == ExitCode.PARTIAL, proc.stderr
    (line,) = proc.stdout.strip().splitlines()
    assert line.startswith(str(demo_wav)) and "pluck.vital" in line
    assert "noise.ogg: cannot decode" in proc.stderr and "Traceback" not in proc.stderr
    refused = subprocess.run(
        [*cmd, "-o", str(tmp_path), "--spec", "vital_full"],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert refused.returncode == ExitCode.DATA
    assert refused.stderr.strip().splitlines()[-1].startswith("error: checkpoint")


def test_report_spectra_batched_as_one_by_one() -> None:
    """The report's spectrograms come from one batched mel call: the same as one call per sound,
    and still computed (one by one) when a render's length differs from the input's."""
    from a2d.kernels.metrics import log_mel
    from a2d.pipelines.report import matched_spectra

    rng = np.random.default_rng(0)
    sound = rng.normal(0, 0.1, (2, 22050)).astype(np.float32)
    renders = [rng.normal(0, s, (2, 22050)).astype(np.float32) for s in (0.05, 0.2, 0.4)]
    shown, spectra, mel = matched_spectra(sound, renders, 44100)
    assert len(spectra) == 4
    for audio, spec in zip(shown, spectra, strict=True):
        np.testing.assert_allclose(spec, log_mel(audio, 44100, mel).mean(axis=0), atol=1e-4)
    uneven = matched_spectra(sound, [renders[0][:, :20000]], 44100)[1]
    assert uneven[1].shape[-1] < uneven[0].shape[-1]
