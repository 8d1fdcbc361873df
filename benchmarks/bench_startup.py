"""Start-up of a fresh process: ``a2d --help`` and ``a2d --version`` against a bare interpreter
(their floor), what ``a2d predict`` imports before it starts work against ``import torch`` (the
floor of any command that runs a model), and the first step of every prediction, the note analysis
of a 4 s clip (read, resample, pitch) in a fresh process: a2d's NumPy pYIN against
``librosa.pyin`` (numba, its JIT cache already written), the same settings and the same note;
and a fresh process up to the shipped model's 16 candidates (import, load, sample K = 16 from a
log-mel): the torch-free NumPy sampler against the torch model (``A2D_TORCH_INFERENCE=1``), the
same candidates; and a fresh process moving that clip up an octave (what ``a2d predict`` does to a
sound below the synth's range, the quickstart's bass): a2d's NumPy phase vocoder against
``librosa.effects.pitch_shift``, the same samples.
Each case records its ratio to its baseline in the same run (``extra_info["ratio_vs"]``).

Run: ``pytest benchmarks/bench_startup.py --benchmark-only``. Under ``--benchmark-disable`` (CI)
each case runs once.
"""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

PY = sys.executable
CLI = "from a2d.cli import run; run()"
ANALYSE = """
import sys
import soundfile as sf
from a2d.kernels.audio import resample
y, rate = sf.read(sys.argv[1], dtype="float32", always_2d=True)
y = resample(y.mean(axis=1), rate, 11025)
kw = dict(fmin=30.0, fmax=2100.0, sr=11025, frame_length=1024, hop_length=256, resolution=0.25)
if sys.argv[2] == "librosa":
    import librosa
    f0, voiced, _ = librosa.pyin(y, **kw)
else:
    from a2d.kernels.pitch import pyin
    f0, voiced, _ = pyin(y, **kw)
import numpy as np
print(round(float(np.nanmedian(f0[voiced])), 6))
"""
READY = """
import sys
import numpy as np
from a2d.storage.inference import load_for_inference
from a2d.storage.pretrained import resolve_checkpoint
ck = load_for_inference(resolve_checkpoint(None))
mel = np.random.default_rng(0).normal(-40, 15, ck.input_shape).astype(np.float32)
v = ck.sample(mel, 16, 0)
print(type(ck).__name__, "torch" in sys.modules, float(v.sum()))
"""
TRANSPOSE = """
import sys
import numpy as np
import soundfile as sf
y, rate = sf.read(sys.argv[1], dtype="float32", always_2d=True)
y = np.ascontiguousarray(y.T)
if sys.argv[2] == "librosa":
    import librosa
    out = librosa.effects.pitch_shift(y, sr=rate, n_steps=12)
else:
    from a2d.kernels.analysis import transpose
    out = transpose(y, rate, 1)
print(round(float(np.abs(out).sum()), 2))
"""
CASES = {
    "python_bare": [PY, "-c", "pass"],
    "a2d_version": [PY, "-c", CLI, "--version"],
    "a2d_help": [PY, "-c", CLI, "--help"],
    "import_torch": [PY, "-c", "import torch"],
    "import_predict": [PY, "-c", "import a2d.pipelines.predict, a2d.cli.predict"],
    "analyse_librosa_pyin": [PY, "-c", ANALYSE, "{wav}", "librosa"],
    "analyse_a2d_pyin": [PY, "-c", ANALYSE, "{wav}", "a2d"],
    "ready_torch_model": [PY, "-c", READY],
    "ready_numpy_model": [PY, "-c", READY],
    "transpose_librosa": [PY, "-c", TRANSPOSE, "{wav}", "librosa"],
    "transpose_a2d": [PY, "-c", TRANSPOSE, "{wav}", "a2d"],
}
#: Extra environment per case.
ENV = {"ready_torch_model": {"A2D_TORCH_INFERENCE": "1"}}
#: Each case's baseline, measured earlier in the same run.
BASELINE = {
    "a2d_version": "python_bare",
    "a2d_help": "python_bare",
    "import_predict": "import_torch",
    "analyse_a2d_pyin": "analyse_librosa_pyin",
    "ready_numpy_model": "ready_torch_model",
    "transpose_a2d": "transpose_librosa",
}
MEDIANS: dict[str, float] = {}
OUTPUTS: dict[str, str] = {}


@pytest.fixture(scope="module")
def wav(tmp_path_factory: pytest.TempPathFactory) -> str:
    from a2d.pipelines.demo import write_demo

    return str(write_demo(tmp_path_factory.mktemp("startup") / "note.wav", 44100, 4.0))


@pytest.mark.parametrize("case", list(CASES))
def test_startup(benchmark, case: str, wav: str) -> None:
    env = {**os.environ, "PYTHONSAFEPATH": "1", **ENV.get(case, {})}
    argv = [a.replace("{wav}", wav) for a in CASES[case]]

    def run() -> int:
        proc = subprocess.run(argv, env=env, capture_output=True, text=True, timeout=300)
        OUTPUTS[case] = proc.stdout.strip()
        return proc.returncode

    assert benchmark.pedantic(run, rounds=5, warmup_rounds=1) == 0
    if case.startswith("analyse_"):  # both name the same pitch
        other = OUTPUTS.get("analyse_librosa_pyin")
        assert other is None or OUTPUTS[case] == other
    if case.startswith("transpose_"):  # the same shifted samples (their sum, to 0.01)
        other = OUTPUTS.get("transpose_librosa")
        assert other is None or abs(float(OUTPUTS[case]) - float(other)) < 0.05
    if case.startswith("ready_"):  # the path asked for, and the same candidates
        kind, torch_loaded, total = OUTPUTS[case].split()
        assert (kind, torch_loaded) == (
            ("Checkpoint", "True") if case == "ready_torch_model" else ("NumpyCheckpoint", "False")
        )
        other = OUTPUTS.get("ready_torch_model")
        assert other is None or abs(float(other.split()[2]) - float(total)) < 1e-3
    benchmark.extra_info.update(case=case, load=os.getloadavg()[0])
    if benchmark.enabled:
        MEDIANS[case] = benchmark.stats.stats.median
        base = BASELINE.get(case)
        if base in MEDIANS:
            benchmark.extra_info.update(ratio_vs=base, ratio=MEDIANS[case] / MEDIANS[base])
