"""Job dispatchers: serkit-run (local arrays, limits, failures, interrupts) and serkit-slurm
(its sbatch request; and a real array job where a Slurm controller answers)."""
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from serkit.dispatch import LocalBackend, Resources, SlurmBackend, log_status, parse_command, parse_job_spec
from serkit.errors import ConfigError

BIN = Path(sys.executable).parent


def dispatch(tool, *args, cwd):
    return subprocess.run([str(BIN / tool), *args], cwd=cwd, capture_output=True, text=True, timeout=120)


def test_job_specs():
    assert parse_job_spec("JOB=2:4") == ["2", "3", "4"]
    assert parse_job_spec("JOB=fold1,fold3") == ["fold1", "fold3"]
    for bad in ("JOB=0:2", "JOB=3:2", "JOB=a,a", "JOB=../x", "JOB=/abs", "JOB=", "JOB=a b"):
        with pytest.raises(ConfigError):
            parse_job_spec(bad)
    jobs = parse_command(["JOB=1:2", "log/x.JOB.log", "echo", "JOB-JOB", "--n"])
    assert jobs.job_argv("2") == ["echo", "2-2", "--n"] and str(jobs.job_log("2")) == "log/x.2.log"
    with pytest.raises(ConfigError, match="must contain JOB"):
        parse_command(["JOB=1:2", "log/x.log", "echo"])
    plain = parse_command(["x.log", "echo", "JOB"])   # no JOB= spec: nothing is substituted
    assert plain.names == ["1"] and plain.job_argv("1") == ["echo", "JOB"]


def test_array_logs_and_a_failing_job(tmp_path):
    (tmp_path / "names").write_text("a,1\nb/c\n")   # names from a file may hold commas
    r = dispatch("serkit-run", "JOB=@names", "exp/JOB.log", "bash", "-c", 'echo "job JOB"; [ JOB != b/c ]',
                 cwd=tmp_path)
    assert r.returncode == 1
    assert r.stderr.strip().splitlines()[-1] == "error: 1 of 2 job(s) failed: see exp/b/c.log"
    log = (tmp_path / "exp" / "a,1.log").read_text()
    assert "\njob a,1\n" in log and log.startswith("# bash -c ") and log_status(tmp_path / "exp" / "a,1.log") == 0
    assert log_status(tmp_path / "exp" / "b" / "c.log") == 1
    assert log_status(tmp_path / "missing.log") is None
    r = dispatch("serkit-run", "JOB=1:3", "log/ok.JOB.log", "true", cwd=tmp_path)
    assert r.returncode == 0 and all(log_status(tmp_path / f"log/ok.{i}.log") == 0 for i in (1, 2, 3))


def test_arguments_are_never_run_by_a_shell(tmp_path):
    r = dispatch("serkit-run", "JOB=1:1", "x.JOB.log", "echo", "$(touch pwned) a b;", "'q'", cwd=tmp_path)
    assert r.returncode == 0 and not (tmp_path / "pwned").exists()
    assert "\n$(touch pwned) a b; 'q'\n" in (tmp_path / "x.1.log").read_text()
    r = dispatch("serkit-run", "x.log", "no-such-command-xyz", cwd=tmp_path)
    assert r.returncode == 1 and log_status(tmp_path / "x.log") == 127


