"""Strategy registry. Each entry declares the scenario kinds the strategy supports, so that
`clbench list` and the runner's compatibility check need no heavy imports."""

from clbench.registry import Registry

STRATEGIES = Registry("strategy")
STRATEGIES.add(
    "finetune",
    "strategies.finetune:Finetune",
    "plain SGD on each experience in turn (lower bound: forgets)",
    kinds=("class-il", "domain-il", "instance"),
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
    "experience replay from a reservoir buffer of strategy.buffer_size samples, or a FIFO of "
    "the last strategy.fifo_sets experiences (strategy.buffer_policy=fifo-sets)",
    kinds=("class-il", "domain-il", "instance"),
)
STRATEGIES.add(
    "lwf",
    "strategies.lwf:LwF",
    "Learning without Forgetting: distillation from the model of the previous experience",
    kinds=("class-il", "domain-il"),
)
STRATEGIES.add(
    "ewc",
    "strategies.ewc:EWC",
    "online EWC: quadratic penalty on the weights, diagonal Fisher accumulated with a decay",
    kinds=("class-il", "domain-il"),
)
STRATEGIES.add(
    "er-ace",
    "strategies.er_ace:ERACE",
    "ER-ACE: replay, the current batch's cross-entropy masked to the classes it holds",
    kinds=("class-il",),
)
STRATEGIES.add(
    "nmc",
    "strategies.nmc:NMC",
    "nearest class mean on a frozen backbone (no training, no exemplars)",
    kinds=("class-il", "fscil", "instance"),
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
    "powerlaw-replay",
    "strategies.powerlaw_replay:PowerLawReplay",
    "rehearsal of one past task per step, chosen by a power law of the time since last seen",
    kinds=("domain-il", "class-il"),
)
STRATEGIES.add(
    "fscil-tricks",
    "strategies.fscil_tricks:FscilTricks",
    "FSCIL bag of tricks: frozen prototype baseline + switchable SupCon, ETF, pseudo-classes, "
    "SubNet tuning, rotation",
    kinds=("fscil",),
)
STRATEGIES.add(
    "fast-slow",
    "strategies.fast_slow:FastSlow",
    "few-shot continual learning with fast (Fisher-anchored) and slow (consolidated) weights",
    kinds=("fscil",),
)
STRATEGIES.add(
    "tent",
    "strategies.tent:Tent",
    "CTTA: test-batch BN statistics + entropy minimisation of the BN affine parameters",
    kinds=("ctta",),
)
STRATEGIES.add(
    "vdp",
    "strategies.vdp:VDP",
    "CTTA: frozen source model, learned input prompts (domain-specific + agnostic), EMA teacher",
    kinds=("ctta",),
)
STRATEGIES.add(
    "cotta",
    "strategies.cotta:CoTTA",
    "CTTA: whole model adapted to EMA-teacher pseudo-labels (augmentation-averaged when "
    "unsure), stochastic restore to the source weights",
    kinds=("ctta",),
)
STRATEGIES.add(
    "onpro",
    "strategies.onpro:OnPro",
    "online CL: online prototype equilibrium + adaptive prototypical feedback (run online)",
    kinds=("class-il",),
)
STRATEGIES.add(
    "icarl",
    "strategies.icarl:ICaRL",
    "iCaRL: herding exemplars, distillation with BCE, nearest-mean-of-exemplars classifier",
    kinds=("class-il",),
)
STRATEGIES.add(
    "derpp",
    "strategies.derpp:DERpp",
    "DER++: replay of stored logits (MSE) and labels (CE) from a reservoir filled per batch",
    kinds=("class-il", "domain-il"),
)
STRATEGIES.add(
    "gdumb",
    "strategies.gdumb:GDumb",
    "GDumb: greedy class-balanced memory; retrained from scratch on it before evaluation",
    kinds=("class-il", "domain-il"),
)
STRATEGIES.add(
    "ocm",
    "strategies.ocm:OCM",
    "online: CE + OCM's instance contrast over rotation pseudo-classes + contrast with the "
    "previous model, reservoir buffer",
    kinds=("class-il",),
)
