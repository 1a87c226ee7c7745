"""Online CTTA scoring: each batch predicted before the update on it, in stream order."""

from __future__ import annotations

import pytest
import torch
from conftest import quick_cfg
from torch import nn

from clbench.metrics import ctta_online_metrics, kind_online_metrics
from clbench.runner import run
from clbench.stream import Experience
from strategies import STRATEGIES
from strategies.tta import TestTimeAdaptation

TWO_DOMAINS = ["scenario.corruptions=[brightness,contrast]"]


def test_online_metrics_by_hand():
    m = ctta_online_metrics([0.75, 0.5])
    assert m == {"online_domain_error": [0.25, 0.5], "online_mean_error": 0.375}
    assert kind_online_metrics("ctta", [0.75, 0.5]) == m
    assert kind_online_metrics("ctta", [0.75, None]) == {}  # a domain not scored: no metric
    assert kind_online_metrics("class-il", [0.75, 0.5]) == {}


class CountingTTA(TestTimeAdaptation):
    """Predicts, for every image, the number of updates made so far (mod 10): which batch a
    prediction was made before, and in what order the images came, can be read off."""

    def __init__(self, cfg, scenario) -> None:
        super().__init__(cfg, scenario)
        self.w = nn.Parameter(torch.zeros(1))
        self.register_buffer("steps", torch.zeros((), dtype=torch.int64))

    def start_adaptation(self) -> None:
        for p in self.parameters():
            p.requires_grad_(False)
        self.w.requires_grad_(True)

    @torch.no_grad()
    def predict(self, x: torch.Tensor) -> torch.Tensor:
        return torch.full((len(x),), int(self.steps) % 10, dtype=torch.int64)

    def adapt_step(self, x: torch.Tensor) -> torch.Tensor:
        self.steps += 1
        return (self.w**2).sum()


@pytest.fixture
def counting():
    STRATEGIES.add("counting-tta", "test_ctta_online:CountingTTA", "test only", kinds=("ctta",))
    yield "counting-tta"
    STRATEGIES.remove("counting-tta")


def test_online_predictions_are_made_before_each_update_in_stream_order(counting, results_dir):
    # no source phase; 1000 images per domain in batches of 250: 4 updates per domain
    cfg = quick_cfg(counting, "mnist-5k-c", results_dir, "train.epochs=0", "train.batch_size=250")
    cfg.scenario.corruptions = ["brightness", "contrast"]
    rec = run(cfg).record
    from clbench.compose import compose
    from scenarios import SCENARIOS

    sc_cfg = compose("source", "mnist-5k-c", None, ["scenario.corruptions=[brightness,contrast]"])
    exps = SCENARIOS.load("mnist-5k-c").build(sc_cfg.scenario, sc_cfg.data).experiences()
    want = []
    for d, exp in enumerate(exps):
        y = exp.test.tensors[1]
        # image at stored position p is in batch p // 250 of domain d: 4 d + p // 250 updates
        # were made before it (not one more: predicted before its own update)
        pred = 4 * d + torch.arange(len(y)) // 250
        want.append(1 - (pred == y).double().mean().item())
    assert rec["metrics"]["online_domain_error"] == pytest.approx(want, abs=1e-12)
    assert rec["metrics"]["online_mean_error"] == pytest.approx(sum(want) / 2, abs=1e-12)
    # offline: the model after its 4 (8) updates predicts class 4 (8) for every image
    for d, exp in enumerate(exps):
        share = (exp.test.tensors[1] == 4 * (d + 1)).double().mean().item()
        assert rec["metrics"]["domain_error"][d] == pytest.approx(1 - share, abs=1e-12)
    assert rec["online_accuracy"] == pytest.approx([1 - e for e in want], abs=1e-12)


def test_mnist_5k_c_stream_is_in_one_fixed_mixed_order():
    from clbench.compose import compose
    from scenarios import SCENARIOS

    cfg = compose("source", "mnist-5k-c", None, ["scenario.corruptions=[brightness,contrast]"])
    sc = SCENARIOS.load("mnist-5k-c").build(cfg.scenario, cfg.data)
    a, b = sc.experiences()
    assert sc.info["keep_order"] is True
    y = a.test.tensors[1]
    assert torch.equal(y, b.test.tensors[1])  # the same order in every domain
    assert len(torch.unique(y[:50])) >= 8  # classes mixed, not sorted
    assert torch.bincount(y).tolist() == [100] * 10


def test_source_online_error_equals_offline_error(results_dir):
    rec = run(quick_cfg("source", "mnist-5k-c", results_dir, "train.epochs=1", *TWO_DOMAINS)).record
    m = rec["metrics"]
    assert rec["config"]["backbone"]["name"] == "convnet"  # the source model of tent and vdp
    assert m["online_domain_error"] == pytest.approx(m["domain_error"], abs=1e-12)
    assert m["online_mean_error"] == pytest.approx(m["mean_error"], abs=1e-12)


@pytest.mark.slow  # trains two VDP runs (each with a convnet source phase) to compare
def test_online_scoring_does_not_change_the_adaptation(results_dir, monkeypatch):
    """VDP with augmentations on every batch (random draws): the same run with and without the
    online predictions gives the same adapted model and accuracy matrix."""
    args = [
        "train.epochs=1",
        "strategy.n_augmentations=2",
        "strategy.anchor_threshold=1.0",  # always unsure: augments (draws) on every batch
        "strategy.lr=0.05",
        "strategy.ema_momentum=0.5",
        *TWO_DOMAINS,
    ]
    scored = run(quick_cfg("vdp", "mnist-5k-c", results_dir, *args)).record
    assert "online_mean_error" in scored["metrics"]

    def images_only(self, exp: Experience):
        return exp.train  # no positions: nothing predicted during adaptation

    monkeypatch.setattr(TestTimeAdaptation, "train_dataset", images_only)
    plain = run(quick_cfg("vdp", "mnist-5k-c", results_dir, *args)).record
    assert "online_mean_error" not in plain["metrics"]
    assert plain["online_accuracy"] == [None, None]
    assert plain["accuracy_matrix"] == scored["accuracy_matrix"]
    # the adaptation did something, so equality above is not trivial
    assert scored["accuracy_matrix"][0] != scored["accuracy_matrix"][1]


def test_online_scores_survive_a_resume(counting, results_dir):
    """The online accuracy of finished domains is kept in the run's saved state: a run resumed
    after domain 1 gives the same online metrics as the uninterrupted one."""
    from clbench import checkpoint
    from clbench.records import record_path

    cfg = quick_cfg(counting, "mnist-5k-c", results_dir, "train.epochs=0", "train.batch_size=250")
    cfg.scenario.corruptions = ["brightness", "contrast"]
    full = run(cfg)
    run_dir = results_dir / "work" / "mnist-5k-c" / counting / full.record["run_id"]
    # the state after domain 1 (4 updates), as an interruption in domain 2 would leave it
    state = checkpoint.load(run_dir)
    for key in ("rows", "experience_time", "experience_memory_mb", "online_accuracy"):
        state[key] = state[key][:1]
    state["model"]["steps"] = torch.tensor(4)
    state.pop("format")
    checkpoint.save(run_dir, state)
    record_path(results_dir, "mnist-5k-c", counting, full.record["run_id"]).unlink()
    resumed = run(cfg, resume=run_dir).record
    assert resumed["resumes"] == 1
    assert resumed["online_accuracy"] == full.record["online_accuracy"]
    for key in ("online_domain_error", "online_mean_error", "domain_error"):
        assert resumed["metrics"][key] == full.record["metrics"][key], key
