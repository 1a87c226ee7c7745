"""`clbench` command line: run, list, presets, data, leaderboard, sweep, tune, plot-schedule.

Heavy modules (torch, Lightning, Avalanche) are imported only by the commands that need them,
so `clbench --help` and `clbench list` start fast.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import NoReturn

from clbench.errors import ClbenchError
from clbench.launch import exit_code, run_one


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> NoReturn:  # one line, exit code 2
        self.exit(2, f"clbench: error: {message} (see `clbench --help`)\n")


def cmd_run(args: argparse.Namespace) -> int:
    overrides = list(args.overrides)
    if args.preset:
        from clbench import presets

        presets.load(args.preset)  # an unknown name: one line with the closest names
        said = [o.partition("=")[2] for o in overrides if o.partition("=")[0].strip() == "preset"]
        if any(v != args.preset for v in said):
            raise ClbenchError(
                f"--preset {args.preset} conflicts with preset={said[0]}; name it once"
            )
        overrides = [f"preset={args.preset}", *overrides]
    return run_one(
        args.strategy, args.scenario, args.config, overrides, args.resume, args.print_config
    )


def cmd_presets(args: argparse.Namespace) -> int:
    from clbench.presets import all_presets

    for p in all_presets():
        numbers = "; ".join(f"{r.value:g} {r.metric} ({r.table})" for r in p.reported)
        print(f"{p.name}: {p.strategy} on {p.scenario}")
        print(f"  paper: {p.paper}")
        print(f"  reported: {numbers or 'no number recovered'}")
    return 0


def cmd_list(args: argparse.Namespace) -> int:
    from clbench.backbones import BACKBONES, TIMM_HINT
    from scenarios import SCENARIOS
    from strategies import STRATEGIES

    strategies, scenarios, backbones = list(STRATEGIES), list(SCENARIOS), list(BACKBONES)
    w = max(len(e.name) for e in strategies + scenarios + backbones) + 2
    print("strategies (scenario kinds supported):")
    for e in strategies:
        print(f"  {e.name:<{w}}{e.description}  [{', '.join(e.meta['kinds'])}]")
    print("\nscenarios (kind, input shape):")
    for e in scenarios:
        shape = "x".join(str(d) for d in e.meta["input_shape"])
        also = f" (alias: {', '.join(e.aliases)})" if e.aliases else ""
        print(f"  {e.name:<{w}}{e.description}{also}  [{e.meta['kind']}, input {shape}]")
    print("\nbackbones (backbone.name):")
    for e in backbones:
        print(f"  {e.name:<{w}}{e.description}")
    print(f"  {TIMM_HINT}, e.g. vit_base_patch16_224.augreg_in21k;")
    print("  backbone.pretrained=true: timm's weights; backbone.checkpoint=FILE: local weights")
    return 0


def cmd_data(args: argparse.Namespace) -> int:
    from clbench.datasets import default_root, report

    print(report(args.root or default_root()))
    return 0


def cmd_leaderboard(args: argparse.Namespace) -> int:
    from clbench.leaderboard import duplicates, render, write_plots
    from clbench.records import load_records

    root = Path(args.dir)
    records, problems = load_records(root)
    for p in problems:
        print(f"clbench: skipped {p}", file=sys.stderr)
    for d in duplicates(records):
        print(f"clbench: {d}", file=sys.stderr)
    plots_dir = Path(args.plots) if args.plots else root / "plots"
    tuned = ""
    if args.format == "md":  # tuning studies (results/tuning/), tabulated apart
        from clbench.tuned import render_tuned

        tuned = render_tuned(root, args.with_tuning_cost, plots_dir if args.plots else None)
    if not records and not tuned:
        raise ClbenchError(f"no clbench records under {root}")
    if args.plots and records:
        write_plots(records, plots_dir)
    out = Path(args.out) if args.out else None
    link_base = out.parent if out else root
    text = (
        render(records, args.format, plots_dir, link_base) if records else "# clbench leaderboard\n"
    )
    text += tuned
    if out is None:
        print(text, end="")
    else:
        try:
            out.parent.mkdir(parents=True, exist_ok=True)
            out.write_text(text)
        except OSError as e:
            raise ClbenchError(f"cannot write {out}: {e.strerror or e}") from None
        print(f"wrote {out}")
    return 0


def cmd_sweep(args: argparse.Namespace) -> int:
    from clbench.sweep import sweep

    return sweep(args.file, args.executor, args.workers, args.dry_run, args.overrides)


def cmd_tune(args: argparse.Namespace) -> int:
    from clbench.tune import tune

    try:
        seeds = [int(s) for s in args.seeds.split(",") if s.strip()]
    except ValueError:
        raise ClbenchError(
            f"--seeds must be a comma list of integers, got '{args.seeds}'"
        ) from None
    variants = None
    if args.heldout:  # each --heldout is one variant: key=value[,key=value]; none: no variant
        variants = {v: v.split(",") for v in args.heldout if v != "none"}
    return tune(
        args.strategy,
        args.scenario,
        args.trials,
        args.studies,
        args.executor,
        args.workers,
        args.overrides,
        args.seed,
        args.validation_fraction,
        seeds,
        variants,
        args.space or [],
        args.name,
    )


def cmd_plot_schedule(args: argparse.Namespace) -> int:
    from omegaconf import OmegaConf
    from omegaconf.errors import OmegaConfBaseException

    from clbench.config import TrainConfig
    from clbench.schedules import SCHEDULES, plot

    bad = [o for o in args.overrides if not o.startswith("train.") or "=" not in o]
    if bad:
        raise ClbenchError(f"plot-schedule takes train.key=value settings only, got '{bad[0]}'")
    try:
        steps = [int(n) for n in args.steps.split(",")]
        train = OmegaConf.merge(
            OmegaConf.structured(TrainConfig),
            OmegaConf.from_dotlist([o.removeprefix("train.") for o in args.overrides]),
        )
    except (ValueError, OmegaConfBaseException) as e:
        raise ClbenchError(f"bad plot-schedule setting: {str(e).splitlines()[0]}") from None
    plan = steps * args.experiences if len(steps) == 1 else steps
    if any(n < 1 for n in plan):
        raise ClbenchError("--steps must be positive step counts")
    print(f"wrote {plot(train, plan, args.schedule or list(SCHEDULES), Path(args.out))}")
    return 0


def build_parser() -> argparse.ArgumentParser:
    p = _Parser(
        prog="clbench", description="Continual-learning benchmarks on Lightning and Avalanche."
    )
    sub = p.add_subparsers(dest="command", required=True, metavar="command")

    r = sub.add_parser("run", help="run one strategy over one scenario and write a record")
    r.add_argument("--strategy", help="strategy name (see `clbench list`); default: replay")
    r.add_argument("--scenario", help="scenario name (see `clbench list`); default: split-mnist-5k")
    r.add_argument("--config", help="YAML file of settings")
    r.add_argument("--preset", help="a paper's recipe (see `clbench presets`); key=value wins")
    r.add_argument("--print-config", action="store_true", help="print the resolved config and exit")
    r.add_argument(
        "--resume",
        metavar="RUN_DIR",
        help="continue a stopped run from its folder (results/work/...)",
    )
    r.add_argument(
        "overrides", nargs="*", metavar="key=value", help="settings, e.g. seed=1 train.epochs=2"
    )
    r.set_defaults(func=cmd_run)

    li = sub.add_parser("list", help="list strategies and scenarios")
    li.set_defaults(func=cmd_list)

    pr = sub.add_parser("presets", help="list the paper recipes with their papers' numbers")
    pr.set_defaults(func=cmd_presets)

    da = sub.add_parser("data", help="which datasets are present, their layout, where to get them")
    da.add_argument("--root", help="data root (default: $CLBENCH_DATA or ~/.cache/clbench/data)")
    da.set_defaults(func=cmd_data)

    lb = sub.add_parser("leaderboard", help="tables and plots from the records under DIR")
    lb.add_argument(
        "dir", nargs="?", default="results", metavar="DIR", help="results folder (default: results)"
    )
    lb.add_argument("--format", choices=["md", "csv", "latex"], default="md")
    lb.add_argument("--out", metavar="FILE", help="write the table to FILE instead of printing it")
    lb.add_argument("--plots", metavar="DIR", help="also draw PNG plots into DIR")
    lb.add_argument(
        "--with-tuning-cost",
        action="store_true",
        help="tuned rows: time to target includes the tuning study's wall time",
    )
    lb.set_defaults(func=cmd_leaderboard)
    sw = sub.add_parser("sweep", help="run a grid of runs from a YAML file, skipping finished ones")
    sw.add_argument("file", help="sweep file (see clbench/sweep.py or the README)")
    sw.add_argument(
        "--executor",
        default="sequential",
        choices=["sequential", "pool", "local", "slurm"],
        help="sequential (default), pool (local processes), local or slurm (submitit)",
    )
    sw.add_argument(
        "--workers", type=int, default=2, help="parallel runs (pool) or SLURM array parallelism"
    )
    sw.add_argument("--dry-run", action="store_true", help="list the runs to do and stop")
    sw.add_argument("overrides", nargs="*", metavar="key=value", help="settings added to every run")
    sw.set_defaults(func=cmd_sweep)

    tu = sub.add_parser("tune", help="tune a strategy on validation data (AlgoPerf-style studies)")
    tu.add_argument("--strategy", required=True, help="strategy to tune")
    tu.add_argument("--scenario", required=True, help="scenario to tune it on")
    tu.add_argument("--trials", type=int, default=8, help="trials per study (default: 8)")
    tu.add_argument("--studies", type=int, default=3, help="independent studies (default: 3)")
    tu.add_argument(
        "--executor", default="sequential", choices=["sequential", "pool", "local", "slurm"]
    )
    tu.add_argument("--workers", type=int, default=2, help="parallel runs (pool, slurm)")
    tu.add_argument("--seed", type=int, default=0, help="seed of the Sobol draws (default: 0)")
    tu.add_argument(
        "--validation-fraction", type=float, default=0.2, help="held out of each experience"
    )
    tu.add_argument("--seeds", default="0,1,2", help="run seeds of the picks' test runs")
    tu.add_argument(
        "--heldout",
        action="append",
        metavar="KEY=VALUE[,KEY=VALUE]",
        help="a held-out variant (repeatable; default: class order, experiences, shot draw; none)",
    )
    tu.add_argument(
        "--space", action="append", metavar="KEY=LOW:HIGH:SCALE", help="replace a range"
    )
    tu.add_argument("--name", help="study folder name under <results.dir>/tuning/")
    tu.add_argument("overrides", nargs="*", metavar="key=value", help="settings of every run")
    tu.set_defaults(func=cmd_tune)

    ps = sub.add_parser("plot-schedule", help="draw the LR schedules over a stream plan (PNG)")
    ps.add_argument(
        "--schedule", action="append", help="a schedule to draw (repeatable); default: all"
    )
    ps.add_argument("--experiences", type=int, default=5, help="experiences (default: 5)")
    ps.add_argument(
        "--steps",
        default="1000",
        help="optimizer steps per experience, or a comma list per experience",
    )
    ps.add_argument("--out", default="schedules.png", metavar="FILE", help="PNG to write")
    ps.add_argument("overrides", nargs="*", metavar="train.key=value", help="e.g. train.lr=0.1")
    ps.set_defaults(func=cmd_plot_schedule)
    return p


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    # key=value overrides may come before options too (`run seed=1 --strategy lwf x=y`):
    # argparse gives the first run of them to `overrides` and leaves the later ones over
    args, extra = parser.parse_known_args(argv)
    unknown = [a for a in extra if a.startswith("-") or "=" not in a]
    if unknown or (extra and not hasattr(args, "overrides")):
        parser.error(f"unrecognized arguments: {' '.join(unknown or extra)}")
    if extra:
        args.overrides = [*args.overrides, *extra]
    return exit_code(args.func, args)


if __name__ == "__main__":
    raise SystemExit(main())