@pytest.mark.parametrize("limit,overlap", [(1, False), (3, True)])
def test_max_jobs_run(tmp_path, limit, overlap):
    # each job records its start and end; with one job at once no interval overlaps another
    script = 'python3 -c "import time; print(time.time())" > t.JOB; sleep 0.4; python3 -c "import time; print(time.time())" >> t.JOB'
    r = dispatch("serkit-run", "--max_jobs_run", str(limit), "JOB=1:3", "l.JOB.log", "bash", "-c", script, cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    spans = sorted(tuple(map(float, (tmp_path / f"t.{i}").read_text().split())) for i in (1, 2, 3))
    overlaps = any(spans[i + 1][0] < spans[i][1] for i in range(2))
    assert overlaps == overlap, spans


def test_threads_and_single_machine_only(tmp_path, monkeypatch):
    monkeypatch.delenv("OMP_NUM_THREADS", raising=False)
    log = tmp_path / "t.log"
    LocalBackend(Resources(num_threads=3)).run(parse_command([str(log), "bash", "-c", "echo omp=$OMP_NUM_THREADS"]))
    assert "\nomp=3\n" in log.read_text()
    with pytest.raises(ConfigError, match="cluster dispatcher"):
        LocalBackend(Resources(num_nodes=2))


def test_interrupt_stops_running_jobs(tmp_path):
    p = subprocess.Popen([str(BIN / "serkit-run"), "JOB=1:2", "s.JOB.log", "bash", "-c", "echo $$ > pid.JOB; exec sleep 60"],
                         cwd=tmp_path, stderr=subprocess.PIPE, text=True)
    deadline = time.time() + 30
    while not all((tmp_path / f"pid.{i}").exists() and (tmp_path / f"pid.{i}").read_text().strip() for i in (1, 2)):
        assert time.time() < deadline, "jobs did not start"
        time.sleep(0.1)
    pids = [int((tmp_path / f"pid.{i}").read_text()) for i in (1, 2)]
    p.send_signal(signal.SIGTERM)
    assert p.wait(timeout=30) == 143
    time.sleep(0.5)
    for pid in pids:   # the sleeps are gone (reaped by their runners, or zombies of init at worst)
        with pytest.raises(ProcessLookupError):
            os.kill(pid, 0)
    assert log_status(tmp_path / "s.1.log") is None   # an interrupted job never reads as ended


def test_slurm_request(tmp_path):
    res = Resources(max_jobs_run=4, num_threads=8, mem="16G", gpu=2, time="24:00:00", num_nodes=2)
    backend = SlurmBackend(res, partition="gpu", sbatch_opts="--account proj --qos high")
    jobs = parse_command(["JOB=1:10", "exp/JOB.log", "serkit-train", "--x", "JOB"])
    args = backend.sbatch_args(jobs, tmp_path / "q")
    assert args[:2] == ["sbatch", "--parsable"]
    pairs = dict(zip(args[2::2], args[3::2]))
    assert pairs["--array"] == "1-10%4" and pairs["--cpus-per-task"] == "8" and pairs["--mem"] == "16G"
    assert pairs["--time"] == "24:00:00" and pairs["--gres"] == "gpu:2" and pairs["--nodes"] == "2"
    assert pairs["--partition"] == "gpu" and args[-4:] == ["--account", "proj", "--qos", "high"]
    script = backend.script(tmp_path / "q" / "spec.json")
    assert "srun --kill-on-bad-exit=1" in script and "SERKIT_MASTER_ADDR=$(scontrol show hostnames" in script
    one = SlurmBackend(Resources()).sbatch_args(parse_command(["x.log", "true"]), tmp_path)
    assert "--array" not in one and "--nodes" not in one


def _slurm_answers() -> bool:
    if not shutil.which("sinfo") or not shutil.which("sbatch"):
        return False
    r = subprocess.run(["sinfo", "--noheader", "--states", "idle,mixed,allocated"], capture_output=True, text=True)
    return r.returncode == 0 and bool(r.stdout.strip())


@pytest.mark.skipif(not _slurm_answers(), reason="no Slurm controller with a node here")
def test_real_slurm_array(tmp_path):
    r = dispatch("serkit-slurm", "--poll", "1", "--max_jobs_run", "2", "--mem", "100M", "JOB=a,b,c", "log/JOB.log",
                 "bash", "-c", 'echo "task JOB $SLURM_ARRAY_TASK_ID"; [ JOB != b ]', cwd=tmp_path)
    assert r.returncode == 1 and "1 of 3 job(s) failed: see log/b.log" in r.stderr, r.stderr
    assert "\ntask c 3\n" in (tmp_path / "log" / "c.log").read_text()
    assert [log_status(tmp_path / "log" / f"{n}.log") for n in "abc"] == [0, 1, 0]
