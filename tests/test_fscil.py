"""FSCIL streams: sessions are exactly the index lists; format-exact fake data; the real CEC
lists (when ../shared holds them) give the standard session sizes."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from conftest import SHARED
from fake_data import write_cifar100, write_cub, write_mini, write_session_lists

from clbench.compose import compose
from clbench.errors import ClbenchError, DataNotFoundError
from scenarios import SCENARIOS

LISTS = SHARED / "data" / "fscil_index_lists"


def _build(name, root, *overrides):
    cfg = compose("finetune", name, None, [f"data.root={root}", *overrides])
    return SCENARIOS.load(name).build(cfg.scenario, cfg.data)


def _cifar_lists(tmp_path, labels):
    """Standard-shaped lists over fake CIFAR-100: all of classes 0..59, then 5 x 5 shots."""
    base = np.flatnonzero(labels < 60).tolist()
    sessions = [base]
    for s in range(8):
        sessions.append(
            [i for c in range(60 + 5 * s, 65 + 5 * s) for i in np.flatnonzero(labels == c)[1:6]]
        )
    return write_session_lists(tmp_path / "lists" / "cifar100", sessions), sessions


def test_cifar100_fscil_sessions_are_the_lists(tmp_path):
    from scenarios.cifar import load_cifar

    write_cifar100(tmp_path, per_class_train=6, per_class_test=2)
    x, y = load_cifar("cifar100", tmp_path, True)
    _, sessions = _cifar_lists(tmp_path, y.numpy())
    sc = _build("cifar100", tmp_path, f"scenario.index_lists={tmp_path / 'lists'}")
    exps = sc.experiences()
    assert len(exps) == 9
    assert exps[0].classes == list(range(60)) and len(exps[0].train) == 360
    for s, e in enumerate(exps[1:]):
        assert e.classes == list(range(60 + 5 * s, 65 + 5 * s)) and len(e.train) == 25
        assert len(e.test) == 10  # every test image of the 5 new classes
    # exactly the listed training images, in list order
    want = x[torch.as_tensor(sessions[3])]  # uint8, as stored
    assert torch.equal(exps[3].train.tensors[0], want)
    assert exps[3].train.tensors[1].tolist() == y[torch.as_tensor(sessions[3])].tolist()
    # test experiences 0..t pooled = all test images of the classes seen so far
    assert sum(len(e.test) for e in exps) == 200
    # the protocol's shape, but not CEC's lists: not comparable with the papers' numbers
    assert sc.info["standard_protocol"] is False and sc.info["session_sizes"] == [360] + [25] * 8
    assert sc.info["sessions"]["source"] == "index_lists" and sc.info["protocol"] == "cec"
    assert sc.input_shape == SCENARIOS.get("cifar100").meta["input_shape"]


def test_fscil_seeded_protocol_is_marked_non_standard(tmp_path):
    write_cifar100(tmp_path, per_class_train=6)
    a = _build("cifar100", tmp_path, "scenario.protocol=seeded")
    b = _build("cifar100", tmp_path, "scenario.protocol=seeded", "scenario.shot_seed=1")
    assert a.info["standard_protocol"] is False
    ea, eb = a.experiences(), b.experiences()
    assert [len(e.train) for e in ea] == [360] + [25] * 8
    assert [e.classes for e in ea] == [e.classes for e in eb]
    assert not torch.equal(ea[1].train.tensors[0], eb[1].train.tensors[0])


def test_malformed_list_names_file_and_line(tmp_path):
    write_cifar100(tmp_path)
    folder = tmp_path / "lists" / "cifar100"
    write_session_lists(folder, [[0, 1, "abc"]] + [[100 + s] for s in range(8)])
    with pytest.raises(ClbenchError) as info:
        _build("cifar100", tmp_path, f"scenario.index_lists={tmp_path / 'lists'}")
    assert f"{folder / 'session_1.txt'}, line 3" in str(info.value)


def test_missing_session_file_is_named(tmp_path):
    write_cifar100(tmp_path)
    folder = tmp_path / "lists"
    write_session_lists(folder, [[0], [1]])  # lists directly in the folder: accepted
    with pytest.raises(DataNotFoundError, match="session_3.txt"):
        _build("cifar100", tmp_path, f"scenario.index_lists={folder}")


def _cub_sessions(entries):
    return [entries[0] + entries[1]] + [entries[c] for c in range(2, 12)]


def test_cub200_fscil_reads_the_cub_folder(tmp_path):
    entries = write_cub(tmp_path, n_classes=12, train=2, test=1)
    write_session_lists(tmp_path / "lists" / "cub200", _cub_sessions(entries))
    lists = f"scenario.index_lists={tmp_path / 'lists'}"
    sc = _build("cub200", tmp_path, lists, "scenario.protocol=custom")
    exps = sc.experiences()
    assert len(exps) == 11 and exps[0].classes == [0, 1] and exps[10].classes == [11]
    assert [len(e.train) for e in exps] == [4] + [2] * 10
    assert [len(e.test) for e in exps] == [2] + [1] * 10
    assert tuple(exps[0].train.tensors[0].shape[1:]) == (3, 224, 224)
    assert sc.input_shape == SCENARIOS.get("cub200").meta["input_shape"]
    assert sc.info["train_transform"] == "random-resized-crop-flip"


def test_cub_list_naming_an_unknown_or_missing_image(tmp_path):
    entries = write_cub(tmp_path, n_classes=12)
    sessions = _cub_sessions(entries)
    sessions[2] = sessions[2] + ["CUB_200_2011/images/999.Nope/x.jpg"]
    folder = write_session_lists(tmp_path / "lists" / "cub200", sessions)
    custom = (f"scenario.index_lists={tmp_path / 'lists'}", "scenario.protocol=custom")
    with pytest.raises(ClbenchError) as info:
        _build("cub200", tmp_path, *custom)
    assert f"{folder / 'session_3.txt'}, line 3" in str(info.value)
    assert "999.Nope/x.jpg" in str(info.value)

    sessions = _cub_sessions(entries)
    write_session_lists(folder, sessions)
    gone = tmp_path / sessions[4][1]
    gone.unlink()
    with pytest.raises(DataNotFoundError) as info:
        _build("cub200", tmp_path, *custom)
    msg = str(info.value)
    assert f"{folder / 'session_5.txt'}, line 2" in msg and str(gone) in msg and "\n" not in msg


def test_missing_cub_folder_is_one_line(tmp_path):
    write_session_lists(tmp_path / "lists" / "cub200", [["x"]] * 11)
    with pytest.raises(DataNotFoundError) as info:
        _build("cub200", tmp_path, f"scenario.index_lists={tmp_path / 'lists'}")
    assert str(tmp_path / "CUB_200_2011" / "images.txt") in str(info.value)


def test_miniimagenet_fscil_reads_images_and_csvs(tmp_path):
    entries = write_mini(tmp_path, n_classes=9, train=3, test=2)
    sessions = [entries[0]] + [entries[c][:2] for c in range(1, 9)]
    write_session_lists(tmp_path / "lists" / "mini_imagenet", sessions)
    lists = f"scenario.index_lists={tmp_path / 'lists'}"
    sc = _build("mini_imagenet", tmp_path, lists, "scenario.protocol=custom")
    exps = sc.experiences()
    assert [e.classes for e in exps] == [[c] for c in range(9)]
    assert [len(e.train) for e in exps] == [3] + [2] * 8
    assert [len(e.test) for e in exps] == [2] * 9
    assert tuple(exps[0].test.tensors[0].shape[1:]) == (3, 84, 84)


# -- the real CEC lists ---------------------------------------------------------------------


def _need_lists():
    if not LISTS.is_dir():
        pytest.skip(f"{LISTS} not present")


def test_cec_cifar100_lists():
    from scenarios.fscil_sessions import read_lists

    _need_lists()
    lists = read_lists(LISTS / "cifar100", 9)
    sizes = [len(lines) for _, lines in lists]
    assert sizes == [30000] + [25] * 8
    idx = [int(x) for _, lines in lists for x in lines]
    assert len(set(idx)) == len(idx) and 0 <= min(idx) and max(idx) < 50000
    # the class structure needs CIFAR-100's labels: checked when the real data is at hand
    import os

    from clbench.datasets import find

    root = os.environ.get("CLBENCH_DATA")
    if root and find("cifar100", root)[0] is not None:
        from scenarios.cifar import load_cifar

        y = load_cifar("cifar100", root, True)[1].numpy()
        per = [np.unique(y[[int(x) for x in lines]]) for _, lines in lists]
        assert per[0].tolist() == list(range(60))
        assert all(len(p) == 5 for p in per[1:])


def _fake_cub_metadata(root, lists):
    """CUB metadata naming exactly the listed images (class from the folder number)."""
    folder = root / "CUB_200_2011"
    (folder / "images").mkdir(parents=True)
    rows = [x.removeprefix("CUB_200_2011/images/") for _, lines in lists for x in lines]
    (folder / "images.txt").write_text("".join(f"{k} {r}\n" for k, r in enumerate(rows, 1)))
    (folder / "image_class_labels.txt").write_text(
        "".join(f"{k} {int(r[:3])}\n" for k, r in enumerate(rows, 1))
    )
    (folder / "train_test_split.txt").write_text(
        "".join(f"{k} 1\n" for k in range(1, len(rows) + 1))
    )
    (folder / "classes.txt").write_text("".join(f"{c} c{c}\n" for c in range(1, 201)))


def _class_counts(sessions, labels):
    return [(len(np.unique(labels[s])), len(s)) for s in sessions]


def test_cec_cub200_lists(tmp_path):
    from scenarios.fscil_pools import cub_pools
    from scenarios.fscil_sessions import read_lists, resolve_sessions

    _need_lists()
    lists = read_lists(LISTS / "cub200", 11)
    _fake_cub_metadata(tmp_path, lists)
    train, _ = cub_pools(tmp_path)
    sessions = resolve_sessions(lists, train, check_files=False)
    assert _class_counts(sessions, train.labels) == [(100, 3000)] + [(10, 50)] * 10
    assert np.unique(train.labels[sessions[0]]).tolist() == list(range(100))


def test_cec_miniimagenet_lists(tmp_path):
    from scenarios.fscil_pools import mini_pools
    from scenarios.fscil_sessions import read_lists, resolve_sessions

    _need_lists()
    folder = tmp_path / "miniimagenet"
    (folder / "images").mkdir(parents=True)
    (folder / "split").mkdir()
    for csv in ("train.csv", "test.csv"):
        (folder / "split" / csv).write_text((LISTS / "mini_imagenet" / csv).read_text())
    lists = read_lists(LISTS / "mini_imagenet", 9)
    train, test = mini_pools(tmp_path)
    sessions = resolve_sessions(lists, train, check_files=False)
    assert _class_counts(sessions, train.labels) == [(60, 30000)] + [(5, 25)] * 8
    assert np.unique(train.labels[sessions[0]]).tolist() == list(range(60))
    assert len(test.labels) == 10000 and np.bincount(test.labels).tolist() == [100] * 100
