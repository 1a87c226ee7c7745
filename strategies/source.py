"""Source model, no adaptation: the reference of continual test-time adaptation (CTTA).

The model is trained on the scenario's clean, labelled source data before the stream (or
loaded from `backbone.checkpoint` with `train.epochs=0`) and then predicts every corruption
domain unchanged; every CTTA method (e.g. CoTTA, VDP) is measured against it. Default
backbone `convnet`, as tent and vdp, so that all three start from the same source model.
Online scoring (strategies/tta.py): the model never changes, so its online error equals the
offline one. Notes: docs/strategies/source.md.
"""

from __future__ import annotations

import torch

from clbench.stream import Experience
from strategies.base import Strategy


class Source(Strategy):
    defaults = {"backbone": {"name": "convnet"}}

    def train_epochs(self, exp: Experience) -> int:
        return 0  # never adapts to the stream

    @torch.no_grad()
    def online_predictions(self, exp: Experience) -> torch.Tensor:
        was_training = self.training
        self.train(False)
        x, bs = exp.test.tensors[0], int(self.cfg.train.batch_size)
        out = [self.predict(self.inputs(x[s : s + bs])).cpu() for s in range(0, len(x), bs)]
        self.train(was_training)
        return torch.cat(out).to(torch.int64)
