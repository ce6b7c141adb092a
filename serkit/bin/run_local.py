"""Run a command as an array of jobs on this machine (Kaldi's run.pl): a recipe's ``train_cmd``.

    serkit-run [--max_jobs_run N] [--num_threads T] [--mem M] [--gpu G] [--time T] \\
        [JOB=1:N | JOB=name1,name2,... | JOB=@FILE] LOG COMMAND [ARG ...]

Every ``JOB`` in LOG and in the arguments becomes the job's number or name (``@FILE``: one
name a line). Each job's output
goes to its LOG, which ends with ``# Ended (code N)``. Exits 1 once all jobs have ended if any
failed, naming their logs. ``--mem``, ``--gpu`` and ``--time`` are accepted so that one cmd.sh
line serves every dispatcher; here they are not enforced. ``--num_threads T`` sets
OMP_NUM_THREADS of each job unless the caller set it; by default a job keeps torch's default
(every core), as the same command run by hand would.

Example (from a recipe dir, cmd.sh: train_cmd="serkit-run"):
    serkit-run --max_jobs_run 2 JOB=1:4 exp/log/dump.JOB.log \\
        serkit-dump-feats --feat_conf conf/feats/mfcc.yaml --job JOB data/all dump/mfcc/all
"""
from __future__ import annotations

import argparse

from serkit.bin.common import run_main


def add_resource_options(p: argparse.ArgumentParser) -> None:
    p.add_argument("--max_jobs_run", type=int, default=0, help="jobs at once (default: all)")
    p.add_argument("--num_threads", type=int, default=0,
                   help="CPU threads per job: OMP_NUM_THREADS (unless set already) and Slurm's --cpus-per-task")
    p.add_argument("--mem", default="", help="memory per job, e.g. 8G")
    p.add_argument("--gpu", type=int, default=0, help="GPUs per job (per node)")
    p.add_argument("--time", default="", help="wall-time limit per job, e.g. 24:00:00")
    p.add_argument("--num_nodes", type=int, default=1, help="nodes per job (multi-node training)")
    p.add_argument("command", nargs=argparse.REMAINDER, help="[JOB=1:N] LOG COMMAND [ARG ...]")


def resources(args):
    from serkit.dispatch import Resources

    return Resources(max_jobs_run=args.max_jobs_run, num_threads=args.num_threads, mem=args.mem,
                     gpu=args.gpu, time=args.time, num_nodes=args.num_nodes)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    add_resource_options(p)
    args = p.parse_args()
    from serkit.dispatch import LocalBackend, parse_command

    LocalBackend(resources(args)).run(parse_command(args.command))


def stop_on_sigterm() -> None:
    """SIGTERM (a killed stage, scancel) unwinds like Ctrl-C: the dispatcher stops its jobs first."""
    import signal
    import sys

    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))


def cli() -> None:
    stop_on_sigterm()
    run_main(main)


if __name__ == "__main__":
    cli()
