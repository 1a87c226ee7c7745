"""Resume from anywhere (issue #14, parts 3 and 5): a resumed run writes its one record where
it started, whatever the working directory; a run folder holds a lock while a process works
in it (a live holder refuses a second resume, a dead one's lock is taken over); records and
state files follow the umask."""

import os
import socket
import subprocess
import sys

import pytest

from clbench.cli import main
from clbench.runlock import LOCK_FILE

ARGS = [
    "run",
    "--strategy",
    "finetune",
    "--scenario",
    "split-digits",
    "train.epochs=1",
    "trainer.accelerator=cpu",
    "trainer.progress_bar=false",
    "results.dir=res",  # relative: to the working directory of the first run
]


@pytest.fixture()
def stopped_run(tmp_path, monkeypatch):
    """A run made in tmp/start with a relative results folder, then made to look stopped
    before writing its record (the state after the last experience stays)."""
    start = tmp_path / "start"
    start.mkdir()
    monkeypatch.chdir(start)
    old = os.umask(0o022)
    try:
        assert main(ARGS) == 0
    finally:
        os.umask(old)
    (record,) = (start / "res" / "runs").rglob("*.json")
    assert record.stat().st_mode & 0o777 == 0o644
    (run_dir,) = (start / "res" / "work" / "split-digits" / "finetune").iterdir()
    assert (run_dir / "state.pt").stat().st_mode & 0o777 == 0o644
    assert not (run_dir / LOCK_FILE).exists()  # released at the end
    record.unlink()
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)
    return start, run_dir.relative_to(tmp_path), tmp_path


def test_resume_from_another_folder_writes_the_record_where_the_run_started(stopped_run):
    start, run_dir, tmp = stopped_run
    assert main(["run", "--resume", str(tmp / run_dir)]) == 0
    assert len(list((start / "res" / "runs").rglob("*.json"))) == 1
    assert not (tmp / "elsewhere" / "res").exists()
    os.chdir(tmp)  # a relative run folder path works too
    assert main(["run", "--resume", str(run_dir)]) == 2  # now complete


def test_a_live_lock_refuses_a_second_process_at_once(stopped_run, capsys):
    start, run_dir, tmp = stopped_run
    lock = tmp / run_dir / LOCK_FILE
    holder = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        lock.write_text(f"{socket.gethostname()} {holder.pid}\n")
        capsys.readouterr()
        assert main(["run", "--resume", str(tmp / run_dir)]) == 2
        err = capsys.readouterr().err
        assert err.count("\n") == 1 and f"in use by process {holder.pid}" in err
        assert lock.read_text().split()[1] == str(holder.pid)  # not taken
        assert not list((start / "res" / "runs").rglob("*.json"))
    finally:
        holder.kill()
        holder.wait()


def test_a_stale_lock_of_a_dead_process_is_taken_over(stopped_run):
    start, run_dir, tmp = stopped_run
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    (tmp / run_dir / LOCK_FILE).write_text(f"{socket.gethostname()} {dead.pid}\n")
    assert main(["run", "--resume", str(tmp / run_dir)]) == 0
    assert len(list((start / "res" / "runs").rglob("*.json"))) == 1
    assert not (tmp / run_dir / LOCK_FILE).exists()
