"""Train a whole matrix of runs: ``python -m colorize.sweep --models cnn --spaces lab luv --seeds 0 1 2 -- [key=value ...]``.

Each cell (model x space x seed) is one ``python -m colorize.train model=M space=S seed=N key=value ...``
in a process of its own. Its run directory is ``<runs_dir>/<sweep>/<model>-<space>-seed<N>`` and its
output goes to ``<runs_dir>/<sweep>/logs/``; in W&B it joins the group ``<model>-<space>`` like any run,
tagged with the sweep's name. Every cell's config is checked before anything starts.

With several GPUs the runs go one per GPU in parallel (``CUDA_VISIBLE_DEVICES``), otherwise in turn.
A failed run does not stop the others; failures are listed at the end with their logs, and the exit
status is then 1. Compare the results with ``python -m colorize.compare <runs_dir>/<sweep>``.
See :mod:`colorize.training.sweeps`.
"""

from __future__ import annotations

import signal
import sys
import time
from collections.abc import Sequence

from colorize import cli
from colorize.config import available_choices, load_config


def main(argv: Sequence[str] | None = None) -> int:
    parser = cli.parser("colorize.sweep", __doc__.split("\n")[0], checkpoint=False, device=False)
    cli.add_run_lists(parser, "default: every model (" + ", ".join(available_choices("model")) + ")")
    parser.add_argument(
        "--name", default=None, help="the sweep's folder under runs_dir and its W&B tag (default: sweep-<date>-<time>)"
    )
    parser.add_argument(
        "--gpus", default="auto", help="auto: one run per visible GPU; none: in turn, GPUs untouched; or ids, e.g. 0,1"
    )
    parser.add_argument("--dry-run", action="store_true", help="print the commands and stop")
    parser.add_argument("overrides", nargs="*", help="key=value config overrides for every run (after --)")
    args = parser.parse_args(sys.argv[1:] if argv is None else argv)
    name = args.name or time.strftime("sweep-%Y%m%d-%H%M%S")

    def command() -> int:
        from colorize.training import sweeps

        models, spaces = args.models or available_choices("model"), args.spaces or available_choices("space")
        runs = sweeps.plan(models, spaces, args.seeds, args.overrides, name, load_config)
        if args.dry_run:
            print("\n".join(" ".join(run.command) for run in runs))
            return 0
        gpus = sweeps.visible_gpus() if args.gpus == "auto" else None if args.gpus == "none" else args.gpus.split(",")
        print(f"sweep {name}: {len(runs)} run(s), " + (f"one per GPU on GPU(s) {', '.join(gpus)}" if gpus else "in turn"))
        try:
            outcomes = sweeps.run_sweep(runs, gpus or None)
        except KeyboardInterrupt:  # Ctrl+C reaches the runs too: each saves its last.ckpt and stops
            print(
                f"sweep {name} interrupted. A run that was training saved its checkpoints/last.ckpt: continue it with "
                "python -m colorize.train resume=<run dir>/checkpoints/last.ckpt (see its log). Runs not started were not run.",
                file=sys.stderr,
            )
            return 128 + signal.SIGINT
        print(sweeps.summary(outcomes))
        print(f"compare them with: make compare RUNS={runs[0].run_dir.parent} OUT=report/{name}")
        return 0 if all(o.ok for o in outcomes) else 1

    return cli.run(command)


if __name__ == "__main__":
    sys.exit(main())
