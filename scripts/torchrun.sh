#!/bin/bash
# Train colorize on several nodes with torchrun (or any launcher that sets RANK, LOCAL_RANK, WORLD_SIZE,
# MASTER_ADDR and MASTER_PORT). Run the same command on every node, with that node's rank:
#   NNODES=2 NODE_RANK=0 MASTER_ADDR=node0.example RUN=photos-1 scripts/torchrun.sh data=streaming data.root=s3://bucket/photos-stream
#   NNODES=2 NODE_RANK=1 MASTER_ADDR=node0.example RUN=photos-1 scripts/torchrun.sh data=streaming data.root=s3://bucket/photos-stream
# RUN names the run: every node must give the same name, and runs_dir must be on a file system all nodes share.
# GPUS: processes per node (default: every GPU, or 1 without any); MASTER_PORT defaults to 29500; PYTHON to
# .venv/bin/python. Nodes without GPUs: add trainer.accelerator=cpu trainer.precision=32-true trainer.sync_batchnorm=false.
# Without torchrun, one process per node also works: NODE_RANK, MASTER_ADDR, MASTER_PORT and WORLD_SIZE in the
# environment, then python -m colorize.train trainer=ddp trainer.num_nodes=N trainer.devices=1 name=RUN ...
set -euo pipefail
: "${NNODES:?number of nodes}" "${NODE_RANK:?this node's rank, 0 to NNODES-1}" "${MASTER_ADDR:?node 0's address}" "${RUN:?run name}"
GPUS=${GPUS:-$(nvidia-smi --list-gpus 2>/dev/null | wc -l)}
GPUS=$((GPUS > 0 ? GPUS : 1))
exec "${PYTHON:-.venv/bin/python}" -m torch.distributed.run \
  --nnodes="${NNODES}" --node_rank="${NODE_RANK}" --nproc_per_node="${GPUS}" \
  --master_addr="${MASTER_ADDR}" --master_port="${MASTER_PORT:-29500}" \
  -m colorize.train trainer=ddp trainer.num_nodes="${NNODES}" trainer.devices="${GPUS}" name="${RUN}" "$@"
