"""Which records are the same experiment: the leaderboard's grouping (issue #14, part 2).

Two runs are one experiment when their resolved configurations agree in every key except the
seed (and seed keys that follow it, `seed_followers`) and the keys that cannot change the numbers (`IRRELEVANT`: where results and data live,
the progress bar, the log interval, and the DDP process layout, which the runner keeps exact;
and the LR schedule's settings that the run's schedule does not read, `SCHEDULE_KEYS`).
A row of the leaderboard is one experiment; its label is the strategy's name with its
variant tags (`run_label`) and, when several experiments would share that label on one
scenario, the `key=value` pairs in which they differ. A seed recorded twice within one
experiment counts once (the earliest record by run id) and the row says so. `preset` is one
of the keys: a run made with a paper preset (its tag in the label) is its own experiment.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from typing import Any

# Keys (flattened, dotted) that never change a run's numbers.
IRRELEVANT = frozenset(
    {
        "seed",
        "results.dir",
        "data.root",
        "data.download",
        "trainer.progress_bar",
        "trainer.log_every_n_steps",
        "trainer.devices",
        "trainer.num_nodes",
        "trainer.strategy",
    }
)
# Schedule settings that only their schedules read (clbench/schedules.py): under another
# schedule they cannot change the numbers, so a changed default does not split experiments.
SCHEDULE_KEYS = {
    "train.min_lr_ratio": ("cosine", "repeated-cosine", "infinite"),
    "train.step_milestones": ("step",),
    "train.step_gamma": ("step",),
    "train.infinite_cooldown": ("infinite",),
    "train.infinite_cooldown_end": ("infinite",),
    "train.infinite_constant_ratio": ("infinite",),
    "train.infinite_anneal_start": ("infinite",),
}
ABSENT = "<absent>"  # a key one record has and another (older) one lacks


def flatten(tree: Any, prefix: str = "") -> dict[str, Any]:
    """{"a": {"b": 1}} -> {"a.b": 1}; lists stay values."""
    if not isinstance(tree, dict):
        return {prefix: tree}
    out: dict[str, Any] = {}
    for k, v in tree.items():
        out.update(flatten(v, f"{prefix}.{k}" if prefix else str(k)))
    return out


def settings(record: dict[str, Any], follows: Iterable[str] = ()) -> dict[str, str]:
    """The keys of a record's configuration that define the experiment, as JSON text, but for
    `follows`: seed keys that follow the run's seed (`seed_followers`)."""
    flat = flatten(record.get("config") or {})
    schedule = flat.get("train.schedule", "constant")
    unread = {k for k, used_by in SCHEDULE_KEYS.items() if schedule not in used_by}
    # null is "not used": a record older than an optional key (absent) is the same experiment
    return {
        k: json.dumps(v, sort_keys=True)
        for k, v in flat.items()
        if k not in IRRELEVANT and k not in unread and v is not None and k not in follows
    }


def seed_followers(records: list[dict[str, Any]]) -> set[str]:
    """The seed keys (e.g. scenario.episode_seed) equal to the run's seed in every one of
    `records` that sets them: they vary with the seed, so they do not split an experiment.
    A seed key fixed apart from the run's (scenario.permutation_seed=0 for every seed) is a
    setting like any other."""
    seen: dict[str, bool] = {}
    for r in records:
        for k, v in flatten(r.get("config") or {}).items():
            if k.endswith("seed") and k not in IRRELEVANT and v is not None:
                seen[k] = seen.get(k, True) and v == r.get("seed")
    return {k for k, follows in seen.items() if follows}


def run_label(record: dict[str, Any]) -> str:
    """The strategy's name, with the variants that make a different experiment appended (a
    paper preset, a non-constant LR schedule, the online protocol, the FSCIL session lists)."""
    cfg = record.get("config") or {}
    schedule = (cfg.get("train") or {}).get("schedule", "constant")
    tags = [f"preset {cfg['preset']}"] if cfg.get("preset") else []
    tags += [] if schedule == "constant" else [str(schedule)]
    if (cfg.get("scenario") or {}).get("online"):
        tags.append(f"online, batch {cfg['scenario'].get('batch_size')}")
    sessions = record.get("sessions") or {}
    if sessions.get("source") == "CEC":
        tags.append("CEC sessions")
    elif sessions.get("source") == "seeded":
        tags.append(f"seeded shots {sessions.get('shot_seed')}")
    elif sessions:
        tags.append(f"sessions {str(sessions.get('sha256'))[:8]}")
    return str(record["strategy"]) + (f" [{', '.join(tags)}]" if tags else "")


def _key(s: dict[str, str]) -> str:
    return json.dumps(s, sort_keys=True)


def _differences(groups: list[dict[str, str]]) -> list[list[str]]:
    """Per group, the `key=value` pairs of the keys whose values differ between groups."""
    keys = sorted({k for g in groups for k in g})
    varying = [k for k in keys if len({g.get(k, ABSENT) for g in groups}) > 1]
    return [[f"{k}={_short(g.get(k, ABSENT))}" for k in varying] for g in groups]


def _short(text: str) -> str:
    return text if text == ABSENT else json.dumps(json.loads(text))


def label_experiments(records: Iterable[dict[str, Any]]) -> list[tuple[str, str, str]]:
    """Per record, in order: (experiment id, row label, duplicate note). Records of one
    experiment share the id and label; a record whose seed an earlier record of its experiment
    (by run id) already has gets a note naming it, and is to be left out."""
    records = list(records)
    rows: dict[tuple[str, str], list[dict[str, Any]]] = {}
    for r in records:
        rows.setdefault((r["scenario"], run_label(r)), []).append(r)
    follows = {row: seed_followers(rs) for row, rs in rows.items()}
    own = [settings(r, follows[(r["scenario"], run_label(r))]) for r in records]
    exp_ids = [
        _key({"scenario": json.dumps(r["scenario"]), **s}) + run_label(r)
        for r, s in zip(records, own, strict=True)
    ]
    by_label: dict[tuple[str, str], dict[str, dict[str, str]]] = {}
    for r, eid, s in zip(records, exp_ids, own, strict=True):
        by_label.setdefault((r["scenario"], run_label(r)), {})[eid] = s
    labels: dict[str, str] = {}
    for (_, base), groups in by_label.items():
        ids = sorted(groups)
        diffs = _differences([groups[i] for i in ids]) if len(ids) > 1 else [[]] * len(ids)
        for eid, diff in zip(ids, diffs, strict=True):
            labels[eid] = base + (f" {{{', '.join(diff)}}}" if diff else "")
    first_seen: dict[tuple[str, Any], str] = {}
    notes = {}
    for i in sorted(range(len(records)), key=lambda i: str(records[i].get("run_id", ""))):
        seed_key = (exp_ids[i], records[i]["seed"])
        if seed_key in first_seen:
            notes[i] = f"seed {records[i]['seed']} also in {first_seen[seed_key]}"
        else:
            first_seen[seed_key] = str(records[i].get("run_id", ""))
    return [(eid, labels[eid], notes.get(i, "")) for i, eid in enumerate(exp_ids)]
