"""Run a study: ``python -m colorize.study --models resnet --preset cpu -- data=folder data.root=... data.val_root=...``.

Which family and which colour space colorize best, in one command: it trains every model x space x seed (a sweep: one
process per run, one run per GPU in parallel), evaluates each run's best checkpoint on the photos its run held out
(scores per photo), and compares them into ``<runs_dir>/<name>/report/report.md``, whose verdict gives each pair of
spaces within a family, and of families within a space, a paired difference over seeds and photos with its 95%
interval, the probability of improvement and Holm's correction. It ends by printing the report's path.

A preset sizes the study (``configs/study/<preset>.yaml``; the words after ``--`` override it): ``cpu``, about an hour
on 2 CPU cores for one model in the four spaces x 3 seeds; ``gpu``, 256-px crops, more epochs, with FID. A source that
can keep its resized photos (``data=folder``) keeps them in ``<runs_dir>/cache``. Run the same command again and it
goes on where it stopped: finished runs are not trained again, a stopped run continues from its last checkpoint, and
evaluations already written are reused. See :mod:`colorize.reports.study`.
"""

from __future__ import annotations

import signal
import sys
from collections.abc import Sequence

from colorize import cli
from colorize.config import available_choices, load_config, load_study_preset


def main(argv: Sequence[str] | None = None) -> int:
    parser = cli.parser("colorize.study", __doc__.split("\n")[0], checkpoint=False)
    cli.add_run_lists(parser, "default: configs/train.yaml's model (" + ", ".join(available_choices("model")) + ")")
    parser.add_argument(
        "--preset", default="cpu", help="the study's size, configs/study/<preset>.yaml: " + ", ".join(available_choices("study"))
    )
    parser.add_argument(
        "--name", help="the study's folder under runs_dir (default: study-<preset>-<models>); the same name resumes"
    )
    parser.add_argument("--out", help="where to write the report (default: <runs_dir>/<name>/report)")
    parser.add_argument(
        "--gpus", default="auto", help="auto: one run per visible GPU; none: in turn, GPUs untouched; or ids, e.g. 0,1"
    )
    parser.add_argument(
        "--wandb", action="store_true", help="also log the report's table and verdict to W&B (offline without a key)"
    )
    parser.add_argument("--dry-run", action="store_true", help="print what would be trained and stop")
    parser.add_argument("overrides", nargs="*", help="key=value config overrides for every run, after the preset's")
    args = parser.parse_intermixed_args(sys.argv[1:] if argv is None else argv)

    def command() -> int:
        preset = load_study_preset(args.preset)
        models = args.models or [load_config([]).model.name]
        spaces = args.spaces or available_choices("space")
        name = args.name or f"study-{args.preset}-{'-'.join(models)}"
        from colorize.training import sweeps

        runs = sweeps.plan(models, spaces, args.seeds, [*preset.overrides, *args.overrides], name, load_config, shared_cache=True)
        pending, finished = sweeps.continuing(runs, load_config)
        print(f"study {runs[0].run_dir.parent}: {len(runs)} run(s), {len(finished)} finished before, {len(pending)} to train")
        if args.dry_run:
            print("\n".join(" ".join(run.command) for run in pending))
            return 0
        from colorize.reports.study import run_study

        gpus = sweeps.visible_gpus() if args.gpus == "auto" else None if args.gpus == "none" else args.gpus.split(",")
        try:
            result = run_study(runs, pending, preset.eval_size, preset.fid, args.out, args.device, gpus or None, args.wandb)
        except KeyboardInterrupt:  # Ctrl+C reaches the runs too: each saves its last.ckpt and stops
            print(f"study {name} interrupted: run the same command again to go on where it stopped.", file=sys.stderr)
            return 128 + signal.SIGINT
        if result.outcomes:
            print(sweeps.summary(result.outcomes))
        print(f"evaluations: {len(result.evaluated)} written, {len(result.reused)} reused")
        for problem in result.problems:
            print(f"problem: {problem}")
        assert result.comparison is not None
        for note in result.comparison.notes:
            print(f"note: {note}")
        print(f"report: {result.comparison.out / 'report.md'}")
        return 0 if result.ok else 1

    return cli.run(command)


if __name__ == "__main__":
    sys.exit(main())
