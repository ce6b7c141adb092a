"""Parallel, resumable feature dump of a data dir into sharded storage.

The utterances are split into shards once (the plan is saved in ``shards.plan``); each shard is
written by one worker and is complete when its index part ``feats.<k>.scp`` exists. A re-run
does only the shards that are missing, then merges the index and writes ``.done``.
"""
from __future__ import annotations

import logging
import math
import multiprocessing as mp
import os
import time
from pathlib import Path
from typing import Dict, List, Optional, Tuple

import numpy as np
import yaml

from serkit.data.augment import speed_perturb, speed_utt
from serkit.data.datadir import DataDir, read_kv, write_kv
from serkit.errors import DataDirError
from serkit.features.extract import FeatureConfig, FeatureExtractor, read_scp_audio
from serkit.features.storage import write_shard
from serkit.fileio import atomic_write, write_text_atomic

log = logging.getLogger(__name__)


BATCH_SECONDS = 300.0   # audio per feature call on a GPU: enough to keep it busy, little memory


def _dump_shard(args: Tuple[str, str, List[Tuple[str, str]], dict, str, str, Optional[float]]
                ) -> Tuple[str, float, float]:
    dump_dir, shard, items, cfg_dict, data_dir, device, batch_seconds = args
    import torch

    torch.set_num_threads(1)
    cfg = FeatureConfig.from_dict(cfg_dict)
    extractor = FeatureExtractor(cfg, device)
    if batch_seconds is None:   # a GPU wants batches; a CPU core computes no padding one at a time
        batch_seconds = 0.0 if extractor.device.type == "cpu" else BATCH_SECONDS
    t0 = _cpu_time()   # this worker's CPU time (one torch thread) and its wav.scp pipes': the per-core figure
    audio_sec = 0.0

    def waves():
        """(utt, wave) of each utterance and its Kaldi-style speed copies (data.augment.speed)."""
        nonlocal audio_sec
        for utt, wav in items:
            try:
                x = read_scp_audio(wav, cfg.sample_rate)
            except DataDirError as e:
                raise DataDirError(f"{data_dir}/wav.scp: utterance '{utt}': {e}") from None
            audio_sec += len(x) / cfg.sample_rate
            yield utt, x
            for factor in cfg.speed_perturb:
                yield speed_utt(utt, factor), speed_perturb(x, cfg.sample_rate, factor)

    def feats():
        if not batch_seconds:
            for utt, x in waves():
                try:
                    yield utt, extractor(x)
                except DataDirError as e:
                    raise DataDirError(f"{data_dir}/wav.scp: utterance '{utt}': {e}") from None
            return
        batch: List[Tuple[str, np.ndarray]] = []
        samples = 0
        for utt, x in waves():
            batch.append((utt, x))
            samples += len(x)
            if samples >= batch_seconds * cfg.sample_rate:
                yield from _batch(batch)
                batch, samples = [], 0
        yield from _batch(batch)

    def _batch(batch):
        if not batch:
            return
        try:
            out = extractor.batch([x for _, x in batch], names=[f"utterance '{utt}'" for utt, _ in batch])
        except DataDirError as e:
            raise DataDirError(f"{data_dir}/wav.scp: {e}") from None
        yield from zip((utt for utt, _ in batch), out)

    write_shard(dump_dir, shard, feats())
    return shard, audio_sec, _cpu_time() - t0


def _cpu_time() -> float:
    """CPU seconds of this process and of its finished children (the programs of wav.scp pipes)."""
    import resource

    children = resource.getrusage(resource.RUSAGE_CHILDREN)
    return time.process_time() + children.ru_utime + children.ru_stime


def plan_dump(data_dir: str | os.PathLike, dump_dir: str | os.PathLike, cfg: FeatureConfig, nj: int = 1,
              shard_size: int = 2000) -> Tuple[List[str], Dict[str, List[Tuple[str, str]]], List[str]]:
    """Split the utterances into shards once (``shards.plan``); return (utts, shards, shards to do).

    Nothing is left to do once the dump has its ``.done``; a plan made earlier is kept, so that
    shards written by an interrupted run or by other jobs are not redone.
    """
    dump_dir = Path(dump_dir)
    dump_dir.mkdir(parents=True, exist_ok=True)
    conf_path = dump_dir / "feats.yaml"
    if conf_path.exists():
        with open(conf_path) as f:
            old = yaml.safe_load(f)
        if FeatureConfig.from_dict(old or {}) != cfg:   # defaults added later compare equal
            raise DataDirError(
                f"{conf_path}: an existing dump used other settings; remove {dump_dir} to redo it"
            )
    if (dump_dir / ".done").exists():
        return [], {}, []
    if not conf_path.exists():   # written once, atomically: shard jobs running at once read it
        with atomic_write(conf_path) as f:
            yaml.safe_dump(cfg.to_dict(), f)
    wav_scp = DataDir.load(data_dir).get("wav.scp")
    utts = list(wav_scp)
    plan_path = dump_dir / "shards.plan"
    if plan_path.exists():
        plan = read_kv(plan_path)
        if set(plan) != set(utts):
            raise DataDirError(f"{plan_path}: the data dir changed since the dump started; remove {dump_dir}")
    else:
        n_shards = max(nj, math.ceil(len(utts) / shard_size))
        per = math.ceil(len(utts) / n_shards)
        plan = {u: f"{i // per:04d}" for i, u in enumerate(utts)}
        write_kv(plan_path, plan)
    shards: Dict[str, List[Tuple[str, str]]] = {}
    for u in utts:
        shards.setdefault(plan[u], []).append((u, wav_scp[u]))
    todo = [s for s in sorted(shards) if not (dump_dir / f"feats.{s}.scp").exists()]
    return utts, shards, todo


