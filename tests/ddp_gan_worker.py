"""Run by test_gan.py as ``python -m ddp_gan_worker ARGS`` under DDP: train, then save what this process holds.

Each process writes ``<run>/rank<N>.pt`` with its final parameters and the dataset indices of its shard.
"""

import sys

import torch

from colorize.train import config_for
from colorize.training.fit import train

if __name__ == "__main__":
    result = train(config_for(sys.argv[1:]))
    torch.save(
        {
            "parameters": {name: p.detach() for name, p in result.module.named_parameters()},
            "indices": torch.tensor([index for index, _epoch in result.trainer.train_dataloader.sampler]),
        },
        result.run.dir / f"rank{result.trainer.global_rank}.pt",
    )
