"""Train a colorizer: ``python -m colorize.train model=cnn space=lab [key=value ...]``."""

from __future__ import annotations

import sys
from collections.abc import Sequence

from omegaconf import DictConfig

from colorize import cli
from colorize.config import cli_config, load_config
from colorize.data import get_source
from colorize.runs import Run


def config_for(argv: Sequence[str]) -> DictConfig:
    """The config of a new run, or, with resume=..., the saved config of that run plus any overrides."""
    # resume= is read from the words themselves: the defaults' model would reject the saved model's keys
    resume = next((word.partition("=")[2] for word in reversed(argv) if word.startswith("resume=")), None)
    run = Run.of_checkpoint(resume) if resume else None
    return load_config(argv, base=run.config if run is not None else None)


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)

    def command() -> int:
        cfg = cli_config(argv, "colorize.train", loader=config_for)
        get_source(cfg.data.source).check(cfg.data)  # a missing folder is told before torch is imported
        from colorize.training.fit import train

        result = train(cfg)
        if result.interrupt.signal is not None:
            if result.trainer.is_global_zero:
                print(result.interrupted_message(), file=sys.stderr)
            return 128 + result.interrupt.signal
        if result.trainer.is_global_zero:
            print(f"run directory: {result.run.dir}")
            if result.checkpoint.best_model_score is not None:
                score = float(result.checkpoint.best_model_score)
                print(f"best checkpoint ({result.checkpoint.monitor}={score:.4f}): {result.checkpoint.best_model_path}")
            elif result.checkpoint.best_model_path:
                print(f"best checkpoint (monitor=last: the newest): {result.checkpoint.best_model_path}")
        return 0

    return cli.run(command)


if __name__ == "__main__":
    sys.exit(main())
