"""Job dispatch in the Kaldi/ESPnet convention: one command, run as an array of jobs.

    DISPATCHER [options] [JOB=1:N | JOB=name1,name2,... | JOB=@FILE] LOG COMMAND [ARG ...]

Every ``JOB`` in LOG and in the arguments becomes the job's value (its number, or its name).
Each job writes LOG (a header with the command, its output, then ``# Ended (code N)``); the
dispatcher returns once every job has ended and fails if any job failed, naming the logs.
Backends: :class:`LocalBackend` (``run.pl``: N processes on this machine, at most
``max_jobs_run`` at once) and :class:`SlurmBackend` (``sbatch`` array jobs, polled with
``squeue`` until done; exit codes read from the job logs, so no accounting database is needed).

The command runs as an argument vector, never through a shell: a path with spaces or quotes is
one argument, and nothing in a job's value can run code.
"""
from __future__ import annotations

import json
import os
import re
import shlex
import signal
import subprocess
import sys
import time
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Dict, List, Optional, Sequence

from serkit.errors import ConfigError, SerkitError

_ENDED = re.compile(r"^# Ended \(code (-?\d+)\)", re.M)


class JobsFailed(SerkitError):
    """Some jobs of an array ended with a non-zero status."""


@dataclass
class JobArray:
    """A command and the values its ``JOB`` placeholder takes (one job each)."""

    argv: List[str]
    log: str
    names: List[str] = field(default_factory=lambda: ["1"])
    array: bool = False   # a JOB= spec was given (JOB is substituted); else one plain job

    def job_argv(self, name: str) -> List[str]:
        return [a.replace("JOB", name) for a in self.argv] if self.array else list(self.argv)

    def job_log(self, name: str) -> Path:
        return Path(self.log.replace("JOB", name) if self.array else self.log)

    def to_json(self) -> str:   # how a job's runner process receives the array
        return json.dumps({"argv": self.argv, "log": self.log, "names": self.names, "array": self.array})

    @classmethod
    def from_json(cls, text: str) -> "JobArray":
        spec = json.loads(text)
        return cls(argv=spec["argv"], log=spec["log"], names=spec["names"], array=spec["array"])


def parse_job_spec(spec: str) -> List[str]:
    """``JOB=1:4`` -> ['1', '2', '3', '4']; ``JOB=fold1,fold3`` -> ['fold1', 'fold3'];
    ``JOB=@list`` -> the lines of the file ``list`` (names that may hold commas)."""
    value = spec.split("=", 1)[1]
    m = re.fullmatch(r"(\d+):(\d+)", value)
    if m:
        first, last = int(m.group(1)), int(m.group(2))
        if first < 1 or last < first:
            raise ConfigError(f"'{spec}': a job range is JOB=FIRST:LAST with 1 <= FIRST <= LAST")
        return [str(i) for i in range(first, last + 1)]
    if value.startswith("@"):
        try:
            names = [line.strip() for line in Path(value[1:]).read_text().splitlines() if line.strip()]
        except OSError as e:
            raise ConfigError(f"'{spec}': cannot read the job list: {e.strerror}") from None
    else:
        names = [n for n in value.split(",") if n]
    if not names or len(set(names)) != len(names):
        raise ConfigError(f"'{spec}': give JOB=FIRST:LAST, distinct comma-separated names or @FILE of names")
    for n in names:   # a name becomes part of a log path: keep it inside the working dir
        if n.startswith("/") or ".." in n.split("/") or re.search(r"[\s\x00-\x1f]", n):
            raise ConfigError(f"'{spec}': job name '{n}' must be a relative path without '..' or spaces")
    return names


def parse_command(rest: Sequence[str]) -> JobArray:
    """The positional part of a dispatcher call: [JOB=...] LOG COMMAND [ARG ...]."""
    rest = list(rest)
    names, array = ["1"], False
    if rest and rest[0].startswith("JOB="):
        names, array = parse_job_spec(rest.pop(0)), True
    if len(rest) < 2:
        raise ConfigError("usage: [JOB=1:N] LOG COMMAND [ARG ...]: a log file and a command are needed")
    log, argv = rest[0], rest[1:]
    if array and "JOB" not in log and len(names) > 1:
        raise ConfigError(f"log '{log}' must contain JOB: the {len(names)} jobs would write one file")
    return JobArray(argv=argv, log=log, names=names, array=array)


def _stamp() -> str:
    return datetime.now().strftime("%a %b %d %H:%M:%S %Z %Y").replace("  ", " ")


