"""Run by test_streaming.py as ``python -m stream_worker ARGS`` (under DDP, or as one node of two): train, and write
``<run>/seen-rank<N>.json``, the (epoch, item) of every training item this process loaded. Imported, it only records
into ``seen`` (tests/record_seen/sitecustomize.py does so in a process that runs colorize.train itself)."""

import json
import sys

from colorize.data import litdata_stream as streaming

seen: list[tuple[int, int]] = []
_load = streaming.StreamingCrops.__getitem__


def _recording(self, index):
    if not self.fixed:
        seen.append((self.current_epoch, int(index.index)))
    return _load(self, index)


streaming.StreamingCrops.__getitem__ = _recording

if __name__ == "__main__":
    from colorize.train import config_for
    from colorize.training.fit import train

    result = train(config_for(sys.argv[1:]))
    (result.run.dir / f"seen-rank{result.trainer.global_rank}.json").write_text(json.dumps(seen))
