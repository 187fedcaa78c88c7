"""scripts/torchrun.sh and scripts/slurm.sbatch, run end to end as written: two "nodes" of one process each on this
machine train from a streaming data set into one run directory with one W&B run.

The scripts choose trainer=ddp (GPUs, bf16, synchronised BatchNorm); here the extra arguments they pass on make it
run on the CPU. Which items each process trains on is recorded by tests/record_seen/sitecustomize.py, put on
PYTHONPATH: the scripts start ``python -m colorize.train`` itself, not a test worker."""

import os
import random
import re
import signal
import socket
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from omegaconf import OmegaConf

from conftest import TINY, TRAIN_PHOTOS
from test_streaming import BATCH, RUN, STREAMING, assert_disjoint_shares_covering_every_item, free_port, worker_env

ROOT = Path(__file__).resolve().parents[1]
TESTS = Path(__file__).resolve().parent
# The keys the scripts set themselves (trainer=ddp, trainer.num_nodes, trainer.devices, name) are left to them.
CPU = ["trainer.accelerator=cpu", "trainer.precision=32-true", "trainer.sync_batchnorm=false"]  # SyncBatchNorm: GPUs only
TIMEOUT_S = 240
STEPS = 2 * TRAIN_PHOTOS // 2 // BATCH  # two epochs, each process a half of the 16 items, in batches of 4


def training_args(stream: Path, runs: Path) -> list[str]:
    args = [*(a for a in TINY if not a.startswith("trainer.devices=")), *CPU, *STREAMING, "data=streaming", f"data.root={stream}"]
    args += [*RUN, "logger=wandb", "logger.mode=offline", f"runs_dir={runs}", "trainer.limit_val_batches=1"]
    assert not [a for a in args if a.split("=")[0] in ("trainer", "trainer.num_nodes", "trainer.devices", "name")]
    return args


# What a launcher or a scheduler would set: none of it may come from the environment the tests run in.
LAUNCH_VARS = ("MASTER_ADDR", "MASTER_PORT", "NODE_RANK", "WORLD_SIZE", "RANK", "LOCAL_RANK", "GLOBAL_RANK", "NNODES")


def recording_env(seen: Path) -> dict[str, str]:
    """The tests' environment, less any launcher's variables, and the recording of tests/record_seen into ``seen``."""
    seen.mkdir()
    env = {k: v for k, v in worker_env().items() if k not in LAUNCH_VARS and not k.startswith("SLURM")}
    path = os.pathsep.join([str(TESTS / "record_seen"), str(TESTS), os.environ.get("PYTHONPATH", "")])
    return {**env, "PYTHONPATH": path.rstrip(os.pathsep), "SEEN_DIR": str(seen)}


