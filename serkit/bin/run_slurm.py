"""Run a command as a Slurm array job and wait for it (Kaldi's slurm.pl): a recipe's ``cuda_cmd``
on a cluster.

    serkit-slurm [--max_jobs_run N] [--num_threads T] [--mem M] [--gpu G] [--time T] \\
        [--num_nodes K] [--partition P] [--sbatch_opts "..."] [--poll S] \\
        [JOB=1:N | JOB=name1,name2,... | JOB=@FILE] LOG COMMAND [ARG ...]

Submits one ``sbatch`` array (``--array 1-N%max_jobs_run``, ``--cpus-per-task``, ``--mem``,
``--time``, ``--gres=gpu:G``; ``--nodes K`` with one task per node for multi-node torchrun),
polls ``squeue`` until it has left the queue, and reads each task's exit status from the end of
its LOG, as serkit-run writes it. Exits 1 if any task failed or died (a log without its
``# Ended`` line), naming the logs; Ctrl-C cancels the job (scancel). Slurm's own output and the
batch script go to LOG's dir, under q/.

Example (cmd.sh: cuda_cmd="serkit-slurm --gpu 1 --mem 16G --time 24:00:00"):
    serkit-slurm --gpu 1 JOB=fold1,fold2 exp/blstm/JOB.log serkit-train --config conf/train.yaml ...
"""
from __future__ import annotations

import argparse

from serkit.bin.common import run_main
from serkit.bin.run_local import add_resource_options, resources, stop_on_sigterm


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--partition", default="", help="Slurm partition")
    p.add_argument("--sbatch_opts", default="", help="more sbatch options, split at spaces")
    p.add_argument("--poll", type=float, default=10.0, help="seconds between squeue checks")
    add_resource_options(p)
    args = p.parse_args()
    from serkit.dispatch import SlurmBackend, parse_command

    backend = SlurmBackend(resources(args), partition=args.partition, sbatch_opts=args.sbatch_opts, poll=args.poll)
    backend.run(parse_command(args.command))


def cli() -> None:
    stop_on_sigterm()
    run_main(main)


if __name__ == "__main__":
    cli()
