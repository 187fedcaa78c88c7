"""A study: which family and which colour space colorize best, from training to the verdict in one go.

Three steps, each of the machinery its command uses: the sweep (every model x space x seed, in processes of their own:
:mod:`colorize.training.sweeps`); then each run's best checkpoint evaluated on the photos its run held out
(:func:`colorize.reports.evaluation.evaluate`, into the run directory, with scores per photo); then the comparison of
the study's folder (:func:`colorize.reports.comparison.compare`), whose verdict then stands on those evaluations.

Run again, a study goes on where it stopped and loses nothing: a finished run is not trained again, one that was
stopped continues from its last.ckpt, an evaluation already written at the study's size is reused (and one at another
size is left alone), and a run directory made with other settings stops the study before anything runs.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from colorize.errors import UserError
from colorize.reports.comparison import Comparison, compare
from colorize.reports.evaluation import default_output_dir, evaluate, load_test_set, photo_evaluations
from colorize.runs import Run
from colorize.training import sweeps


@dataclass
class StudyResult:
    runs: list[sweeps.SweepRun]  # every run of the study
    outcomes: list[sweeps.Outcome]  # of the runs trained now
    evaluated: list[Path] = field(default_factory=list)  # evaluations written now
    reused: list[Path] = field(default_factory=list)  # evaluations written before
    problems: list[str] = field(default_factory=list)  # runs that could not be evaluated, and why
    comparison: Comparison | None = None

    @property
    def ok(self) -> bool:
        return all(o.ok for o in self.outcomes) and not self.problems


def _evaluation_dir(checkpoint: Path) -> Path:
    """evaluate's own folder for the run's held-out photos, or, where an evaluation at another size is there already, a
    new one beside it."""
    folder = default_output_dir(checkpoint, load_test_set(checkpoint, None)[1])
    candidate, n = folder, 1
    while (candidate / "metrics.json").exists():
        n += 1
        candidate = folder.with_name(f"{folder.name}-{n}")
    return candidate


def evaluate_runs(eval_size: int, fid: bool, device: str, result: StudyResult, say: Callable[[str], None]) -> None:
    """Each run's best checkpoint on the photos its run held out, with scores per photo; one already evaluated so is
    reused."""
    for number, run in enumerate(result.runs, 1):
        record = Run(run.run_dir)
        checkpoint = record.best_checkpoint if record.config_path.is_file() else None
        if checkpoint is None:
            result.problems.append(f"{run.cell.name}: no checkpoint to evaluate (see {run.log})")
            continue
        notes: list[str] = []
        done = [
            path
            for path, report in photo_evaluations(record, notes)
            if "held_out" in report["test_set"] and report["protocol"]["eval_size"] == eval_size
        ]
        if done:
            result.reused.append(done[0])
            continue
        say(f"[{number}/{len(result.runs)}] evaluating {checkpoint} on the photos its run held out, at {eval_size} px")
        try:
            _, path = evaluate(checkpoint, out=_evaluation_dir(checkpoint), eval_size=eval_size, fid=fid, device=device, say=say)
        except UserError as e:
            result.problems.append(f"{run.cell.name}: cannot be evaluated: {e}")
            continue
        result.evaluated.append(path)


def run_study(
    runs: Sequence[sweeps.SweepRun],
    pending: Sequence[sweeps.SweepRun],
    eval_size: int,
    fid: bool,
    out: str | Path | None = None,
    device: str = "auto",
    gpus: Sequence[str] | None = None,
    log_wandb: bool = False,
    say: Callable[[str], None] = print,
) -> StudyResult:
    """The study of ``runs`` (a sweep's plan, :func:`colorize.training.sweeps.plan`): train the ``pending`` ones
    (:func:`colorize.training.sweeps.continuing`), evaluate every run's best checkpoint, and compare the study's folder
    into ``out`` (default: ``<study folder>/report``). A run that fails does not stop the others: ``result.ok`` says
    whether all went well, and the report covers what there is."""
    result = StudyResult(list(runs), sweeps.run_sweep(pending, gpus) if pending else [])
    evaluate_runs(eval_size, fid, device, result, say)
    folder = runs[0].run_dir.parent
    report = Path(out).expanduser() if out else folder / "report"
    result.comparison = compare(folder, report, device=device, log_wandb=log_wandb, fid=fid, say=say)
    return result
