"""Image scenario loaders on tiny files written in the exact on-disk formats."""

from __future__ import annotations

import pytest
import torch
from fake_data import write_cifar10, write_cifar100

from clbench.compose import compose
from clbench.errors import ClbenchError, DataNotFoundError
from scenarios import SCENARIOS


def _build(name, root, *overrides):
    cfg = compose("finetune", name, None, [f"data.root={root}", *overrides])
    return SCENARIOS.load(name).build(cfg.scenario, cfg.data)


def _check_shape(name, sc, exps):
    declared = SCENARIOS.get(name).meta["input_shape"]
    assert sc.input_shape == declared
    for e in exps:
        assert tuple(e.train.tensors[0].shape[1:]) == declared
        assert e.train.tensors[0].dtype == torch.uint8  # stored; normalised on the device


def test_split_cifar10_reads_the_python_pickles(tmp_path):
    write_cifar10(tmp_path, per_class_train=3, per_class_test=2)
    sc = _build("split-cifar10", tmp_path)
    exps = sc.experiences()
    assert [e.classes for e in exps] == [[0, 1], [2, 3], [4, 5], [6, 7], [8, 9]]
    assert [len(e.train) for e in exps] == [6] * 5 and [len(e.test) for e in exps] == [4] * 5
    _check_shape("split-cifar10", sc, exps)
    assert sc.info["train_transform"] == "crop-pad4-flip"
    # normalised with the CIFAR-10 statistics on the way to the model: beyond [0, 1]
    from clbench.inputs import InputPipeline

    x = InputPipeline.of(sc.info)(exps[0].train.tensors[0])
    assert x.dtype == torch.float32 and x.min() < -1.5 and x.max() > 1.5


def test_split_cifar10_pixels_and_labels_are_the_files(tmp_path):
    import pickle

    folder = write_cifar10(tmp_path)
    with open(folder / "data_batch_1", "rb") as f:
        d = pickle.load(f, encoding="latin1")
    from scenarios.cifar import load_cifar

    x, y = load_cifar("cifar10", tmp_path, train=True)
    assert torch.equal(
        x[: len(d["labels"])].reshape(len(d["labels"]), -1), torch.as_tensor(d["data"])
    )
    assert y[: len(d["labels"])].tolist() == d["labels"]


def test_split_cifar100_first_experience_of_50_classes(tmp_path):
    write_cifar100(tmp_path)
    sc = _build("split-cifar100", tmp_path, "scenario.first_classes=50", "scenario.n_experiences=6")
    exps = sc.experiences()
    assert [len(e.classes) for e in exps] == [50, 10, 10, 10, 10, 10]
    assert len(exps[0].train) == 100 and len(exps[0].test) == 50
    _check_shape("split-cifar100", sc, exps)


def test_split_cifar100_seeded_class_order(tmp_path):
    write_cifar100(tmp_path)
    sc = _build("split-cifar100", tmp_path, "scenario.class_order_seed=1993")
    assert sorted(sc.class_order) == list(range(100)) and sc.class_order[:3] != [0, 1, 2]
    assert [len(e.classes) for e in sc.experiences()] == [10] * 10


def test_split_cifar100_bad_split_is_one_line(tmp_path):
    write_cifar100(tmp_path)
    with pytest.raises(ClbenchError, match="split evenly"):
        _build("split-cifar100", tmp_path, "scenario.first_classes=50", "scenario.n_experiences=4")


def test_missing_cifar_names_the_file_and_download(tmp_path):
    with pytest.raises(DataNotFoundError) as info:
        _build("split-cifar10", tmp_path)
    msg = str(info.value)
    assert "\n" not in msg
    assert str(tmp_path / "cifar-10-batches-py" / "data_batch_1") in msg
    assert "data.download=true" in msg


def test_corrupt_cifar_pickle_names_the_file(tmp_path):
    folder = write_cifar10(tmp_path)
    (folder / "test_batch").write_bytes(b"not a pickle")
    with pytest.raises(ClbenchError, match="test_batch") as info:
        _build("split-cifar10", tmp_path)
    assert "\n" not in str(info.value)


def test_online_option_is_recorded(tmp_path):
    write_cifar10(tmp_path)
    sc = _build("split-cifar10", tmp_path, "scenario.online=true", "scenario.batch_size=10")
    assert sc.info["online"] == {"batch_size": 10, "epochs": 1}


def test_split_cifar10_end_to_end(tmp_path, results_dir):
    from conftest import quick_cfg

    from clbench.runner import run

    write_cifar10(tmp_path, per_class_train=4, per_class_test=2)
    cfg = quick_cfg(
        "finetune",
        "split-cifar10",
        results_dir,
        f"data.root={tmp_path}",
        "backbone.name=convnet",
        "train.epochs=1",
        "train.batch_size=8",
    )
    rec = run(cfg).record
    assert len(rec["accuracy_matrix"]) == 5 and rec["test_sizes"] == [4] * 5
    assert rec["kind"] == "class-il"


def test_split_tinyimagenet_reads_the_folder(tmp_path):
    from fake_data import write_tinyimagenet

    write_tinyimagenet(tmp_path, n_classes=200, train=1, val=1)
    sc = _build("split-tinyimagenet", tmp_path)
    exps = sc.experiences()
    assert [len(e.classes) for e in exps] == [20] * 10
    assert [len(e.train) for e in exps] == [20] * 10 and [len(e.test) for e in exps] == [20] * 10
    _check_shape("split-tinyimagenet", sc, exps)
    # labels follow wnids.txt: the first wnid's only training image is class 0
    assert sorted(exps[0].train.tensors[1].tolist()) == list(range(20))


def test_tinyimagenet_under_avalanche_folder_and_bad_annotation(tmp_path):
    from fake_data import write_tinyimagenet

    folder = write_tinyimagenet(tmp_path / "tinyimagenet", n_classes=200, train=1, val=1)
    assert len(_build("split-tinyimagenet", tmp_path).experiences()) == 10
    ann = folder / "val" / "val_annotations.txt"
    ann.write_text(ann.read_text().replace("\tn", "\tx", 1))
    with pytest.raises(ClbenchError, match="val_annotations.txt, line 1"):
        _build("split-tinyimagenet", tmp_path)


def test_core50_new_instances(tmp_path):
    from fake_data import write_core50

    write_core50(tmp_path, objects=3, frames=2)
    sc = _build("core50", tmp_path)
    exps = sc.experiences()
    assert len(exps) == 8 and all(e.classes == [0, 1, 2] for e in exps)
    assert [len(e.train) for e in exps] == [6] * 8
    assert all(e.test is exps[0].test for e in exps) and len(exps[0].test) == 18
    _check_shape("core50", sc, exps)
    assert SCENARIOS.get("core50").meta["kind"] == "domain-il" and sc.info["shared_test_set"]
    cats = _build("core50", tmp_path, "scenario.object_level=false", "scenario.frame_stride=2")
    e = cats.experiences()[0]
    assert e.classes == [0] and len(e.train) == 3


def test_core50_missing_image_names_the_list(tmp_path):
    from fake_data import write_core50

    base = write_core50(tmp_path, objects=1, frames=1)
    gone = base / "core50_128x128" / "s4" / "o1" / "C_04_01_000.png"
    gone.unlink()
    with pytest.raises(DataNotFoundError) as info:
        _build("core50", tmp_path)
    assert "train_batch_02_filelist.txt" in str(info.value) and str(gone) in str(info.value)
