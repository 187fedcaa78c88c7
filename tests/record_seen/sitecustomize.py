"""Test-only, put on PYTHONPATH by tests/test_launchers.py: a process that runs ``python -m colorize.train`` (as
scripts/torchrun.sh and scripts/slurm.sbatch start it, unchanged) records the training items it loads, as
tests/stream_worker.py does, and writes them at exit to ``$SEEN_DIR/seen-rank<global rank>.json``."""

import atexit
import json
import os
import sys
from pathlib import Path

_argv = sys.orig_argv
if "-m" in _argv and _argv[_argv.index("-m") + 1 :][:1] == ["colorize.train"]:
    import stream_worker  # tests/ is on PYTHONPATH too

    # Where Lightning takes the global rank from: RANK under torchrun, SLURM_PROCID under srun.
    _path = Path(os.environ["SEEN_DIR"]) / f"seen-rank{os.environ.get('RANK') or os.environ['SLURM_PROCID']}.json"
    atexit.register(lambda: _path.write_text(json.dumps(stream_worker.seen)))
