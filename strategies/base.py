"""The base class of every strategy: a LightningModule with the runner's hooks.

The runner calls, per experience: `start_experience`, `before_experience`, Lightning `fit` for
`protocol.epochs(train_epochs(exp))` epochs on `train_dataset(exp)` (skipped when 0),
`after_experience`, then `predict` on every test experience. After each experience it saves
`state_dict()` (so strategy state must be reachable from it: parameters, buffers or
`get_extra_state`) and the optimizer's kept state; on resume it loads both and calls `restore`.

The base owns the training step (manual optimisation): `loss` on the raw batch (`augment`
gives the scenario's training view), backward, the LR of the schedule, one optimizer step.
A strategy names what it trains with `param_groups` and `optimizer_settings`, never by
overriding `configure_optimizers`; `train.optimizer_state` keeps or resets the optimizer
between experiences (clbench/optim.py). The step plan of the schedule is derived from
`train_dataset` and `train_epochs` before the stream, so both must depend only on the
experience (and the ones before it), not on state that training changes.
"""

from __future__ import annotations

from typing import Any, ClassVar

import lightning as L
import torch
import torch.nn.functional as F
from torch import nn
from torch.utils.data import Dataset

from clbench import optim
from clbench.augment import batch_transform
from clbench.backbones import build_backbone, input_contract
from clbench.config import StrategyParams
from clbench.distributed import gather_interleaved, world_rank
from clbench.errors import ClbenchError
from clbench.inputs import InputPipeline, param_dtype
from clbench.protocol import Protocol
from clbench.schedules import AnnealForEvaluation, LRSchedule, is_trivial
from clbench.seeding import stream_seed
from clbench.stream import Experience, Scenario
from strategies.frozen import FrozenCopy