def run_together(commands: list[tuple[list[str], dict[str, str]]], logs: Path) -> list[int]:
    """Start every command at once from the repository root (each in its own session, its output in a log file),
    and wait for all; past TIMEOUT_S stop them all and fail."""
    logs.mkdir()
    procs = []
    for i, (command, env) in enumerate(commands):
        with open(logs / f"{i}.log", "w") as log:
            procs.append(
                subprocess.Popen(command, cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
            )
    try:
        for proc in procs:
            proc.wait(timeout=TIMEOUT_S)
    except subprocess.TimeoutExpired:
        for sig in (signal.SIGTERM, signal.SIGKILL):  # torchrun passes SIGTERM on to its workers (their own sessions)
            for proc in procs:
                if proc.poll() is None:
                    os.killpg(proc.pid, sig)
            for proc in procs:
                try:
                    proc.wait(timeout=30)
                except subprocess.TimeoutExpired:
                    pass
        pytest.fail(f"still running after {TIMEOUT_S} s\n{tails(logs)}")
    return [proc.returncode for proc in procs]


def tails(logs: Path) -> str:
    return "\n".join(f"---- {log.name}\n{log.read_text(errors='replace')[-3000:]}" for log in sorted(logs.glob("*.log")))


def assert_one_run(runs: Path, name: str, seen: Path) -> None:
    assert [p.name for p in runs.iterdir()] == [name]
    run_dir = runs / name
    config = OmegaConf.load(run_dir / "config.yaml")  # what the script set, not the test
    assert (config.name, config.trainer.num_nodes, config.trainer.devices, config.trainer.strategy) == (name, 2, 1, "ddp")
    assert torch.load(run_dir / "checkpoints" / "last.ckpt", weights_only=True)["global_step"] == STEPS
    assert len(list((run_dir / "wandb").glob("offline-run-*"))) == 1
    assert_disjoint_shares_covering_every_item(seen)


@pytest.mark.slow
def test_torchrun_script_on_two_nodes(written, tmp_path):
    """scripts/torchrun.sh started twice at once, as on two nodes (NODE_RANK 0 and 1, one process each).

    LitData counts nodes by $NNODES too: on 2, it gave both nodes the same items from the second epoch on, until
    colorize.data.litdata_stream.StreamingCrops shared the chunks out as on one node (test_streaming.py tests that fast)."""
    runs, seen = tmp_path / "runs", tmp_path / "seen"
    env = {**recording_env(seen), "PYTHON": sys.executable, "NNODES": "2", "MASTER_ADDR": "127.0.0.1"}
    env |= {"MASTER_PORT": str(free_port()), "GPUS": "1", "RUN": "photos-1"}
    command = [str(ROOT / "scripts" / "torchrun.sh"), *training_args(written[2], runs)]
    codes = run_together([(command, {**env, "NODE_RANK": str(rank)}) for rank in (0, 1)], tmp_path / "logs")
    assert codes == [0, 0], tails(tmp_path / "logs")
    assert_one_run(runs, "photos-1", seen)


# srun, simulated: there is no SLURM here. It does what real srun does for the tasks of a job step: starts
# SLURM_NTASKS copies of its command (this machine stands for every node), each with the variables srun gives a task,
# in the environment of the batch script, and waits for all. Like srun --kill-on-bad-exit, the first task to fail
# stops the others, and its exit status is srun's.
FAKE_SRUN = r"""#!/usr/bin/env bash
set -u
if [[ $# -eq 0 || $1 == -* ]]; then echo "fake srun: give a command, and no options" >&2; exit 2; fi
: "${SLURM_JOB_ID:?}" "${SLURM_NNODES:?}" "${SLURM_NTASKS_PER_NODE:?}" "${SLURM_NODELIST:?}"
ntasks=${SLURM_NTASKS:-$((SLURM_NNODES * SLURM_NTASKS_PER_NODE))}
IFS=, read -ra nodes <<< "$SLURM_NODELIST"
if (( ${#nodes[@]} != SLURM_NNODES )); then echo "fake srun: SLURM_NODELIST must list SLURM_NNODES nodes" >&2; exit 2; fi
pids=()
for ((task = 0; task < ntasks; task++)); do
  node=$((task / SLURM_NTASKS_PER_NODE)) first=$((task / SLURM_NTASKS_PER_NODE * SLURM_NTASKS_PER_NODE))
  (
    export SLURM_PROCID=$task SLURM_LOCALID=$((task % SLURM_NTASKS_PER_NODE)) SLURM_NODEID=$node
    export SLURMD_NODENAME=${nodes[node]} SLURM_TOPOLOGY_ADDR=${nodes[node]} SLURM_TASK_PID=$BASHPID
    export SLURM_GTIDS=$(seq -s, "$first" $((first + SLURM_NTASKS_PER_NODE - 1)))
    export SLURM_NTASKS=$ntasks SLURM_NPROCS=$ntasks SLURM_STEP_ID=0 SLURM_STEPID=0
    export SLURM_STEP_NUM_NODES=$SLURM_NNODES SLURM_STEP_NUM_TASKS=$ntasks SLURM_STEP_NODELIST=$SLURM_NODELIST
    export SLURM_STEP_TASKS_PER_NODE=${SLURM_TASKS_PER_NODE:-$SLURM_NTASKS_PER_NODE(x$SLURM_NNODES)}
    exec "$@"
  ) &
  pids+=($!)
done
status=0
for _ in "${pids[@]}"; do
  wait -n
  code=$?
  if (( code != 0 && status == 0 )); then
    status=$code
    echo "fake srun: a task exited with status $code; stopping the others" >&2
    kill "${pids[@]}" 2>/dev/null
  fi
done
exit $status
"""


def slurm_job_id() -> str:
    """A job id whose port is free here: Lightning's SLURM environment listens on 15000 + its last four digits."""
    for last4 in random.sample(range(10000), 100):
        with socket.socket() as s:
            try:
                s.bind(("127.0.0.1", 15000 + last4))
            except OSError:
                continue
        return f"7{last4:04d}"
    raise AssertionError("no free port in 15000-24999")


@pytest.mark.slow
def test_slurm_script_on_two_nodes(written, tmp_path):
    """scripts/slurm.sbatch run by bash in the environment sbatch gives a batch script of a job with 2 nodes of 1 task
    (--nodes=2 --ntasks-per-node=1, the job name from its #SBATCH line), with srun simulated (FAKE_SRUN): this
    machine stands for both nodes, which the node list names as localhost and 127.0.0.1. Lightning's SLURM
    environment takes the ranks from SLURM_PROCID, SLURM_LOCALID and SLURM_NODEID, the main address from the node
    list, the port from the job id, and checks the task counts against trainer.num_nodes and trainer.devices."""
    runs, seen, bin_dir = tmp_path / "runs", tmp_path / "seen", tmp_path / "bin"
    bin_dir.mkdir()
    (bin_dir / "srun").write_text(FAKE_SRUN)
    (bin_dir / "srun").chmod(0o755)
    script = ROOT / "scripts" / "slurm.sbatch"
    job_name = re.search(r"^#SBATCH --job-name=(\S+)$", script.read_text(), re.MULTILINE)[1]
    job_id, nodes = slurm_job_id(), "localhost,127.0.0.1"
    env = {**recording_env(seen), "PATH": f"{bin_dir}{os.pathsep}{os.environ['PATH']}", "PYTHON": sys.executable}
    env |= {
        "SLURM_JOB_ID": job_id,
        "SLURM_JOBID": job_id,
        "SLURM_JOB_NAME": job_name,
        "SLURM_JOB_NODELIST": nodes,
        "SLURM_NODELIST": nodes,
        "SLURM_JOB_NUM_NODES": "2",
        "SLURM_NNODES": "2",
        "SLURM_NTASKS": "2",
        "SLURM_NPROCS": "2",
        "SLURM_NTASKS_PER_NODE": "1",
        "SLURM_TASKS_PER_NODE": "1(x2)",
        "SLURM_JOB_CPUS_PER_NODE": "1(x2)",
        "SLURM_CPUS_PER_TASK": "1",
        "SLURM_SUBMIT_DIR": str(ROOT),
        "SLURM_SUBMIT_HOST": "localhost",
        "SLURMD_NODENAME": "localhost",
        "SLURM_NODEID": "0",  # the batch script is task 0 of node 0
        "SLURM_PROCID": "0",
        "SLURM_LOCALID": "0",
    }
    codes = run_together([([str(script), *training_args(written[2], runs)], env)], tmp_path / "logs")
    assert codes == [0], tails(tmp_path / "logs")
    assert "SLURM auto-requeueing enabled" in (tmp_path / "logs" / "0.log").read_text()  # Lightning's SLURM environment
    assert_one_run(runs, f"{job_name}-{job_id}", seen)
