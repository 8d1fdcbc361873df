"""a2d_flow.numpy_model.NumpyFlow samples what FlowModel samples from the same noise: for the
shipped models, for randomly initialised models of every configuration it covers, and from
partly noised starts (edits). Architectures it does not cover are refused, so torch loads them."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from a2d.storage.checkpoint import load_checkpoint, start_noise
from a2d.storage.inference import NumpyCheckpoint, load_for_inference
from a2d.storage.pretrained import MODELS_DIR, shipped_models
from a2d_flow.model import FlowModel
from a2d_flow.numpy_model import NumpyFlow

#: Every shipped model, so a new one is checked without editing this file.
SHIPPED = [m.name for m in shipped_models()]


def _randomised(model: FlowModel, seed: int) -> FlowModel:
    """Every weight random (adaLN-Zero starts its modulation at zero, which would hide errors)."""
    gen = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for p in model.parameters():
            p.copy_(torch.randn(p.shape, generator=gen) * 0.2)
    return model.eval()


CONFIGS = [
    {"field": "param2tok", "encoder_args": {"channels": [8, 16], "pool_input": 2},
     "field_args": {"dim": 32, "depth": 2, "heads": 4, "n_tokens": 8}, "guidance_weight": 2.0},
    {"field": "param2tok", "encoder_args": {"channels": [4, 8, 8]}, "cond_dim": 24,
     "field_args": {"dim": 16, "depth": 1, "heads": 2, "n_tokens": 5}, "guidance_weight": None,
     "method": "rk4", "steps": 3},
    {"field": "mlp", "encoder_args": {"channels": [8], "pool_input": 3},
     "field_args": {"dim": 48, "depth": 2}, "guidance_weight": 1.5, "method": "heun"},
    {"field": "param2tok", "encoder_args": {"channels": [8, 16], "pool_input": [1, 4],
     "time_segments": 3}, "field_args": {"dim": 32, "depth": 1, "heads": 4, "n_tokens": 6}},
    {"encoder": "pooled", "encoder_args": {"time_segments": 5, "hidden": 24, "depth": 2},
     "field": "param2tok", "field_args": {"dim": 16, "depth": 1, "heads": 2, "n_tokens": 4}},
    {"encoder": "pooled", "encoder_args": {"time_segments": 1, "hidden": 16, "depth": 1},
     "field": "mlp", "field_args": {"dim": 24, "depth": 1}, "guidance_weight": 3.0},
]  # fmt: skip


@pytest.mark.parametrize("i", range(len(CONFIGS)))
def test_random_models_sample_the_same_candidates(i: int) -> None:
    args = {"width": 11, "input_shape": [2, 20, 37], **CONFIGS[i]}
    model = _randomised(FlowModel.build(**args), seed=i)
    state = {k: v.numpy() for k, v in model.state_dict().items()}
    np_model = NumpyFlow.from_state(model.model_args, state)
    features = torch.randn(3, 2, 20, 37, generator=torch.Generator().manual_seed(5))
    noise = start_noise(11, 3 * 4, seed=i)
    with torch.no_grad():
        enc = model.encode(features).numpy()
        want = model.predict(features, n_candidates=4, noise=torch.from_numpy(noise)).numpy()
    np.testing.assert_allclose(np_model.encode(features.numpy()), enc, rtol=1e-4, atol=1e-4)
    got = np_model.predict(features.numpy(), noise=noise, n_candidates=4)
    assert got.shape == (3, 4, 11) and got.dtype == np.float32
    # random weights make a far less smooth field than a trained one: float32 rounding grows to
    # ~3e-5 here (2e-6 on the shipped models below); a wrong layer is off by 1e-2 or more
    np.testing.assert_allclose(got, want, atol=2e-4)
    assert got.std() > 0.05  # the candidates differ: the comparison is not of constants


@pytest.mark.parametrize("name", SHIPPED)
def test_shipped_models_sample_the_same_candidates_without_torch(name: str) -> None:
    path = MODELS_DIR / f"{name}.pt"
    fast, ref = load_for_inference(path), load_checkpoint(path)
    assert isinstance(fast, NumpyCheckpoint)
    mel = np.random.default_rng(1).normal(-40, 15, fast.input_shape).astype(np.float32)
    np.testing.assert_allclose(fast.sample(mel, 16, 3), ref.sample(mel, 16, 3), atol=2e-5)
    starts = np.random.default_rng(2).random((4, fast.spec.width))
    kwargs = {"starts": starts, "t0": 0.85, "steps": 2}
    edited = fast.sample(mel, 8, [3, 1], **kwargs)
    np.testing.assert_allclose(edited, ref.sample(mel, 8, [3, 1], **kwargs), atol=2e-5)
    # an edit stays near the row it started from (the two candidates per start in turn)
    near = np.abs(edited - np.repeat(starts, 2, axis=0)).mean()
    far = np.abs(edited - np.repeat(starts[::-1], 2, axis=0)).mean()
    assert near < far


def test_start_noise_is_seeded_and_mixes_the_starts() -> None:
    a, b = start_noise(5, 6, 0), start_noise(5, 6, 0)
    assert a.dtype == np.float32 and np.array_equal(a, b)
    assert not np.array_equal(a, start_noise(5, 6, [0, 1]))
    starts = np.array([[0.0] * 5, [1.0] * 5])
    mixed = start_noise(5, 4, 0, starts=starts, t0=0.75)
    want = 0.25 * a[:4] + 0.75 * np.array([[-1.0] * 5, [-1.0] * 5, [1.0] * 5, [1.0] * 5])
    np.testing.assert_allclose(mixed, want, atol=1e-6)


def test_uncovered_models_and_mismatched_states_are_refused() -> None:
    ast = FlowModel.build(width=5, input_shape=[2, 16, 16], encoder="ast", encoder_args={
        "patch": 8, "stride": 8, "dim": 16, "depth": 1, "heads": 2})  # fmt: skip
    with pytest.raises(NotImplementedError, match="ast"):
        NumpyFlow.from_state(ast.model_args, {k: v.numpy() for k, v in ast.state_dict().items()})
    model = FlowModel.build(width=5, input_shape=[2, 16, 16], encoder_args={"channels": [4, 8]})
    state = {k: v.numpy() for k, v in model.state_dict().items()}
    with pytest.raises(KeyError):
        NumpyFlow.from_state({**model.model_args, "encoder_args": {"channels": [4, 8, 8]}}, state)
    with pytest.raises((KeyError, ValueError)):
        NumpyFlow.from_state({**model.model_args, "width": 6}, state)


def test_a_sampler_without_noise_draws_from_its_generator(tiny_flow_checkpoint) -> None:
    """A third-party stochastic model whose ``predict`` takes only a generator still samples
    (seeded, as before), and cannot start from given rows (no edits for it)."""
    from a2d.contracts.errors import CheckpointError

    ck = load_checkpoint(tiny_flow_checkpoint)
    assert ck.can_edit
    inner = ck.model.predict

    def predict(features, *, n_candidates=1, generator=None, **options):
        return inner(features, n_candidates=n_candidates, generator=generator, **options)

    ck.model.predict = predict  # the older contract: no noise, no t0
    assert not ck.can_edit
    mel = np.random.default_rng(0).normal(-40, 15, ck.input_shape).astype(np.float32)
    a, b, c = ck.sample(mel, 3, 5), ck.sample(mel, 3, 5), ck.sample(mel, 3, 6)
    assert a.shape == (3, ck.spec.width) and np.array_equal(a, b) and not np.array_equal(a, c)
    assert ck.sample(mel, 2, [5, 1]).shape == (2, ck.spec.width)
    with pytest.raises(CheckpointError, match="cannot start from given rows"):
        ck.sample(mel, 2, 0, starts=a[:1], t0=0.5)


@pytest.mark.parametrize("lanes", [2, 3])
def test_sampling_in_lanes_gives_the_same_candidates(lanes: int) -> None:
    """The field's rows split over threads: the same candidates as one thread (within float32
    rounding: BLAS blocks a product of fewer rows differently)."""
    args = {"width": 11, "input_shape": [2, 20, 37], **CONFIGS[0]}
    model = _randomised(FlowModel.build(**args), seed=7)
    np_model = NumpyFlow.from_state(
        model.model_args, {k: v.numpy() for k, v in model.state_dict().items()}
    )
    features = np.random.default_rng(3).normal(size=(2, 2, 20, 37)).astype(np.float32)
    noise = start_noise(11, 2 * 16, seed=1)
    one = np_model.predict(features, noise=noise, n_candidates=16, lanes=1)
    split = np_model.predict(features, noise=noise, n_candidates=16, lanes=lanes)
    np.testing.assert_allclose(split, one, atol=2e-4)  # random weights: see above
    rows = []  # each lane computed its own rows: the split really happened
    velocity = np_model.split_velocity(lanes)
    x = np.zeros((64, 11), np.float32)
    cond = np.zeros((64, len(np_model.s["null_cond"])), np.float32)
    import threading

    real = np_model.velocity
    np_model.velocity = lambda *a: (rows.append((threading.get_ident(), len(a[0]))), real(*a))[1]
    velocity(x, np.zeros(64, np.float32), cond)
    assert len(rows) == lanes and sum(n for _, n in rows) == 64
    assert len({ident for ident, _ in rows}) >= 2  # not all on the calling thread
