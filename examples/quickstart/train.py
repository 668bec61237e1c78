"""A tiny, deterministic training run: linear regression by SGD in pure Python.

It needs nothing but the standard library, so `repro run` works on a fresh machine; it
writes a checkpoint and metrics to REPRO_OUTPUT_DIR (set by repro) so that replays can be
compared byte for byte. Settings come from the JSON config, and `key=value` arguments override
them (`python train.py --config configs/base.json lr=0.2`).
"""

from __future__ import annotations

import argparse
import json
import os
import random
from pathlib import Path


def make_data(
    rng: random.Random, n: int, true_w: float, true_b: float
) -> list[tuple[float, float]]:
    """Points on a line with Gaussian noise."""
    return [
        (x, true_w * x + true_b + rng.gauss(0.0, 0.1))
        for x in (rng.uniform(-1, 1) for _ in range(n))
    ]


def log_metrics(out: Path, step: int, **metrics: float) -> None:
    """One line of metrics.jsonl, as `from reprostack import log_metrics` writes it.

    Written by hand here so the example runs where reprostack is not installed (in images).
    """
    with (out / "metrics.jsonl").open("a") as handle:
        handle.write(json.dumps({"step": step, **metrics}) + "\n")


def train(config: dict[str, float], seed: int, out: Path) -> dict[str, float]:
    """Fit w and b by SGD, logging each epoch; return the final parameters and loss."""
    rng = random.Random(seed)
    data = make_data(rng, int(config["samples"]), config["true_w"], config["true_b"])
    w, b, lr = 0.0, 0.0, config["lr"]
    loss = 0.0
    for epoch in range(int(config["epochs"])):
        rng.shuffle(data)
        loss = 0.0
        for x, y in data:
            err = (w * x + b) - y
            w -= lr * err * x
            b -= lr * err
            loss += err * err
        loss /= len(data)
        print(f"epoch {epoch + 1}: loss {loss:.6f} w {w:.4f} b {b:.4f}", flush=True)
        log_metrics(out, epoch + 1, loss=loss, w_error=abs(w - config["true_w"]))
    return {"w": w, "b": b, "loss": loss}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--config", default="configs/base.json")
    parser.add_argument("--seed", type=int, default=int(os.environ.get("REPRO_SEED", "0")))
    parser.add_argument("overrides", nargs="*", metavar="KEY=VALUE", help="e.g. lr=0.2")
    args = parser.parse_args()
    config = json.loads(Path(args.config).read_text())
    for override in args.overrides:
        key, _, value = override.partition("=")
        if key not in config:
            parser.error(f"unknown setting {key!r}; known: {', '.join(sorted(config))}")
        config[key] = float(value)
    out = Path(os.environ.get("REPRO_OUTPUT_DIR", "outputs"))
    out.mkdir(parents=True, exist_ok=True)
    (out / "metrics.jsonl").unlink(missing_ok=True)  # one run, one history
    result = train(config, args.seed, out)
    (out / "checkpoint.json").write_text(
        json.dumps({"w": result["w"], "b": result["b"]}, sort_keys=True) + "\n"
    )
    (out / "metrics.json").write_text(json.dumps({"loss": result["loss"]}, sort_keys=True) + "\n")
    print(f"done: w={result['w']:.4f} b={result['b']:.4f} loss={result['loss']:.6f}")


if __name__ == "__main__":
    main()
