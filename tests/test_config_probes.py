"""Bad values found by construction (issue #14, part 1): probes derived from the resolved
config schema of every registered strategy and scenario, not from a hand-made list.

For every key whose node is typed (int, float, bool, list of numbers), the probes are a value of
the wrong type, a negative value, NaN and inf (floats) and a seed beyond numpy's range; each
must fail at compose with a one-line ClbenchError that names the key. Through the CLI a sample
of them exits 2 with one line and leaves no record and no work folder. String keys (names,
paths, choices) are checked where they are used (strategy and scenario constructors, tested in
their own files): the schema gives no list of valid strings to probe here.
"""

from __future__ import annotations

import pytest
from omegaconf import DictConfig, ListConfig
from omegaconf.nodes import BooleanNode, FloatNode, IntegerNode

from clbench.cli import main
from clbench.compose import compose
from clbench.config import NEGATIVE_OK
from clbench.errors import ClbenchError
from scenarios import SCENARIOS
from strategies import STRATEGIES

OFFLINE = ["split-digits", "split-mnist-5k", "permuted-mnist-5k", "fscil-mnist-5k"]
OFFLINE += ["mnist-5k-c", "instance-digits"]


def _pairs() -> list[tuple[str, str]]:
    """One composable (strategy, scenario) pair for every strategy and every scenario."""
    kinds = {s.name: s.meta["kind"] for s in SCENARIOS}
    pairs = []
    for st in STRATEGIES:
        scen = next(s for s in OFFLINE if kinds[s] in st.meta["kinds"])
        pairs.append((st.name, scen))
    for sc in SCENARIOS:
        st = next(s.name for s in STRATEGIES if kinds[sc.name] in s.meta["kinds"])
        pairs.append((st, sc.name))
    return sorted(set(pairs))


def _leaves(node, prefix=""):
    for k in node:
        key = f"{prefix}{k}"
        child = node._get_node(k)
        if isinstance(child, DictConfig):
            yield from _leaves(child, key + ".")
        else:
            yield key, child


def _probes(strategy: str, scenario: str) -> list[tuple[str, str]]:
    cfg = compose(strategy, scenario, None, [])
    out = []
    for key, node in _leaves(cfg):
        if key.endswith(".name"):
            continue  # chosen by --strategy / --scenario
        if isinstance(node, BooleanNode):
            out.append((key, "maybe"))
        elif isinstance(node, IntegerNode | FloatNode):
            out.append((key, "abc"))
            if key not in NEGATIVE_OK:
                out.append((key, "-1"))
            if isinstance(node, FloatNode):
                out += [(key, "nan"), (key, "inf")]
            if key.endswith("seed"):
                out.append((key, str(2**32)))
        elif isinstance(node, ListConfig) and node._metadata.element_type in (int, float):
            out.append((key, "[-1]"))
    return out


def _cases() -> list[tuple[str, str, str, str]]:
    """Every probe of every pair, a key outside strategy.* and scenario.* (train, trainer,
    backbone, seed, ...) probed once: its check does not depend on the pair."""
    seen, out = set(), []
    for st, sc in _pairs():
        for k, v in _probes(st, sc):
            owner = st if k.startswith("strategy.") else sc if k.startswith("scenario.") else ""
            if (owner, k, v) not in seen:
                seen.add((owner, k, v))
                out.append((st, sc, k, v))
    return out


CASES = _cases()


def test_the_probes_cover_every_strategy_and_scenario():
    pairs = _pairs()
    assert {st for st, _ in pairs} == {s.name for s in STRATEGIES}
    assert {sc for _, sc in pairs} == {s.name for s in SCENARIOS}
    owners = {c[0] for c in CASES if c[2].startswith("strategy.")}
    assert owners >= {"replay", "ewc", "icarl", "derpp", "gdumb", "er-ace", "ocm", "cotta"}
    assert len(CASES) > 300


@pytest.mark.slow  # hundreds of composes
@pytest.mark.parametrize("strategy, scenario, key, value", CASES)
def test_a_bad_value_fails_at_compose_naming_its_key(strategy, scenario, key, value):
    with pytest.raises(ClbenchError) as e:
        compose(strategy, scenario, None, [f"{key}={value}"])
    message = str(e.value)
    assert "\n" not in message and key in message, message


@pytest.mark.parametrize("key, value", [("train.lr", "nan"), ("seed", "-1"), ("train.epochs", "x")])
def test_through_the_cli_one_line_exit_2_and_nothing_left(key, value, tmp_path, capsys):
    argv = ["run", "--strategy", "replay", "--scenario", "split-digits", f"{key}={value}"]
    assert main([*argv, f"results.dir={tmp_path}"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and key in err
    assert not list(tmp_path.iterdir())  # no record, no work folder