class Strategy(L.LightningModule):
    """Backbone + linear head over all classes of the stream, trained with cross-entropy."""

    Params: ClassVar[type[StrategyParams]] = StrategyParams
    defaults: ClassVar[dict[str, Any]] = {}  # config defaults this strategy recommends
    # How closely the strategy follows its paper: {part: note}, copied by the runner into the
    # record's `fidelity` (e.g. which update rules are the paper's and which are our choice).
    fidelity: ClassVar[dict[str, str]] = {}
    # `clbench tune`'s search space: config key -> (low, high, scale: log | linear | int);
    # knobs that do not depend on the buffer size only (clbench/search.py). OUR CHOICE of ranges.
    search_space: ClassVar[dict[str, tuple[float, float, str]]] = {"train.lr": (1e-3, 0.1, "log")}

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        for hook in ("configure_optimizers", "training_step"):
            if hook in cls.__dict__:
                raise TypeError(
                    f"{cls.__name__} overrides {hook}: the base owns the optimizer and the step "
                    "(use param_groups / optimizer_settings / loss / step_loss)"
                )

    def __init__(self, cfg: Any, scenario: Scenario) -> None:
        super().__init__()
        # Manual optimisation: the base runs the step (one kept optimizer, no closure per step)
        self.automatic_optimization = False
        self.cfg = cfg
        self.params = cfg.strategy
        self.input_pipeline = InputPipeline.of(scenario.info, input_contract(cfg.backbone))
        self.input_shape = self.input_pipeline.shape(scenario.input_shape)
        self.backbone, self.feature_dim = build_backbone(cfg.backbone, self.input_shape)
        self.head = nn.Linear(self.feature_dim, scenario.num_classes)
        self.num_classes = scenario.num_classes
        optim.check(cfg.train)
        self._optimizers = optim.OptimizerKeeper(cfg.train.optimizer_state)
        self._last_loss: torch.Tensor | None = None
        self._augment_name = scenario.info.get("train_transform", "none")  # batches, on device
        self._augment = batch_transform(self._augment_name)
        # train.schedule: the LR over the stream, and the infinite schedule's T_ann weights
        self.lr_schedule = LRSchedule(cfg.train)
        self.stream: list[Experience] = []  # the whole stream, set before it starts
        self.experience_index: int | None = None  # None: outside the stream (source phase)
        self.steps_taken: list[int] = []  # optimizer steps per experience (this process)
        self._rngs: dict[str, torch.Generator] = {}  # named random streams (`rng`)
        self._step_in_fit = 0
        # GPU speed options (trainer.*): memory format, then compilation
        self._channels_last = bool(cfg.trainer.get("channels_last", False))
        if self._channels_last:
            self.backbone.to(memory_format=torch.channels_last)
        if cfg.trainer.get("compile", False):
            self.backbone.compile()

    # -- the stream (runner-facing; not meant to be overridden) -----------------------------
    def plan_stream(self, experiences: list[Experience], protocol: Protocol) -> None:
        """Runner: called once before the stream (and on resume). The step plan of the LR
        schedule is what `train_dataset` and `train_epochs` will train, under `protocol`."""
        self.stream = list(experiences)
        self.protocol = protocol
        self.lr_schedule.plan = [self.planned_steps(e) for e in experiences]
        self.steps_taken = [0] * len(experiences)

    def planned_steps(self, exp: Experience) -> int:
        """Optimizer steps that training on `exp` will take."""
        epochs = self.protocol.epochs(self.train_epochs(exp))
        return self.protocol.steps(len(self.train_dataset(exp)), epochs) if epochs else 0

    def start_experience(self, index: int) -> None:
        """Runner: the stream position, set before `before_experience`."""
        self.experience_index = index
        self.lr_schedule.experience = index
        for name, g in self._rngs.items():
            g.manual_seed(stream_seed(int(self.cfg.seed), index, name))

    def rng(self, name: str) -> torch.Generator:
        """Named random stream of the current experience, the same on every DDP process and
        after a resume (clbench/seeding.py)."""
        g = self._rngs.get(name)
        if g is None:
            k = -1 if self.experience_index is None else self.experience_index
            g = self._rngs[name] = torch.Generator()
            g.manual_seed(stream_seed(int(self.cfg.seed), k, name))
        return g

    # -- runner hooks -------------------------------------------------------------------
    def before_experience(self, exp: Experience) -> None:
        """Called before training on `exp`."""

    def source_epochs(self) -> int:
        """Epochs on the labelled source data before the stream (CTTA); 0 skips it."""
        return int(self.cfg.train.epochs)

    def train_epochs(self, exp: Experience) -> int:
        """Epochs to train on `exp`; 0 skips Lightning's fit (nothing to train). A function
        of the experience only: the step plan calls it for every experience in advance."""
        return int(self.cfg.train.epochs)

    def train_dataset(self, exp: Experience) -> Dataset:
        """The data to fit on during `exp` (a function of `self.stream` up to `exp`)."""
        return exp.train

    def after_experience(self, exp: Experience) -> None:
        """Called after training on `exp`, before evaluation."""

    def online_predictions(self, exp: Experience) -> torch.Tensor | None:
        """The class each sample of `exp.test` was given while training on `exp`, predicted
        before any update on it (-1: not predicted), for online scoring (CTTA); called after
        training on `exp`, before `after_experience`. None (the default): not scored."""
        return None

    def restore(self, finished: list[Experience]) -> None:
        """Called on resume, after the saved state is loaded, with the finished experiences.

        State that lives in tensors belongs in the state_dict (parameters, buffers, or
        `get_extra_state`), which the runner saves after every experience; override this
        only for state that refers to the data itself (e.g. which experiences were seen).
        """

    def frozen_copy(self) -> FrozenCopy:
        """A frozen copy of backbone + head; assign it in `__init__` (strategies/frozen.py)."""
        return FrozenCopy(self.backbone, self.head)

    @torch.no_grad()
    def predict(self, x: torch.Tensor) -> torch.Tensor:
        """Predicted class indices for a batch of inputs."""
        return self(x).argmax(dim=1)

    # -- the optimizer (owned by the base) -------------------------------------------------
    def param_groups(self) -> list[dict[str, Any]]:
        """What the optimizer trains, as torch param groups (a group may set its own `lr`,
        `weight_decay`, ...). Default: every parameter that requires a gradient."""
        return [{"params": [p for p in self.parameters() if p.requires_grad]}]

    def optimizer_settings(self) -> dict[str, Any]:
        """The optimizer's name and hyperparameters (`optim.OPTIMIZERS`); from `train.*` by
        default. A change of settings or parameters rebuilds the optimizer."""
        return optim.settings_from_train(self.cfg.train)

    def optimizer_state(self) -> dict[str, Any]:  # runner: what a checkpoint keeps
        return self._optimizers.state()

    def load_optimizer_state(self, state: dict[str, Any]) -> None:  # runner: on resume
        self._optimizers.load(state)

    def configure_optimizers(self) -> torch.optim.Optimizer:
        self._step_in_fit = 0
        return self._optimizers.get(
            self, self.optimizer_settings(), self.param_groups(), self.experience_index
        )

    # -- the training step ------------------------------------------------------------------
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.backbone(x))

    def inputs(self, x: torch.Tensor) -> torch.Tensor:
        """A raw batch as model input on this device, for every sample (docs/data-path.md)."""
        return self.input_pipeline(x.to(self.device), param_dtype(self.backbone))

    def augment(self, x: torch.Tensor) -> torch.Tensor:
        """The training view of a raw batch: the scenario's augmentation, on the device, drawn
        from the stream `rng("augment")`. Apply it to every sample trained on, replayed ones
        included. Under DDP the global batch is augmented on every process and each keeps its
        rows, so N processes draw exactly what one does."""
        if self._augment_name == "none":
            return x
        world, rank = world_rank()
        return self._augment(gather_interleaved(x), self.rng("augment"))[rank::world]

    def loss(self, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        """The training loss of a raw batch."""
        return F.cross_entropy(self(self.augment(x)), y)

    def step_loss(self, batch: Any, batch_idx: int) -> torch.Tensor:
        """The loss of one training batch (default: `loss(x, y)`, tracked for logging)."""
        loss = self.loss(batch[0], batch[1])
        self.track_loss("train/loss", loss, batch_idx)
        return loss

    def training_step(self, batch: Any, batch_idx: int) -> torch.Tensor:
        batch = [self.inputs(batch[0]), *batch[1:]]  # float batches: the same tensor
        if self._channels_last and batch[0].dim() == 4:
            batch = [batch[0].contiguous(memory_format=torch.channels_last), *batch[1:]]
        loss = self.step_loss(batch, batch_idx)
        opt = self.optimizers()
        self._step_in_fit += 1
        self.lr_schedule.apply(opt.param_groups, self._step_in_fit)
        opt.zero_grad()
        self.manual_backward(loss)
        opt.step()
        if self.experience_index is not None and self.experience_index < len(self.steps_taken):
            self.steps_taken[self.experience_index] += 1
        return loss

    def track_loss(self, name: str, loss: torch.Tensor, batch_idx: int) -> None:
        """Keep the loss for the end-of-epoch check and log it at the logger's interval
        (`self.log` costs about 1 ms a call: not on every step)."""
        self._last_loss = loss.detach()
        # the steps Lightning's logger writes (it writes after (step + 1) % n == 0)
        if (self.global_step + 1) % self.trainer.log_every_n_steps == 0:
            self.log(name, loss, on_step=True, on_epoch=False, prog_bar=True)

    def on_train_epoch_end(self) -> None:
        # Once per epoch, not per step (no host-device sync in the loop): a NaN or infinite
        # loss leaves non-finite weights behind, so the last loss and the weights show it.
        last = self._last_loss
        trained = [p.detach().sum() for p in self.parameters() if p.requires_grad]
        # one reduction per tensor (a NaN anywhere makes its sum NaN), one sync in all
        weights_ok = not trained or bool(torch.isfinite(torch.stack(trained)).all())
        if not weights_ok or (last is not None and not bool(torch.isfinite(last))):
            raise ClbenchError(
                f"training loss became NaN or infinite (epoch {self.current_epoch}); "
                "lower train.lr or check the data"
            )

    def configure_callbacks(self) -> list[Any]:
        # Lightning calls every hook of every callback on every step: attach only what is used
        return (
            []
            if is_trivial(self.lr_schedule.train_cfg)
            else [AnnealForEvaluation(self.lr_schedule)]
        )