def run_job(jobs: JobArray, name: str, env: Optional[Dict[str, str]] = None) -> int:
    """Run one job of the array, writing its log; return its exit status."""
    log = jobs.job_log(name)
    node = int(os.environ.get("SLURM_NODEID", "0") or 0)
    if node > 0:   # multi-node jobs: node 0 writes the log the dispatcher reads
        log = log.with_name(f"{log.name}.node{node}")
    log.parent.mkdir(parents=True, exist_ok=True)
    argv = jobs.job_argv(name)
    t0 = time.time()
    with open(log, "w") as f:
        f.write(f"# {shlex.join(argv)}\n# Started at {_stamp()}\n#\n")
        f.flush()
        try:
            # same process group as this runner: stopping the runner's group stops the job
            code = subprocess.call(argv, stdout=f, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, env=env)
        except OSError as e:   # command not found, not executable
            f.write(f"{argv[0]}: {e.strerror}\n")
            code = 127
        f.write(f"# Accounting: time={int(time.time() - t0)}\n"
                f"# Ended (code {code}) at {_stamp()}, elapsed time {int(time.time() - t0)} seconds\n")
    return code


def log_status(log: Path) -> Optional[int]:
    """The exit status recorded at the end of a job log; None where the job never ended."""
    try:
        text = log.read_text(errors="replace")
    except FileNotFoundError:
        return None
    codes = _ENDED.findall(text)
    return int(codes[-1]) if codes else None


@dataclass
class Resources:
    """What every job of the array asks for."""

    max_jobs_run: int = 0      # jobs at once; 0 = all (run.pl) / no array limit (Slurm)
    num_threads: int = 0       # CPU threads a job uses (OMP_NUM_THREADS, --cpus-per-task); 0: not set
    mem: str = ""              # e.g. 8G
    gpu: int = 0               # GPUs a job (a node, with num_nodes) uses
    time: str = ""             # wall-time limit, e.g. 24:00:00
    num_nodes: int = 1         # nodes a job spans (multi-node torchrun)


def _failed_message(jobs: JobArray, failed: List[str]) -> str:
    logs = [str(jobs.job_log(n)) for n in failed]
    shown = ", ".join(logs[:3]) + (f" and {len(logs) - 3} more" if len(logs) > 3 else "")
    return f"{len(failed)} of {len(jobs.names)} job(s) failed: see {shown}"


class LocalBackend:
    """``run.pl``: every job a process on this machine, at most ``max_jobs_run`` at once."""

    def __init__(self, res: Resources):
        if res.num_nodes > 1:
            raise ConfigError("--num_nodes > 1 needs a cluster dispatcher (serkit-slurm); "
                              "this one runs on one machine")
        self.res = res

    def run(self, jobs: JobArray) -> None:
        env = dict(os.environ)
        if self.res.num_threads > 0 and "OMP_NUM_THREADS" not in os.environ:   # else torch's default
            env["OMP_NUM_THREADS"] = str(self.res.num_threads)
        limit = self.res.max_jobs_run or len(jobs.names)
        todo = list(jobs.names)
        running: Dict[int, tuple] = {}    # pid -> (name, Popen of the job's runner)
        failed: List[str] = []
        py = [sys.executable, "-m", "serkit.dispatch"]
        spec = jobs.to_json()
        try:
            while todo or running:
                while todo and len(running) < limit:
                    name = todo.pop(0)
                    # a runner process per job, so that an interrupt can stop each job's group
                    p = subprocess.Popen(py + ["run_job", spec, name], env=env, start_new_session=True)
                    running[p.pid] = (name, p)
                pid, status = os.wait()
                if pid not in running:
                    continue
                name, _ = running.pop(pid)
                if os.waitstatus_to_exitcode(status) != 0:
                    failed.append(name)
        except (KeyboardInterrupt, SystemExit):
            for _, p in running.values():
                try:
                    os.killpg(p.pid, signal.SIGTERM)
                except ProcessLookupError:
                    pass
            raise
        if failed:
            failed.sort(key=jobs.names.index)
            raise JobsFailed(_failed_message(jobs, failed))


