"""Model smoke tests on synthetic tensors: losses, gradients, sample shapes, determinism, OT."""

from __future__ import annotations

import itertools
import subprocess
import sys

import pytest
import torch

from a2d.contracts.plugins import model_class
from a2d.pipelines.train.schedule import learning_rate

SHAPE = [2, 32, 41]
WIDTH = 10
ONEHOT = [[3, 6]]

CASES = {
    "flow-param2tok-cnn": (
        "flow",
        dict(
            encoder="cnn",
            encoder_args={"channels": [8, 16]},
            cond_dim=32,
            field="param2tok",
            field_args=dict(dim=32, depth=1, heads=2, n_tokens=4),
            steps=4,
        ),
    ),
    "flow-mlp-ast": (
        "flow",
        dict(
            encoder="ast",
            encoder_args={"dim": 32, "depth": 1, "heads": 2},
            cond_dim=32,
            field="mlp",
            field_args=dict(dim=32, depth=1),
            steps=4,
        ),
    ),
    "feedforward-cnn": (
        "feedforward",
        dict(
            onehot_groups=ONEHOT,
            encoder_args={"channels": [8, 16]},
            embed_dim=32,
            head_dim=32,
            head_depth=1,
        ),
    ),
}


def build(case: str, seed: int = 0):
    name, args = CASES[case]
    torch.manual_seed(seed)
    return model_class(name).build(width=WIDTH, input_shape=SHAPE, **args)


def batch(n: int = 6) -> dict[str, torch.Tensor]:
    g = torch.Generator().manual_seed(1)
    params = torch.rand(n, WIDTH, generator=g)
    params[:, 3:6] = torch.nn.functional.one_hot(torch.arange(n) % 3, 3).float()
    return {"features": torch.randn(n, *SHAPE, generator=g), "params": params}


@pytest.mark.parametrize("case", CASES)
def test_loss_backward_and_predict_shapes(case: str) -> None:
    model = build(case)
    out = model.loss(batch())
    assert out.loss.ndim == 0 and torch.isfinite(out.loss)
    opt = torch.optim.SGD(model.parameters(), lr=0.1)
    out.loss.backward()
    opt.step()  # adaLN-Zero: the audio path gets gradient once the modulations leave zero
    opt.zero_grad()
    model.loss(batch()).loss.backward()
    grads = [p.grad for p in model.encoder.parameters() if p.grad is not None]
    assert grads and any(float(g.abs().sum()) > 0 for g in grads)  # the encoder learns too
    pred = model.eval().predict(batch()["features"], n_candidates=3)
    assert pred.shape == (6, 3, WIDTH)
    assert float(pred.min()) >= 0.0 and float(pred.max()) <= 1.0


@pytest.mark.parametrize("case", CASES)
def test_same_seed_same_model_and_samples(case: str) -> None:
    a, b = build(case, seed=3).eval(), build(case, seed=3).eval()
    f = batch()["features"]
    kw = lambda: {"generator": torch.Generator().manual_seed(7)} if a.stochastic else {}  # noqa: E731
    assert torch.equal(a.predict(f, n_candidates=2, **kw()), b.predict(f, n_candidates=2, **kw()))
    assert torch.equal(
        a.loss(batch(), generator=torch.Generator().manual_seed(5)).loss,
        b.loss(batch(), generator=torch.Generator().manual_seed(5)).loss,
    )


def test_flow_candidates_differ_and_guidance_changes_samples() -> None:
    model = build("flow-param2tok-cnn").eval()
    with torch.no_grad():  # leave adaLN-Zero's identity start so the conditioning matters
        for name, p in model.named_parameters():
            if "modulation" in name:
                p.normal_(0, 0.2)
        model.null_cond.add_(1.0)
    f = batch(2)["features"]

    def draw(w):
        return model.predict(
            f, n_candidates=4, guidance_weight=w, generator=torch.Generator().manual_seed(0)
        )

    x = draw(1.0)
    assert not torch.allclose(x[:, 0], x[:, 1])
    assert not torch.allclose(x, draw(3.0))


