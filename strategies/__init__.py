"""Strategy registry. Each entry declares the scenario kinds the strategy supports, so that
`clbench list` and the runner's compatibility check need no heavy imports."""

from clbench.registry import Registry

STRATEGIES = Registry("strategy")
STRATEGIES.add(
    "finetune",
    "strategies.finetune:Finetune",
    "plain SGD on each experience in turn (lower bound: forgets)",
    kinds=("class-il", "domain-il"),
)
STRATEGIES.add(
    "joint",
    "strategies.joint:Joint",
    "retrains on the union of all data seen so far (upper bound)",
    kinds=("class-il", "domain-il"),
)
STRATEGIES.add(
    "replay",
    "strategies.replay:Replay",
    "experience replay from a reservoir buffer of strategy.buffer_size samples",
    kinds=("class-il", "domain-il"),
)
STRATEGIES.add(
    "nmc",
    "strategies.nmc:NMC",
    "nearest class mean on a frozen backbone (no training, no exemplars)",
    kinds=("class-il", "fscil"),
)
STRATEGIES.add(
    "teen",
    "strategies.teen:TEEN",
    "FSCIL: cosine classifier on the base session, calibrated prototypes for new classes",
    kinds=("fscil",),
)
STRATEGIES.add(
    "source",
    "strategies.source:Source",
    "CTTA reference: the source model, trained on clean data, never adapted",
    kinds=("ctta",),
)
STRATEGIES.add(
    "onpro",
    "strategies.onpro:OnPro",
    "online CL: online prototype equilibrium + adaptive prototypical feedback (run online)",
    kinds=("class-il",),
)
