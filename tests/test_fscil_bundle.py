"""The FSCIL streams under the literature's names, with CEC's session lists shipped in the
package: `clbench run --strategy teen --scenario cub200` on a format-exact fake CUB-200-2011
folder, the shipped lists equal to ../shared's copy, the protocol check, aliases."""

from __future__ import annotations

import fnmatch
import gzip
import json
from pathlib import Path

import numpy as np
import pytest
import tomllib
from conftest import REPO, SHARED
from fake_data import _jpeg, write_cub, write_session_lists

from clbench.cli import main
from clbench.compose import compose
from clbench.errors import ClbenchError
from clbench.experiments import run_label
from scenarios import SCENARIOS
from scenarios.fscil import FSCIL_DATASETS
from scenarios.fscil_sessions import bundled_dir, lists_sha256, read_lists, read_text

LISTS = SHARED / "data" / "fscil_index_lists"
N_SESSIONS = {"cifar100": 9, "cub200": 11, "mini_imagenet": 9}
QUIET = ["trainer.accelerator=cpu", "trainer.progress_bar=false"]


def test_shipped_lists_hash_to_cec_and_have_the_protocol_sizes():
    sizes = {"cifar100": 30000, "cub200": 3000, "mini_imagenet": 30000}
    for name, n in N_SESSIONS.items():
        ds = FSCIL_DATASETS[name]
        lists = read_lists(bundled_dir(name), n)
        assert lists_sha256(lists) == ds.cec_sha256, name
        per = ds.shape.ways * ds.shape.shots
        assert [len(lines) for _, lines in lists] == [sizes[name]] + [per] * (n - 1), name


@pytest.mark.parametrize("name", list(N_SESSIONS))
def test_shipped_lists_equal_the_shared_copy(name):
    if not LISTS.is_dir():
        pytest.skip(f"{LISTS} not present")
    src, ours = LISTS / name, bundled_dir(name)
    for s in range(1, N_SESSIONS[name] + 1):
        f = f"session_{s}.txt"
        assert read_text(ours, f)[1] == (src / f).read_text(), f"{name}/{f}"
        if s > 1:  # the few-shot sessions verbatim
            assert (ours / f).read_bytes() == (src / f).read_bytes()
    if name == "mini_imagenet":
        for split in ("train", "test"):
            csv = read_text(ours, f"{split}.csv")[1]
            assert csv == (src / f"{split}.csv").read_text()
            # CEC's train.txt / test.txt (not shipped) are the same split as paths
            rows = [r.split(",") for r in csv.splitlines()[1:]]
            paths = [f"MINI-ImageNet/{split}/{w}/{f}" for f, w in rows]
            assert paths == (src / f"{split}.txt").read_text().splitlines()
    assert lists_sha256(read_lists(src, N_SESSIONS[name])) == FSCIL_DATASETS[name].cec_sha256


def test_pyproject_ships_every_list_file():
    """`pip install .` copies scenarios/fscil_lists/ (package-data globs cover every file; a
    wheel built with `pip wheel .` holds the 32 files)."""
    globs = tomllib.loads((REPO / "pyproject.toml").read_text())["tool"]["setuptools"][
        "package-data"
    ]["scenarios"]
    root = REPO / "scenarios"
    files = [p for p in (root / "fscil_lists").rglob("*") if p.is_file()]
    assert len(files) == 32
    for p in files:
        rel = str(p.relative_to(root))
        assert any(fnmatch.fnmatch(rel, g) and rel.count("/") == g.count("/") for g in globs), rel


def test_old_names_are_aliases_of_the_canonical_ones(tmp_path, capsys):
    for old, new in (
        ("cifar100-fscil", "cifar100"),
        ("cub200-fscil", "cub200"),
        ("miniimagenet-fscil", "mini_imagenet"),
    ):
        assert SCENARIOS.get(old).name == new
        assert compose("teen", old, None, [f"results.dir={tmp_path}"]).scenario.name == new
        # an alias and its canonical name, one on the command line and one as a setting, agree
        both = compose("teen", new, None, [f"scenario.name={old}", f"results.dir={tmp_path}"])
        assert both.scenario.name == new
    with pytest.raises(ClbenchError, match="conflicts with scenario.name=cifar100"):
        compose("teen", "cub200", None, ["scenario.name=cifar100-fscil"])
    assert main(["list"]) == 0
    out = capsys.readouterr().out
    line = next(ln for ln in out.splitlines() if ln.strip().startswith("cub200 "))
    assert "(alias: cub200-fscil)" in line and "[fscil, input 3x224x224]" in line
    assert not any(ln.strip().startswith("cub200-fscil") for ln in out.splitlines())


