"""Logs that read well (issue #14, part 6): when stdout is not a terminal, progress is plain
lines (no carriage-return redraws), a bounded number of them."""

import pytest

from clbench.cli import main
from clbench.progress import LineProgress, progress_callbacks


def test_progress_is_lines_only_off_a_terminal(monkeypatch):
    monkeypatch.setattr("sys.stdout.isatty", lambda: False)
    assert [type(c) for c in progress_callbacks(True)] == [LineProgress]
    assert progress_callbacks(False) == []
    monkeypatch.setattr("sys.stdout.isatty", lambda: True)
    assert progress_callbacks(True) == []  # Lightning's live bar


@pytest.mark.slow  # a whole run
def test_a_logged_run_prints_one_line_per_fit_and_no_redraws(tmp_path, capsys):
    argv = ["run", "--strategy", "finetune", "--scenario", "split-digits", "train.epochs=2"]
    argv += ["trainer.accelerator=cpu", f"results.dir={tmp_path}"]  # progress bar on
    assert main(argv) == 0
    out = capsys.readouterr().out
    assert "\r" not in out
    epoch_lines = [line for line in out.splitlines() if line.startswith("  epoch ")]
    # quick epochs: the last epoch of each of the 5 fits (a slow one would add a line)
    assert len(epoch_lines) == 5 and all("epoch 2/2 done" in x for x in epoch_lines)
    assert len(out.encode()) < 10_000
