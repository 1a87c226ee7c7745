"""One process at a time in a run folder (issue #14, part 3).

A run, or a resume, holds `<run folder>/lock` (host and process id) while it works in the
folder; a second run or resume of the same folder fails at once with one line instead of
redoing the work. A lock left by a process that died (same host, process gone) is stale and
is taken over; a lock of another host cannot be checked from here and is reported with the
file to delete. DDP worker processes work under their launcher's lock and take none.
"""

from __future__ import annotations

import os
import socket
from pathlib import Path

from clbench.errors import ClbenchError

LOCK_FILE = "lock"


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # another user's live process
        return True
    return True


class RunLock:
    """The lock of one run folder; `acquire` it before working there, `release` after."""

    def __init__(self, run_dir: Path) -> None:
        self.path = run_dir / LOCK_FILE
        self.mine = f"{socket.gethostname()} {os.getpid()}"
        self.held = False

    def acquire(self) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        for _ in range(2):  # the second try follows the removal of a stale lock
            try:
                fd = os.open(self.path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644)
            except FileExistsError:
                self._check_holder()
                continue
            with os.fdopen(fd, "w") as f:
                f.write(self.mine + "\n")
            self.held = True
            return
        raise ClbenchError(f"run folder {self.path.parent} is in use (lock {self.path})")

    def _check_holder(self) -> None:
        """Raise when the lock's holder may be alive; remove the lock when it is stale."""
        try:
            host, _, pid = self.path.read_text().strip().partition(" ")
        except OSError:
            return  # released meanwhile
        if host == socket.gethostname() and pid.isdigit() and not _alive(int(pid)):
            self.path.unlink(missing_ok=True)  # stale: its process is gone
            return
        where = f"process {pid} on {host}" if host else "another process"
        raise ClbenchError(
            f"run folder {self.path.parent} is in use by {where}; wait for it to finish "
            f"(or, if that process is gone, delete {self.path})"
        )

    def release(self) -> None:
        if self.held:
            try:
                if self.path.read_text().strip() == self.mine:
                    self.path.unlink()
            except OSError:
                pass
            self.held = False