# -- a fake CUB_200_2011 holding the images CEC's lists name -------------------------------


def write_cub_for_cec(root: Path, test_per_class: int = 1) -> int:
    """CUB_200_2011 whose training images are exactly those of the shipped CEC lists (8x8 JPEGs),
    plus `test_per_class` test images a class. images.txt also names one unlisted training
    image a class that is not on disk: a stream that read it would fail. Returns its count."""
    rng = np.random.default_rng(0)
    folder = root / "CUB_200_2011"
    listed = [x for _, lines in read_lists(bundled_dir("cub200"), 11) for x in lines]
    rows = [(x.removeprefix("CUB_200_2011/images/"), 1) for x in listed]
    classes = sorted({r.split("/")[0] for r, _ in rows})
    for c in classes:
        rows += [(f"{c}/Unlisted_{c[:3]}.jpg", 1)]
        rows += [(f"{c}/Test_{c[:3]}_{j}.jpg", 0) for j in range(test_per_class)]
    for rel, _ in rows:
        if "Unlisted" not in rel:
            _jpeg(folder / "images" / rel, rng, (8, 8))
    for name, col in (
        ("images", lambda r: r[0]),
        ("image_class_labels", lambda r: int(r[0][:3])),
        ("train_test_split", lambda r: r[1]),
    ):
        text = "".join(f"{k} {col(r)}\n" for k, r in enumerate(rows, start=1))
        (folder / f"{name}.txt").write_text(text)
    (folder / "classes.txt").write_text("".join(f"{k} {c}\n" for k, c in enumerate(classes, 1)))
    return len(classes)


@pytest.mark.slow
def test_teen_on_cub200_runs_the_cec_sessions(tmp_path, capsys):
    assert write_cub_for_cec(tmp_path) == 200
    args = ["run", "--strategy", "teen", "--scenario", "cub200", f"data.root={tmp_path}"]
    small = ["scenario.image_size=16", "backbone.name=mlp", "backbone.hidden_dim=16"]
    out = tmp_path / "results"
    assert main([*args, *QUIET, *small, "train.epochs=1", f"results.dir={out}"]) == 0
    (path,) = (out / "runs" / "cub200" / "teen").glob("*.json")
    rec = json.loads(path.read_text())
    assert rec["scenario"] == "cub200" and rec["config"]["scenario"]["index_lists"] is None
    classes = rec["experience_classes"]
    assert classes[0] == list(range(100)) and len(classes) == 11
    assert [c for s in classes[1:] for c in s] == list(range(100, 200))
    assert all(len(s) == 10 for s in classes[1:])
    assert rec["sessions"]["source"] == "CEC"
    assert run_label(rec) == "teen [CEC sessions]"
    assert rec["sessions"]["sha256"] == FSCIL_DATASETS["cub200"].cec_sha256
    assert rec["test_sizes"] == [100] + [10] * 10  # one test image a class
    assert len(rec["accuracy_matrix"]) == 11