class SlurmBackend:
    """``slurm.pl``: one ``sbatch`` array job; waits for it and reads each task's status from its log."""

    def __init__(self, res: Resources, partition: str = "", sbatch_opts: str = "", poll: float = 10.0):
        self.res, self.partition, self.poll = res, partition, poll
        self.sbatch_opts = shlex.split(sbatch_opts)

    def sbatch_args(self, jobs: JobArray, qdir: Path) -> List[str]:
        res = self.res
        args = ["sbatch", "--parsable", "--job-name", f"serkit-{Path(jobs.argv[0]).name}",
                "--output", str(qdir / "slurm-%A_%a.out"), "--cpus-per-task", str(max(res.num_threads, 1))]
        if len(jobs.names) > 1:
            args += ["--array", f"1-{len(jobs.names)}" + (f"%{res.max_jobs_run}" if res.max_jobs_run else "")]
        if res.mem:
            args += ["--mem", res.mem]
        if res.time:
            args += ["--time", res.time]
        if res.gpu:
            args += ["--gres", f"gpu:{res.gpu}"]
        if res.num_nodes > 1:
            args += ["--nodes", str(res.num_nodes), "--ntasks-per-node", "1"]
        if self.partition:
            args += ["--partition", self.partition]
        return args + self.sbatch_opts

    def script(self, spec_path: Path) -> str:
        run = f"{shlex.quote(sys.executable)} -m serkit.dispatch run_job @{shlex.quote(str(spec_path))} " \
              '"${SLURM_ARRAY_TASK_ID:-1}" --index'
        lines = ["#!/usr/bin/env bash", f"cd {shlex.quote(os.getcwd())}"]
        if self.res.num_threads > 0:   # threads of the CPUs Slurm gave the task
            lines.append(f"export OMP_NUM_THREADS={self.res.num_threads}")
        if self.res.num_nodes > 1:
            # one task per node; torchrun on each meets the others at node 0 (c10d rendezvous)
            lines += ['export SERKIT_MASTER_ADDR=$(scontrol show hostnames "${SLURM_JOB_NODELIST}" | head -n 1)',
                      "export SERKIT_RDZV_ID=${SLURM_JOB_ID}",
                      f"exec srun --kill-on-bad-exit=1 {run}"]
        else:
            lines.append(f"exec {run}")
        return "\n".join(lines) + "\n"

    def run(self, jobs: JobArray) -> None:
        logs = [jobs.job_log(n) for n in jobs.names]
        qdir = logs[0].parent / "q"
        qdir.mkdir(parents=True, exist_ok=True)
        for log in logs:   # an old log must not pass for this run's status
            log.parent.mkdir(parents=True, exist_ok=True)
            log.unlink(missing_ok=True)
        tag = f"{os.getpid()}_{int(time.time())}"
        spec_path = qdir / f"job_{tag}.json"
        spec_path.write_text(jobs.to_json())
        script = qdir / f"job_{tag}.sh"
        script.write_text(self.script(spec_path.resolve()))
        args = self.sbatch_args(jobs, qdir) + [str(script)]
        try:
            out = subprocess.run(args, capture_output=True, text=True)
        except FileNotFoundError:
            raise ConfigError("sbatch not found: serkit-slurm needs a Slurm client on this machine") from None
        if out.returncode != 0:
            raise SerkitError(f"sbatch failed ({shlex.join(args)}): {out.stderr.strip()}")
        job_id = out.stdout.strip().split(";")[0]
        print(f"submitted Slurm job {job_id}: {len(jobs.names)} task(s), logs {jobs.log}", file=sys.stderr)
        try:
            while self._active(job_id):
                time.sleep(self.poll)
        except (KeyboardInterrupt, SystemExit):
            subprocess.run(["scancel", job_id])
            raise
        failed = [n for n, log in zip(jobs.names, logs) if log_status(log) != 0]
        if failed:
            raise JobsFailed(_failed_message(jobs, failed) + f" (Slurm job {job_id}; output in {qdir})")

    @staticmethod
    def _active(job_id: str) -> bool:
        out = subprocess.run(["squeue", "--noheader", "--jobs", job_id, "--format", "%i"],
                             capture_output=True, text=True)
        if out.returncode != 0:
            # squeue forgets a finished job ("Invalid job id") after MinJobAge; any other failure
            # (the controller busy or restarting) is no news, so keep waiting
            return "invalid job id" not in out.stderr.lower()
        return bool(out.stdout.strip())


def _run_job_main(argv: List[str]) -> int:
    """``python -m serkit.dispatch run_job SPEC NAME [--index]``: one job (spec: JSON or @file)."""
    jobs = JobArray.from_json(Path(argv[0][1:]).read_text() if argv[0].startswith("@") else argv[0])
    name = argv[1]
    if "--index" in argv[2:]:   # Slurm gives the task's number: map it to its name
        name = jobs.names[int(name) - 1]
    return run_job(jobs, name)


if __name__ == "__main__" and len(sys.argv) > 1 and sys.argv[1] == "run_job":
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    sys.exit(_run_job_main(sys.argv[2:]))
