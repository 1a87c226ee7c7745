"""Peak host memory (RSS) of image streams, on format-exact fakes of full size (issue 11, part 5).

    python benchmarks/image_memory.py --root /tmp/imgmem            # writes the fakes once
    python benchmarks/image_memory.py --root /tmp/imgmem --code /path/to/older/checkout

Cases, each in a fresh process (peak RSS from getrusage, so one case never hides another):
- `cub200-fscil`: CUB_200_2011 with the real counts (200 classes, 5,994 training and 5,794
  test images) as small JPEGs, decoded to the load size (Resize 256 + CenterCrop 224) by the
  loader; the seeded FSCIL protocol reads ~3,500 training images (100 base classes, 10 x
  10-way 5-shot) and every test image, as CEC's lists do;
- `split-cifar100-vit224`: cifar-100-python pickles of the real size (50,000 + 10,000 images)
  with a 224-pixel ViT-style input contract (bicubic, ImageNet-style mean / std).
Each case builds the scenario, reads its experiences (what the runner holds for a whole run),
builds the strategy (a small convnet: the figure is "plus the model") and, when the code has
`Strategy.inputs`, turns 4 batches of 64 into 224-pixel model inputs. `--code` runs the cases
with another checkout's code (e.g. the commit before images stayed uint8) for the "before".
`baseline` is the same process importing everything (Avalanche included) and building nothing.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
from pathlib import Path

CASES = ("baseline", "cub200-fscil", "split-cifar100-vit224")


def write_fakes(root: Path) -> None:
    import numpy as np
    from PIL import Image

    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))
    from fake_data import write_cifar100

    if not (root / "cifar-100-python" / "train").is_file():
        write_cifar100(root, per_class_train=500, per_class_test=100)
    folder = root / "CUB_200_2011"
    if (folder / "train_test_split.txt").is_file():
        return
    rng = np.random.default_rng(0)
    images, labels, split = [], [], []
    k = 0
    for c in range(1, 201):
        # the real counts: 5,994 training images (30 a class, 29 for the last 6) and 5,794
        # test images (29 a class, 28 for the last 6)
        n_train, n_test = (30, 29) if c <= 194 else (29, 28)
        cname = f"{c:03d}.Bird_{c}"
        (folder / "images" / cname).mkdir(parents=True, exist_ok=True)
        for j in range(n_train + n_test):
            k += 1
            rel = f"{cname}/Bird_{c}_{j:04d}_{k}.jpg"
            pix = rng.integers(0, 256, (48, 64, 3), dtype=np.uint8)
            Image.fromarray(pix).save(folder / "images" / rel, quality=75)
            images.append(f"{k} {rel}")
            labels.append(f"{k} {c}")
            split.append(f"{k} {int(j < n_train)}")
    for name, rows in (
        ("images", images),
        ("image_class_labels", labels),
        ("train_test_split", split),
    ):
        (folder / f"{name}.txt").write_text("\n".join(rows) + "\n")
    (folder / "classes.txt").write_text(
        "\n".join(f"{c} {c:03d}.Bird_{c}" for c in range(1, 201)) + "\n"
    )


def child(case: str, root: Path) -> dict:
    """Runs in the measured process."""

    import clbench.backbones as backbones
    from clbench.compose import compose
    from scenarios import SCENARIOS
    from strategies import STRATEGIES

    out: dict = {"case": case}
    import avalanche.benchmarks  # noqa: F401 - what building any scenario imports

    if case != "baseline":
        scenario = {"cub200-fscil": "cub200-fscil", "split-cifar100-vit224": "split-cifar100"}[case]
        over = [f"data.root={root}", "backbone.name=convnet", "trainer.accelerator=cpu"]
        if case == "cub200-fscil":
            over.append("scenario.protocol=seeded")
        contract = None
        if case == "split-cifar100-vit224" and hasattr(backbones, "InputContract"):
            contract = backbones.InputContract((224, 224), "bicubic", (0.5,) * 3, (0.5,) * 3)
            import strategies.base as base

            if hasattr(base, "input_contract"):
                base.input_contract = lambda cfg: contract
        cfg = compose("finetune", scenario, None, over)
        sc = SCENARIOS.load(scenario).build(cfg.scenario, cfg.data)
        exps = sc.experiences()
        model = STRATEGIES.load("finetune")(cfg, sc)
        x0 = exps[0].train.tensors[0]
        out.update(
            images=sum(len(e.train) + len(e.test) for e in exps),
            stored=f"{x0.dtype} {tuple(x0.shape[1:])}",
        )
        if hasattr(model, "inputs"):
            for s in range(0, 256, 64):
                x = model.inputs(x0[s : s + 64])
            out["model_input"] = f"{x.dtype} {tuple(x.shape[1:])}"
    out["peak_rss_mb"] = round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024)
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--root", type=Path, required=True, help="where the fakes are (written once)")
    ap.add_argument("--code", type=Path, default=None, help="checkout whose code to measure")
    ap.add_argument("--cases", nargs="*", default=list(CASES), choices=CASES)
    ap.add_argument("--child", default=None, help=argparse.SUPPRESS)
    a = ap.parse_args()
    if a.child:
        print(json.dumps(child(a.child, a.root)))
        return
    write_fakes(a.root)
    code = (a.code or Path(__file__).resolve().parents[1]).resolve()
    env = {**os.environ, "PYTHONPATH": str(code), "OMP_NUM_THREADS": "1"}
    print(f"code: {code}")
    for case in a.cases:
        cmd = [
            sys.executable,
            str(Path(__file__).resolve()),
            "--root",
            str(a.root),
            "--child",
            case,
        ]
        r = subprocess.run(cmd, env=env, cwd=code, capture_output=True, text=True)
        last = (r.stdout.strip().splitlines() or [r.stderr.strip().splitlines()[-1]])[-1]
        print(last)


if __name__ == "__main__":
    main()
