"""Records: atomic, never overwritten, loaded as data with bad files reported."""

import json

import pytest

from clbench import records
from clbench.errors import ClbenchError


def _record(run_id="r1", **kw):
    rec = {
        "schema_version": records.SCHEMA_VERSION,
        "run_id": run_id,
        "strategy": "finetune",
        "scenario": "split-digits",
        "seed": 0,
        "config": {},
        "accuracy_matrix": [[1.0]],
        "metrics": {"final_accuracy": 1.0},
        "costs": {"wall_time_s": 1.0},
    }
    rec.update(kw)
    return rec


def test_write_and_load(tmp_path):
    path = records.write_record(_record(), tmp_path)
    assert path == tmp_path / "runs" / "split-digits" / "finetune" / "r1.json"
    assert json.loads(path.read_text())["run_id"] == "r1"
    assert not [p for p in path.parent.iterdir() if p.name.startswith(".tmp-")]
    loaded, problems = records.load_records(tmp_path)
    assert [r["run_id"] for r in loaded] == ["r1"] and problems == []


def test_never_overwrites(tmp_path):
    path = records.write_record(_record(), tmp_path)
    with pytest.raises(ClbenchError, match="already exists"):
        records.write_record(_record(metrics={"final_accuracy": 0.0}), tmp_path)
    assert json.loads(path.read_text())["metrics"]["final_accuracy"] == 1.0


def test_bad_files_are_reported_and_skipped(tmp_path):
    records.write_record(_record(), tmp_path)
    (tmp_path / "runs" / "broken.json").write_text("{not json")
    (tmp_path / "runs" / "foreign.json").write_text('{"hello": 1}')
    (tmp_path / "runs" / "list.json").write_text("[1, 2]")
    loaded, problems = records.load_records(tmp_path)
    assert len(loaded) == 1
    assert len(problems) == 3
    assert any("broken.json" in p for p in problems)
    assert any("foreign.json" in p and "missing" in p for p in problems)


def test_run_ids_are_unique():
    assert len({records.new_run_id(0) for _ in range(200)}) == 200


def test_unwritable_results_folder(tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("x")
    with pytest.raises(ClbenchError, match="not writable"):
        records.check_writable(blocker / "results")


@pytest.mark.slow  # two clbench subprocesses
def test_two_runs_writing_to_one_folder_at_once_both_land(tmp_path, run_cli):
    import subprocess

    args = [
        "run",
        "--scenario",
        "split-digits",
        "seed=1",
        "train.epochs=1",
        "trainer.accelerator=cpu",
        "trainer.progress_bar=false",
        f"results.dir={tmp_path}",
    ]
    procs = [
        run_cli.popen(*args, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE) for _ in range(2)
    ]
    for p in procs:
        assert p.wait(timeout=300) == 0, p.stderr.read()[-2000:]
    loaded, problems = records.load_records(tmp_path)
    assert len(loaded) == 2 and problems == []
    assert loaded[0]["run_id"] != loaded[1]["run_id"]
    assert loaded[0]["accuracy_matrix"] == loaded[1]["accuracy_matrix"]  # same seed, same numbers
