"""scikit-learn's 8x8 handwritten digits (1,797 images): the fastest real stream, for tests."""

from __future__ import annotations

import torch

from clbench.stream import Scenario
from scenarios.base import (
    ScenarioSpec,
    SplitParams,
    class_incremental,
    resolve_class_order,
    split_classes,
    stratified_split,
)
from scenarios.imagedata import online_info

N_TEST = 360  # about 20%, stratified
SPLIT_SEED = 0


def build(params: SplitParams, data: object) -> Scenario:
    from sklearn.datasets import load_digits

    digits = load_digits()
    tr, te = stratified_split(digits.target, N_TEST, SPLIT_SEED)
    x = torch.as_tensor(digits.images, dtype=torch.float32).unsqueeze(1) / 16.0
    x = (x - 0.5) / 0.5
    y = torch.as_tensor(digits.target, dtype=torch.int64)
    order = resolve_class_order(params.class_order, 10, params.name, params.class_order_seed)
    bench = class_incremental(
        (x[tr], y[tr]), (x[te], y[te]), order, split_classes(10, params.n_experiences, params.name)
    )
    return Scenario(params.name, 10, (1, 8, 8), order, bench, online_info(params))


SPLIT_DIGITS = ScenarioSpec(
    SplitParams,
    build,
    {
        "train": {"epochs": 5, "lr": 0.05, "momentum": 0.9, "batch_size": 32},
        "backbone": {"hidden_dim": 100},
    },
)