def test_feedforward_onehot_groups_are_distributions() -> None:
    pred = build("feedforward-cnn").eval().predict(batch()["features"])
    assert torch.allclose(pred[..., 3:6].sum(-1), torch.ones(6, 1))


def test_ot_pairing_is_the_optimal_permutation() -> None:
    from a2d_flow.ot import ot_pair

    g = torch.Generator().manual_seed(0)
    x0, x1 = torch.randn(6, 3, generator=g), torch.randn(6, 3, generator=g)
    paired = ot_pair(x0, x1)
    best = min(float((x0[list(p)] - x1).pow(2).sum()) for p in itertools.permutations(range(6)))
    assert float((paired - x1).pow(2).sum()) == pytest.approx(best)
    assert sorted(map(tuple, paired.tolist())) == sorted(map(tuple, x0.tolist()))


def test_param2tok_field_is_permutation_equivariant() -> None:
    """Permuting parameters (and their per-parameter weights) permutes the velocity: no order bias."""
    from a2d_flow.field import Param2TokField

    torch.manual_seed(0)
    field = Param2TokField(5, 8, dim=16, depth=1, heads=2, n_tokens=3).eval()
    perm = torch.tensor([3, 0, 4, 1, 2])
    x, t, c = torch.randn(2, 5), torch.rand(2), torch.randn(2, 8)
    v = field(x, t, cond=c)
    with torch.no_grad():
        for name in ("embed", "bias"):
            getattr(field.to_tokens, name).copy_(getattr(field.to_tokens, name)[perm])
        field.to_tokens.assign.copy_(field.to_tokens.assign[:, perm])
        for name in ("assign", "readout", "bias"):
            getattr(field.from_tokens, name).copy_(getattr(field.from_tokens, name)[perm])
    assert torch.allclose(field(x[:, perm], t, cond=c), v[:, perm], atol=1e-5)


def test_unknown_encoder_and_bad_args_are_config_errors() -> None:
    from a2d.contracts.errors import ConfigError

    with pytest.raises(ConfigError, match="unknown encoder 'rnn'"):
        model_class("flow").build(width=4, input_shape=SHAPE, encoder="rnn")
    with pytest.raises(ConfigError, match="invalid arguments for model 'feedforward'"):
        model_class("feedforward").build(width=4, input_shape=SHAPE, depth=3)


def test_schedule_warms_up_then_decays_to_min() -> None:
    kw = dict(lr=1.0, min_lr=0.1, warmup_steps=10, total_steps=110)
    assert learning_rate(0, **kw) == pytest.approx(0.1)
    assert learning_rate(9, **kw) == pytest.approx(1.0)
    assert learning_rate(60, **kw) == pytest.approx(0.55)
    assert learning_rate(110, **kw) == pytest.approx(0.1)


def test_model_registration_does_not_import_torch() -> None:
    code = (
        "import sys; from a2d.contracts.plugins import get_model; "
        "assert get_model('flow').stochastic and not get_model('feedforward').stochastic; "
        "import a2d_flow, a2d_feedforward; print('torch' in sys.modules)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


def test_a_model_that_breaks_the_contract_is_refused_with_one_line() -> None:
    """The training loop calls ``loss(batch, generator=gen)``: a model written without it is
    refused when built, naming what is missing, not a TypeError at its first validation."""
    import torch

    from a2d.contracts.errors import RegistryError
    from a2d.contracts.model import LossOutput, Predictor, contract_problems

    class OldStyle(Predictor):
        name = "old_style"

        def __init__(self, width: int, input_shape: list[int]) -> None:
            super().__init__()
            self.head = torch.nn.Linear(1, width)

        def loss(self, batch):  # no generator
            return LossOutput(self.head.weight.sum())

        def predict(self, features, *, n_candidates=1):  # no generator
            return torch.zeros(len(features), n_candidates, self.head.out_features)

    assert contract_problems(OldStyle) == [
        "loss() takes no generator= keyword",
        "predict() takes no generator= keyword",
    ]
    with pytest.raises(RegistryError, match=r"model 'old_style' .* breaks the model contract"):
        OldStyle.build(width=3, input_shape=[2, 8, 4])
    for name in ("flow", "feedforward"):
        assert contract_problems(model_class(name)) == []