def test_cub200_without_the_data_says_where_to_put_and_get_it(tmp_path, capsys):
    args = ["run", "--strategy", "teen", "--scenario", "cub200", f"data.root={tmp_path}"]
    assert main([*args, *QUIET, f"results.dir={tmp_path / 'r'}"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "Traceback" not in err
    assert str(tmp_path / "CUB_200_2011" / "images.txt") in err  # where to put it
    assert "https://data.caltech.edu/records/65de6-vp158" in err  # where to get it


# -- the protocol check ---------------------------------------------------------------------


def _cub_cfg(tmp_path, *over):
    cfg = compose("teen", "cub200", None, [f"data.root={tmp_path}", *over])
    return SCENARIOS.load("cub200").build, cfg


def test_lists_of_another_shape_need_protocol_custom(tmp_path):
    entries = write_cub(tmp_path, n_classes=12, train=6, test=1)
    sessions = [entries[0] + entries[1]] + [entries[c][:5] for c in range(2, 12)]
    write_session_lists(tmp_path / "lists" / "cub200", sessions)
    lists = f"scenario.index_lists={tmp_path / 'lists'}"
    build, cfg = _cub_cfg(tmp_path, lists)
    with pytest.raises(ClbenchError) as info:
        build(cfg.scenario, cfg.data)
    msg = str(info.value)
    assert "session_1.txt: 2 classes, but the cub200 protocol has 100 base classes" in msg
    assert "scenario.protocol=custom" in msg and "\n" not in msg
    build, cfg = _cub_cfg(tmp_path, lists, "scenario.protocol=custom", "scenario.image_size=8")
    sc = build(cfg.scenario, cfg.data)
    assert sc.info["sessions"]["source"] == "index_lists" and sc.input_shape == (3, 8, 8)
    assert sc.info["standard_protocol"] is False


def test_ways_and_shots_are_checked(tmp_path):
    from scenarios.fscil_sessions import Shape, check_shape

    labels = np.repeat(np.arange(4), 3)  # 4 classes, 3 items each
    lists = [(Path(f"session_{s}.txt"), []) for s in (1, 2)]
    ok = [np.arange(3), np.arange(3, 9)]  # base: 1 class; then 2 classes x 3 shots
    check_shape(lists, ok, labels, Shape(1, 2, 3, 1), "toy")
    with pytest.raises(ClbenchError, match=r"session_2.txt: 2 classes with \[2, 3\] images"):
        check_shape(lists, [ok[0], np.arange(3, 8)], labels, Shape(1, 2, 3, 1), "toy")
    with pytest.raises(ClbenchError, match="1-way 3-shot"):
        check_shape(lists, ok, labels, Shape(1, 1, 3, 1), "toy")


def test_a_test_image_in_a_training_session_is_named(tmp_path):
    entries = write_cub(tmp_path, n_classes=12, train=2, test=1)
    test_image = "003.Bird_3/Bird_3_0002_9.jpg"  # write_cub: class 3's third image is a test one
    split = (tmp_path / "CUB_200_2011" / "train_test_split.txt").read_text().splitlines()
    assert f"9 {test_image}" in (tmp_path / "CUB_200_2011" / "images.txt").read_text()
    assert split[8] == "9 0"
    sessions = [entries[0] + entries[1]] + [entries[c] for c in range(2, 12)]
    sessions[1] = sessions[1] + [f"CUB_200_2011/images/{test_image}"]
    folder = write_session_lists(tmp_path / "lists" / "cub200", sessions)
    build, cfg = _cub_cfg(
        tmp_path, f"scenario.index_lists={tmp_path / 'lists'}", "scenario.protocol=custom"
    )
    with pytest.raises(ClbenchError) as info:
        build(cfg.scenario, cfg.data)
    want = f"{folder / 'session_2.txt'}, line 3: 'CUB_200_2011/images/{test_image}' is a test image"
    assert str(info.value) == want


def test_gzip_lists_are_read_like_plain_ones(tmp_path):
    (tmp_path / "session_1.txt.gz").write_bytes(gzip.compress(b"3\n\n4\n"))
    (tmp_path / "session_2.txt").write_text("5\n")
    assert [lines for _, lines in read_lists(tmp_path, 2)] == [["3", "4"], ["5"]]


def test_a_leaderboard_row_says_which_sessions():
    rec = {"strategy": "teen", "config": {}, "sessions": {"source": "CEC", "sha256": "ab"}}
    assert run_label(rec) == "teen [CEC sessions]"
    rec["sessions"] = {"source": "index_lists", "sha256": "0123456789abcdef"}
    assert run_label(rec) == "teen [sessions 01234567]"
    rec["sessions"] = {"source": "seeded", "shot_seed": 3}
    assert run_label(rec) == "teen [seeded shots 3]"
    assert run_label({"strategy": "teen", "config": {}}) == "teen"


def test_miniimagenet_without_split_folder_uses_the_shipped_split(tmp_path):
    rows = read_text(bundled_dir("mini_imagenet"), "train.csv")[1].splitlines()[1:]
    first: dict[str, str] = {}
    for f, w in (r.split(",") for r in rows):
        first.setdefault(w, f)  # wnids in train.csv order: class ids 0, 1, ...
    wnids = list(first)[:9]
    test_rows = read_text(bundled_dir("mini_imagenet"), "test.csv")[1].splitlines()[1:]
    tests = [f for f, w in (r.split(",") for r in test_rows) if w in wnids]
    rng = np.random.default_rng(0)
    for f in [first[w] for w in wnids] + tests:
        _jpeg(tmp_path / "miniimagenet" / "images" / f, rng, (8, 8))
    sessions = [[f"MINI-ImageNet/train/{w}/{first[w]}"] for w in wnids]
    write_session_lists(tmp_path / "lists" / "mini_imagenet", sessions)
    over = [f"scenario.index_lists={tmp_path / 'lists'}", "scenario.protocol=custom"]
    cfg = compose("teen", "mini_imagenet", None, [f"data.root={tmp_path}", *over])
    cfg.scenario.image_size = 8
    sc = SCENARIOS.load("mini_imagenet").build(cfg.scenario, cfg.data)
    exps = sc.experiences()
    assert [e.classes for e in exps] == [[c] for c in range(9)]
    assert [len(e.test) for e in exps] == [100] * 9  # CEC's split: 100 test images a class
