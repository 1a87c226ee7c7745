"""User-facing errors: the CLI prints their message on one line and exits with code 2."""

from __future__ import annotations

import difflib
from collections.abc import Iterable


class ClbenchError(Exception):
    """Bad input from the user (name, key, value, data). Never a bug in clbench."""


class DataNotFoundError(ClbenchError):
    """A dataset is missing from the data root."""


class RunInterrupted(KeyboardInterrupt):
    """Ctrl-C during a run; the run folder holds the state of the last finished experience."""

    def __init__(self, run_dir: object) -> None:
        super().__init__(str(run_dir))
        self.run_dir = run_dir


def closest(name: str, valid: Iterable[str], n: int = 3) -> list[str]:
    """The closest valid spellings of `name` (may be empty)."""
    return difflib.get_close_matches(name, list(valid), n=n, cutoff=0.5)


def unknown(what: str, name: str, valid: Iterable[str]) -> ClbenchError:
    """An error for an unknown name that lists the closest (or all) valid names."""
    valid = sorted(valid)
    near = closest(name, valid)
    hint = f"did you mean {', '.join(near)}?" if near else f"valid: {', '.join(valid)}"
    return ClbenchError(f"unknown {what} '{name}'; {hint}")
