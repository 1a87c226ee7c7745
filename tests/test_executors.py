"""Every sweep executor end to end: two-run grids to two records, failed runs reported with
their first error line, the sweep's exit status; SLURM up to the submitit jobs it builds."""

import pickle

import pytest

from clbench import executors
from clbench.cli import build_parser, main
from clbench.executors import Job, first_error_line, quiet, run_job
from clbench.records import load_records

TINY = ["train.epochs=1", "trainer.accelerator=cpu", "backbone.hidden_dim=16"]
# composes, then fails when the run starts: the checkpoint is read at build time
BROKEN = "backbone.checkpoint=/nonexistent/clbench-weights.pt"


def _grid(tmp_path, res, extra="", strategies="[finetune, replay]"):
    f = tmp_path / "grid.yaml"
    overrides = ", ".join([*TINY, f"'results.dir={res}'"])
    f.write_text(
        f"strategies: {strategies}\nscenarios: [split-digits]\nseeds: [3]\n"
        f"overrides: [{overrides}]\n{extra}"
    )
    return f


def test_first_error_line_finds_the_reason():
    assert first_error_line("noise\nclbench: error: bad lr\nmore\n") == "clbench: error: bad lr"
    tb = 'Traceback (most recent call last):\n  File "x.py", line 1\n    f()\nValueError: no\n'
    assert first_error_line("warning: slow\n" + tb) == "ValueError: no"
    assert first_error_line("a\nlast words\n\n") == "last words"
    assert first_error_line("") == "no error message"


def test_the_pool_command_reads_as_clbench_run_reads_it():
    # options before the overrides: a strict parse (no leftovers) takes every override
    job = Job("finetune", "split-digits", ("train.epochs=1", "seed=0"))
    args = build_parser().parse_args(quiet(job).argv())
    assert (args.strategy, args.scenario) == ("finetune", "split-digits")
    assert args.overrides == ["train.epochs=1", "seed=0", "trainer.progress_bar=false"]


def test_a_crashing_run_is_its_failure_not_the_sweeps(monkeypatch, tmp_path, capsys):
    def boom(*args):
        raise RuntimeError("boom\nsecond line")

    monkeypatch.setattr(executors, "run_one", boom)
    assert run_job(Job("finetune", "split-digits", ())) == (1, "RuntimeError: boom")
    monkeypatch.undo()
    code, line = run_job(Job("finetune", "split-digits", (BROKEN,)))
    assert code == 2 and line.startswith("clbench: error: backbone checkpoint")


def test_sequential_sweep_reports_a_failed_run(tmp_path, capsys):
    res = tmp_path / "res"
    f = _grid(
        tmp_path, res, "grid:\n  backbone.checkpoint: [null, /nonexistent/w.pt]\n", "[finetune]"
    )
    assert main(["sweep", str(f)]) == 1  # not every run finished
    out, err = capsys.readouterr()
    assert "1 runs finished, 1 failed" in out
    assert 'backbone.checkpoint="/nonexistent/w.pt"' in err
    assert "clbench: error: backbone checkpoint /nonexistent/w.pt does not exist" in err
    assert len(load_records(res)[0]) == 1


@pytest.mark.slow  # two python processes
def test_pool_executor_runs_the_grid(tmp_path, capsys):
    res = tmp_path / "res"
    f = _grid(tmp_path, res)
    assert main(["sweep", str(f), "--executor", "pool", "--workers", "2"]) == 0
    assert sorted(r["strategy"] for r in load_records(res)[0]) == ["finetune", "replay"]
    assert "2 runs finished, 0 failed" in capsys.readouterr().out
    # a failing run: its first error line, and the log of the whole error
    g = _grid(tmp_path, tmp_path / "res2", f"grid:\n  backbone.checkpoint: [{BROKEN[20:]}]\n")
    assert main(["sweep", str(g), "--executor", "pool"]) == 1
    err = capsys.readouterr().err
    assert err.count("clbench: error: backbone checkpoint") == 2 and "(log: " in err


@pytest.mark.slow  # submitit starts python subprocesses
def test_submitit_local_executor_runs_the_grid_and_reports_failures(tmp_path, capsys):
    pytest.importorskip("submitit")
    res = tmp_path / "res"
    f = _grid(tmp_path, res, "executor_params: {timeout_min: 10}\n")
    assert main(["sweep", str(f), "--executor", "local"]) == 0
    assert sorted(r["strategy"] for r in load_records(res)[0]) == ["finetune", "replay"]
    assert "2 runs finished, 0 failed" in capsys.readouterr().out
    g = _grid(tmp_path, tmp_path / "res2", f"grid:\n  backbone.checkpoint: [{BROKEN[20:]}]\n")
    assert main(["sweep", str(g), "--executor", "local"]) == 1
    captured = capsys.readouterr()
    assert "0 runs finished, 2 failed" in captured.out
    assert captured.err.count("clbench: error: backbone checkpoint") == 2


def test_slurm_executor_builds_the_job_array(tmp_path, monkeypatch):
    submitit = pytest.importorskip("submitit")
    # no cluster here: srun is "found", and `sbatch FILE` is a command answering as sbatch does
    monkeypatch.setattr(submitit.SlurmExecutor, "affinity", classmethod(lambda cls: 2))
    monkeypatch.setattr(
        submitit.SlurmExecutor,
        "_make_submission_command",
        lambda self, path: ["echo", "Submitted batch job 4242"],
    )
    jobs = [Job("finetune", "split-digits", ("seed=0",)), Job("replay", "split-digits", ())]
    folder = tmp_path / "sweeps"
    params = {"slurm_partition": "gpu", "timeout_min": 7}
    submitted = executors.submit("slurm", jobs, 2, folder, params)
    assert [j.job_id for j in submitted] == ["4242_0", "4242_1"]
    assert all(isinstance(j, submitit.SlurmJob) for j in submitted)
    script = submitted[0].paths.submission_file.read_text()
    assert "#SBATCH --array=0-1%2" in script and "#SBATCH --partition=gpu" in script
    assert "#SBATCH --time=7" in script
    for job, sub in zip(jobs, submitted, strict=True):
        delayed = pickle.loads(sub.paths.submitted_pickle.read_bytes())
        assert delayed.function is run_job and delayed.args == (quiet(job),)