def dump_shard(data_dir: str | os.PathLike, dump_dir: str | os.PathLike, cfg: FeatureConfig,
               shard: str, device: str = "cpu", batch_seconds: Optional[float] = None) -> Dict[str, float]:
    """Write one shard of a planned dump (one job of a dispatched stage 1); the merge comes after."""
    plan_path = Path(dump_dir) / "shards.plan"
    if not plan_path.exists():
        raise DataDirError(f"{plan_path}: not found: plan the dump first (serkit-dump-feats --plan)")
    utts, shards, todo = plan_dump(data_dir, dump_dir, cfg)
    if utts and shard not in shards:
        raise DataDirError(f"{Path(dump_dir) / 'shards.plan'}: no shard '{shard}' in the plan of this dump")
    if shard not in todo:
        log.info("%s: shard %s is done, skipped", dump_dir, shard)
        return {"audio_sec": 0.0, "cpu_sec": 0.0}
    job = (str(dump_dir), shard, shards[shard], cfg.to_dict(), str(data_dir), device, batch_seconds)
    _, audio_sec, cpu_sec = _dump_shard(job)
    log.info("%s: shard %s: %.1f s of audio in %.1f s CPU", dump_dir, shard, audio_sec, cpu_sec)
    return {"audio_sec": audio_sec, "cpu_sec": cpu_sec}


def dump_features(data_dir: str | os.PathLike, dump_dir: str | os.PathLike, cfg: FeatureConfig,
                  nj: int = 1, shard_size: int = 2000, device: str = "cpu",
                  batch_seconds: Optional[float] = None) -> Dict[str, float]:
    """Dump features of every utterance of ``data_dir``; return timing stats.

    Writes the shards still missing (``nj`` worker processes), then merges the index. Log-mel /
    MFCC are computed on ``device``, ``batch_seconds`` of audio per call (default: one utterance
    at a time on a CPU, ``BATCH_SECONDS`` elsewhere); the numbers are the same either way. Stats:
    ``audio_sec``, ``wall_sec``, ``cpu_sec`` (sum of the workers' CPU times) and ``rtf_per_core``
    (worker CPU seconds per audio second, i.e. the real-time factor of one core; on a loaded
    machine the wall time grows, this does not).
    """
    dump_dir = Path(dump_dir)
    done = dump_dir / ".done"
    utts, shards, todo = plan_dump(data_dir, dump_dir, cfg, nj=nj, shard_size=shard_size)
    if done.exists():
        return {"audio_sec": 0.0, "wall_sec": 0.0, "cpu_sec": 0.0, "rtf_per_core": 0.0, "skipped": 1.0}
    log.info("dumping %d/%d shards of %s with nj=%d", len(todo), len(shards), data_dir, nj)
    jobs = [(str(dump_dir), s, shards[s], cfg.to_dict(), str(data_dir), device, batch_seconds) for s in todo]
    t0 = time.perf_counter()
    audio_sec = cpu_sec = 0.0
    if nj > 1 and len(jobs) > 1:
        with mp.get_context("spawn").Pool(min(nj, len(jobs))) as pool:
            for _, a, c in pool.imap_unordered(_dump_shard, jobs):
                audio_sec += a
                cpu_sec += c
    else:
        for job in jobs:
            _, a, c = _dump_shard(job)
            audio_sec += a
            cpu_sec += c
    wall = time.perf_counter() - t0
    # merge the index parts in utterance order
    lines: Dict[str, str] = {}
    for s in sorted(shards):
        with open(dump_dir / f"feats.{s}.scp") as f:
            for line in f:
                utt, loc = line.split()
                lines[utt] = loc
    write_kv(dump_dir / "feats.scp", lines)
    write_kv(dump_dir / "utt2num_frames", {u: loc.rsplit(":", 1)[1] for u, loc in lines.items()})
    first = lines[utts[0]].split(":")[0]
    dim = np.load(dump_dir / first, mmap_mode="r").shape[1]
    write_text_atomic(dump_dir / "feat_dim", f"{dim}\n")
    done.write_text("")
    stats = {"audio_sec": audio_sec, "wall_sec": wall, "cpu_sec": cpu_sec,
             "rtf_per_core": cpu_sec / audio_sec if audio_sec else 0.0}
    if jobs:
        log.info("dumped %.1f s of audio in %.1f s wall (%.1f s CPU): real-time factor per core %.4f",
                 audio_sec, wall, cpu_sec, stats["rtf_per_core"])
    else:   # the shards were written by dispatched jobs (their logs hold the timings)
        log.info("merged the index of %d shards: %d utterances", len(shards), len(lines))
    return stats
