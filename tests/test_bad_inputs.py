"""The bad-input catalogue in docs/bad-inputs.md, run row by row."""

import re
import shlex
from pathlib import Path

import pytest

from clbench.cli import main

DOC = Path(__file__).resolve().parents[1] / "docs" / "bad-inputs.md"
ROW = re.compile(r"^\| (\w+) \| (.+?) \| `(.+?)` \| `(.+)` \|$")


def _rows():
    rows = [m.groups() for line in DOC.read_text().splitlines() if (m := ROW.match(line))]
    assert len(rows) >= 15
    return rows


RUN_FIRST = ("resumecfg", "statekey", "stategarbage")  # setups that finish a run first


def _setup(row_id: str, tmp: Path) -> None:
    if row_id == "notmap":
        (tmp / "list.yaml").write_text("- 1\n- 2\n")
    elif row_id == "results":
        (tmp / "file").write_text("x")
    elif row_id == "nolists":
        (tmp / "lists").mkdir()
        (tmp / "lists" / "session_1.txt").write_text("0\n")
    elif row_id == "badlist":
        from fake_data import write_cifar100, write_session_lists

        write_cifar100(tmp)
        write_session_lists(tmp / "lists", [[0, 1, "abc"]] + [[100 + s] for s in range(8)])
    elif row_id == "listshape":
        from fake_data import write_cifar100, write_session_lists

        write_cifar100(tmp)  # item i has class i % 100
        write_session_lists(tmp / "lists", [[0, 1]] + [[2 + s] for s in range(8)])
    elif row_id in ("badyaml", "sweepyaml", "workers", "ckpttext"):
        (tmp / "bad.yaml").write_text("a: [1, 2\n")
    elif row_id in ("resumecfg", "statekey", "stategarbage"):
        args = [
            "run",
            "--scenario",
            "split-digits",
            "train.epochs=1",
            "trainer.accelerator=cpu",
            "trainer.progress_bar=false",
            f"results.dir={tmp}/res",
        ]
        assert main(args) == 0
        (run_dir,) = (tmp / "res" / "work" / "split-digits" / "replay").iterdir()
        run_dir.rename(tmp / "run")
        state = tmp / "run" / "state.pt"
        if row_id == "statekey":
            import torch

            saved = torch.load(state, weights_only=True)
            del saved["rows"]
            torch.save(saved, state)
        elif row_id == "stategarbage":
            state.write_text("not a state file\n")


@pytest.mark.parametrize(
    ("row_id", "what", "args", "message"), _rows(), ids=[r[0] for r in _rows()]
)
def test_bad_input(row_id, what, args, message, tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)  # default results.dir stays inside the scratch folder
    _setup(row_id, tmp_path)
    capsys.readouterr()
    argv = [a.replace("{tmp}", str(tmp_path)) for a in shlex.split(args)]
    try:
        code = main(argv)
    except SystemExit as e:  # argparse errors
        code = e.code
    err = capsys.readouterr().err
    assert code == 2, err
    expected = message.replace("{tmp}", str(tmp_path)) + "\n"
    if "invalid choice" in expected:  # argparse quotes choices differently across Pythons
        err, expected = err.replace("'", ""), expected.replace("'", "")
    assert err == expected
    assert not list(tmp_path.rglob("runs/*/*/*.json")) or row_id in RUN_FIRST
