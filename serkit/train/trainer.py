"""Generic trainer: one loop for every model that returns ``(loss, stats, weight, logits)``.

Features: length-bucketed batches, gradient accumulation and clipping, bf16 autocast on GPU,
optional ``torch.compile`` of the training forward,
DDP under torchrun (NCCL on GPU, gloo on CPU), model selection and early stopping on the
**valid** split, atomic checkpoints after every epoch and resume from the last one, TensorBoard
scalars for every loss, metric and the learning rate. Each epoch also reports its input pipeline:
the share of the training time spent waiting for batches (``data_wait``) and the share of padded
frames in them (``padding``), in train.log, history.json and TensorBoard (rank 0's figures under
DDP). Rank 0 alone writes files.
"""
from __future__ import annotations

import json
import logging
import math
import random
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Dict, List, Optional

import numpy as np
import torch
import yaml
from torch.nn.parallel import DistributedDataParallel
from torch.utils.data import DataLoader
from tqdm import tqdm

from serkit.checkpoint import load_checkpoint, rng_state, save_atomic, set_rng_state
from serkit.config import Config, config_from_dict, to_dict
from serkit.data.augment import mixup
from serkit.data.datadir import DataDir
from serkit.data.dataset import FeatDataset, emotion_targets
from serkit.data.sampler import BucketBatchSampler
from serkit.errors import ConfigError, SerkitError
from serkit.features.cmvn import CMVN
from serkit.features.storage import FeatReader
from serkit.metrics import classification_scores
from serkit.models.model import MultiTaskModel
from serkit.models.registry import head_types
from serkit.train.distributed import (DistInfo, all_gather_list, all_reduce_sum, all_reduce_sums, barrier, cleanup,
                                      init_distributed)

log = logging.getLogger("serkit.train")
MAX_NONFINITE_STEPS = 5   # consecutive non-finite losses before training stops with an error


@dataclass
class RunPaths:
    """Inputs of one training run (recorded in ``exp_dir/run.yaml``)."""

    train_data: str
    valid_data: str
    feats: str
    cmvn_stats: Optional[str]
    exp_dir: str


def compile_forward(module: torch.nn.Module, backend: str) -> torch.nn.Module:
    """``module`` itself, or ``torch.compile(module)`` with ``backend`` (the config's ``train.compile``).

    The compiled wrapper only runs the training forward: checkpoints, evaluation and DDP's
    ``no_sync`` keep using ``module``, so state-dict keys stay those of the plain model.
    Shapes are dynamic: bucketed batches differ in length, and a graph per length would mean a
    recompilation per bucket.
    """
    if backend == "none":
        return module
    options = None
    if backend == "inductor":
        import torch._inductor.config as inductor

        # inductor's coalescing analysis does not handle dynamic shapes: on a GPU it failed an
        # assertion compiling wav2vec2's training step (torch 2.11); without it, tiling is by size
        if hasattr(inductor.triton, "coalesce_tiling_analysis"):
            options = {"triton.coalesce_tiling_analysis": False}
    return torch.compile(module, backend=backend, dynamic=True, options=options)


def seed_everything(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)


def build_optimizer(cfg: Config, params) -> torch.optim.Optimizer:
    o = cfg.optim
    if o.name == "adam":
        return torch.optim.Adam(params, lr=o.lr, betas=tuple(o.betas), eps=o.eps, weight_decay=o.weight_decay)
    if o.name == "adamw":
        return torch.optim.AdamW(params, lr=o.lr, betas=tuple(o.betas), eps=o.eps, weight_decay=o.weight_decay)
    if o.name == "rmsprop":
        return torch.optim.RMSprop(params, lr=o.lr, eps=o.eps, momentum=o.momentum, weight_decay=o.weight_decay)
    return torch.optim.SGD(params, lr=o.lr, momentum=o.momentum, weight_decay=o.weight_decay)


def epoch_seed(seed: int, epoch: int) -> int:
    """The seed of a training epoch's augmentation draws (a dataset's ``epoch_seed``)."""
    return seed * 100003 + epoch


def build_scheduler(cfg: Config, optim: torch.optim.Optimizer, total_steps: int):
    s = cfg.scheduler
    warm = int(round(s.warmup_ratio * total_steps))

    def factor(step: int) -> float:
        if s.name == "constant":
            return 1.0
        if step < warm:
            return (step + 1) / warm
        if s.name == "warmup_constant":
            return 1.0
        progress = min(1.0, (step - warm) / max(1, total_steps - warm))
        if s.name == "warmup_cosine":
            return 0.5 * (1.0 + math.cos(math.pi * progress))
        return max(0.0, 1.0 - progress)

    return torch.optim.lr_scheduler.LambdaLR(optim, factor)


def plot_losses(history: List[dict], out_png: Path, title: str) -> None:
    """Train and valid loss per epoch (the curves TensorBoard also shows) as a PNG."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    epochs = [h["epoch"] for h in history]
    fig, ax = plt.subplots(figsize=(6, 3.5))
    ax.plot(epochs, [h["train"]["loss"] for h in history], marker="o", label="train")
    ax.plot(epochs, [h["valid"]["loss"] for h in history], marker="o", label="valid")
    ax.set_xlabel("epoch")
    ax.set_ylabel("loss")
    ax.set_title(title, fontsize=8)
    ax.legend()
    fig.tight_layout()
    fig.savefig(out_png, dpi=100)
    plt.close(fig)


class WaitTimer:
    """Iterates a data loader, adding up the seconds spent waiting for its batches."""

    def __init__(self, loader):
        self.loader, self.seconds = loader, 0.0

    def __iter__(self):
        batches = iter(self.loader)
        while True:
            t = time.perf_counter()
            try:
                batch = next(batches)
            except StopIteration:
                return
            self.seconds += time.perf_counter() - t
            yield batch


def _better(metric: str, new: float, best: Optional[float]) -> bool:
    if best is None:
        return True
    return new < best if metric == "loss" else new > best


class Trainer:
    def __init__(self, cfg: Config, paths: RunPaths, ngpu: int = 0):
        self.cfg = cfg
        self.paths = paths
        use_cuda = ngpu > 0 and torch.cuda.is_available()
        if ngpu > 0 and not use_cuda:
            raise SerkitError(f"--ngpu {ngpu} asked for but no CUDA device is visible")
        self.dist: DistInfo = init_distributed(use_cuda)
        self.device = torch.device(f"cuda:{self.dist.local_rank}" if use_cuda else "cpu")
        self.exp_dir = Path(paths.exp_dir)
        self.ckpt_dir = self.exp_dir / "checkpoints"
        seed_everything(cfg.seed)

        self.head_types = head_types(cfg.model)   # fitted on the training split by _build_data
        self.train_set, self.valid_set, self.input_dim, self.classes = self._build_data()
        d = self.dist
        self.train_sampler = BucketBatchSampler(
            self.train_set.lengths, cfg.data.batch_size, cfg.data.max_frames, shuffle=True,
            seed=cfg.seed, rank=d.rank, world_size=d.world_size)
        self.valid_sampler = BucketBatchSampler(
            self.valid_set.lengths, cfg.data.batch_size, cfg.data.max_frames, shuffle=False,
            rank=d.rank, world_size=d.world_size)
        loader_kw = dict(num_workers=cfg.data.num_workers, pin_memory=use_cuda)
        # the training workers start afresh every epoch: persistent ones would keep the copy of
        # the dataset, so the epoch_seed, of the epoch they started in (the same draws every epoch)
        self.train_loader = DataLoader(self.train_set, batch_sampler=self.train_sampler,
                                       collate_fn=self.train_set.collate_fn, **loader_kw)
        self.valid_loader = DataLoader(self.valid_set, batch_sampler=self.valid_sampler,
                                       collate_fn=self.valid_set.collate_fn,
                                       persistent_workers=cfg.data.num_workers > 0, **loader_kw)

        self.model = self._build_model().to(self.device)
        self.ddp_model = (DistributedDataParallel(self.model, device_ids=[self.device.index] if use_cuda else None)
                          if d.enabled else self.model)
        self.train_forward = compile_forward(self.ddp_model, cfg.train.compile)
        self.optim = build_optimizer(cfg, [p for p in self.model.parameters() if p.requires_grad])
        steps_per_epoch = math.ceil(len(self.train_sampler) / cfg.train.accum_grad)
        self.scheduler = build_scheduler(cfg, self.optim, steps_per_epoch * cfg.train.max_epochs)
        self.amp = cfg.train.amp and use_cuda
        self._nonfinite_steps = 0
        self.state = {"epoch": 0, "step": 0, "best": None, "best_epoch": 0, "bad_epochs": 0,
                      "finished": False, "history": []}
        self.writer = None

    # ------------------------------------------------------------------ what is trained
    def _build_data(self):
        """-> train set, valid set, input dim, classes per head."""
        cfg, paths = self.cfg, self.paths
        train = DataDir.load(paths.train_data)
        valid = DataDir.load(paths.valid_data)
        # each head's classes come from the training split (its type reads its own data-dir file);
        # the emotion order may be fixed by the config (the same on every rank)
        classes = {k: t.fit(train, cfg.data.emotions if k == "emotion" else None) for k, t in self.head_types.items()}
        reader = FeatReader(paths.feats)
        cmvn = CMVN(paths.cmvn_stats, cfg.data.cmvn)
        train_set = FeatDataset(train, reader, cmvn, {k: t.targets(classes[k]) for k, t in self.head_types.items()},
                                crop_frames=cfg.data.crop_frames, augment=cfg.data.augment)
        # the valid split scores the emotion head, and the heads whose types score themselves (regression)
        valid_targets = emotion_targets(classes["emotion"])
        valid_targets.update({k: t.targets(classes[k]) for k, t in self.head_types.items() if t.validates})
        valid_set = FeatDataset(valid, reader, cmvn, valid_targets)
        if cfg.train.select_metric == "ccc" and not any(t.validates for t in self.head_types.values()):
            raise ConfigError("train.select_metric 'ccc' needs a regression head with a weight above 0")
        return train_set, valid_set, reader.dim, classes

    def _build_model(self) -> torch.nn.Module:
        model = MultiTaskModel(self.input_dim, self.cfg.model, self.classes)
        for head, t in self.head_types.items():   # e.g. class weights, regression target statistics
            t.prepare(model.heads[head], self.train_set.targets[head], self.classes[head])
        return model

    def _describe(self) -> str:
        cfg = self.cfg
        return f"model {cfg.model.encoder} + {cfg.model.pooling}, heads {dict(self.model.weights)}"

    def _epoch_line(self, tr: Dict[str, float], va: Dict[str, float]) -> str:
        line = (f"train loss {tr['loss']:.4f} | valid loss {va['loss']:.4f} WA {va['wa']:.4f} UA {va['ua']:.4f} "
                f"F1 {va['macro_f1']:.4f}")
        return line + (f" CCC {va['ccc']:.4f}" if "ccc" in va else "")

    # ------------------------------------------------------------------ files
    def _write_setup(self) -> None:
        self.exp_dir.mkdir(parents=True, exist_ok=True)
        with open(self.exp_dir / "config.yaml", "w") as f:
            yaml.safe_dump(to_dict(self.cfg), f, sort_keys=False)
        with open(self.exp_dir / "run.yaml", "w") as f:
            yaml.safe_dump(vars(self.paths) | {"world_size": self.dist.world_size}, f, sort_keys=False)
        if self.classes:
            with open(self.exp_dir / "classes.yaml", "w") as f:
                yaml.safe_dump(self.classes, f, sort_keys=False)
        for t in self.head_types.values():
            for name, content in t.artifacts().items():   # e.g. the ctc head's vocabulary
                (self.exp_dir / name).write_bytes(content)
        handler = logging.FileHandler(self.exp_dir / "train.log")
        handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(message)s"))
        log.addHandler(handler)
        from torch.utils.tensorboard import SummaryWriter

        self.writer = SummaryWriter(str(self.exp_dir / "tensorboard"))

    def _checkpoint(self) -> dict:
        return {
            "model": self.model.state_dict(), "optim": self.optim.state_dict(),
            "scheduler": self.scheduler.state_dict(), "state": self.state,
            "rng": rng_state(),
            "config": to_dict(self.cfg), "classes": self.classes, "input_dim": self.input_dim,
            "architecture": self.model.architecture(),
        }

    def _resume(self) -> bool:
        last = self.ckpt_dir / "last.pt"
        if not last.exists():
            return False
        ck = load_checkpoint(last)
        if to_dict(config_from_dict(ck["config"])) != to_dict(self.cfg):   # options added since compare as defaults
            raise ConfigError(f"{last}: was trained with another config; use a new --exp_dir or remove it")
        self.model.load_state_dict(ck["model"])
        self.optim.load_state_dict(ck["optim"])
        self.scheduler.load_state_dict(ck["scheduler"])
        self.state = ck["state"]
        set_rng_state(ck["rng"])
        log.info("resumed from %s after epoch %d", last, self.state["epoch"])
        return True

    # ------------------------------------------------------------------ checkpoint averaging
    def _keep_top(self, epoch: int, value: float) -> list:
        """Keep the weights of the k best valid epochs (``checkpoints/epoch<N>.pt``); -> evicted epochs."""
        top = self.state.setdefault("top", [])
        top.append([value, epoch])
        # best first; ties go to the later epoch
        top.sort(key=lambda t: (t[0] if self.cfg.train.select_metric == "loss" else -t[0], -t[1]))
        kept, evicted = top[: self.cfg.train.average_best], [e for _, e in top[self.cfg.train.average_best:]]
        self.state["top"] = kept
        if any(e == epoch for _, e in kept):
            save_atomic({"model": self.model.state_dict(), "epoch": epoch}, self.ckpt_dir / f"epoch{epoch}.pt")
        return evicted

    def _average_top(self) -> None:
        """best.pt := the average of the kept epochs' weights, scored on valid."""
        epochs = sorted(e for _, e in self.state.get("top", []))
        if self.dist.is_main and epochs and self.state.get("averaged") != epochs:
            states = [load_checkpoint(self.ckpt_dir / f"epoch{e}.pt")["model"] for e in epochs]
            avg = {}
            for k, v in states[0].items():
                # integer buffers (batch-norm step counts) are taken from one epoch
                avg[k] = sum(st[k] for st in states) / len(states) if v.is_floating_point() else v
            self.model.load_state_dict(avg)
        barrier(self.dist)
        if self.dist.enabled:   # every rank evaluates the averaged model
            for t in self.model.state_dict().values():
                torch.distributed.broadcast(t, 0)
        va = self.evaluate()
        if self.dist.is_main and self.state.get("averaged") != epochs:
            save_atomic({"model": self.model.state_dict(), "config": to_dict(self.cfg), "classes": self.classes,
                         "input_dim": self.input_dim, "architecture": self.model.architecture(),
                         "epoch": self.state["best_epoch"], "valid": va, "averaged_epochs": epochs}, self.ckpt_dir / "best.pt")
            self.state["averaged"] = epochs
            save_atomic(self._checkpoint(), self.ckpt_dir / "last.pt")
        log.info("averaged the weights of epochs %s: valid %s %.4f", epochs, self.cfg.train.select_metric,
                 va[self.cfg.train.select_metric])

    # ------------------------------------------------------------------ loops
    def start_epoch(self, epoch: int) -> None:
        """The training set's draws and batches of ``epoch``, the same in every run and rank."""
        self.train_set.epoch_seed = epoch_seed(self.cfg.seed, epoch)
        # batches cut by this epoch's drawn lengths (speed copies), else by the constructor's
        self.train_sampler.set_epoch(epoch, self.train_set.epoch_lengths())

    def train_epoch(self, epoch: int) -> Dict[str, float]:
        cfg = self.cfg
        self.ddp_model.train()
        self.start_epoch(epoch)
        sums: Dict[str, float] = {}
        n_units = 0.0
        accum = cfg.train.accum_grad
        # the input pipeline: time spent waiting for batches, and padded frames of the batches
        batches = WaitTimer(self.train_loader)
        bar = tqdm(batches, total=len(self.train_loader), desc=f"epoch {epoch}",
                   disable=not (self.dist.is_main and sys.stderr.isatty()), leave=False)
        self.optim.zero_grad(set_to_none=True)
        frames, padded = 0, 0
        start = time.perf_counter()
        for it, batch in enumerate(bar):
            n_frames = batch["lengths"].numel() * batch["feats"].size(1)
            frames, padded = frames + n_frames, padded + n_frames - int(batch["lengths"].sum())
            feats = batch["feats"].to(self.device, non_blocking=True)
            lengths = batch["lengths"].to(self.device)
            targets = {k: v.to(self.device) for k, v in batch["targets"].items()}
            if cfg.data.augment.mixup > 0:
                rng = np.random.default_rng([cfg.seed, epoch, it])   # the same draws after a resume
                n_cls = {k: len(self.classes[k]) for k, t in self.head_types.items() if k in targets and t.mixable}
                feats, lengths, soft, _ = mixup(feats, lengths, targets, n_cls, cfg.data.augment.mixup, rng)
                targets.update(soft)
            with torch.autocast(device_type=self.device.type, dtype=torch.bfloat16, enabled=self.amp):
                loss, stats, weight, _ = self.train_forward(feats, lengths, targets)
            # one collective per step: whether any rank's loss is non-finite, and the units of all ranks
            local_n = float(weight)
            bad, global_n = all_reduce_sums([float(not torch.isfinite(loss.detach())), local_n], self.dist,
                                            self.device)
            if bad > 0:   # skip the update everywhere; a few in a row stop training
                self._nonfinite_steps += 1
                log.warning("epoch %d step %d: non-finite loss (utts %s ...), update skipped", epoch,
                            self.state["step"], ", ".join(batch["utts"][:3]))
                if self._nonfinite_steps >= MAX_NONFINITE_STEPS:
                    raise SerkitError(f"{self.exp_dir}: the training loss was non-finite for {self._nonfinite_steps} "
                                      f"steps in a row (epoch {epoch}, last batch {', '.join(batch['utts'][:3])} ...):"
                                      " check the features for NaN / inf and lower optim.lr")
                self.optim.zero_grad(set_to_none=True)
                continue
            self._nonfinite_steps = 0
            # the loss is a mean over the model's own units (utterances, or frames for pretraining);
            # DDP averages gradients over ranks: scale so the update equals the global-batch mean
            scaled = loss * (local_n * self.dist.world_size / global_n) / accum
            last_micro = (it + 1) % accum == 0 or it + 1 == len(self.train_loader)
            if self.dist.enabled and not last_micro:
                with self.ddp_model.no_sync():
                    scaled.backward()
            else:
                scaled.backward()
            for k, v in stats.items():
                sums[k] = sums.get(k, 0.0) + float(v) * local_n
            n_units += local_n
            if last_micro:
                if cfg.train.grad_clip > 0:
                    gnorm = torch.nn.utils.clip_grad_norm_(self.model.parameters(), cfg.train.grad_clip)
                    if not torch.isfinite(gnorm):
                        log.warning("epoch %d step %d: non-finite gradient norm, update skipped", epoch,
                                    self.state["step"])
                        self.optim.zero_grad(set_to_none=True)
                        continue
                self.optim.step()
                self.scheduler.step()
                self.optim.zero_grad(set_to_none=True)
                self.state["step"] += 1
                if self.writer is not None:
                    self.writer.add_scalar("train/lr", self.optim.param_groups[0]["lr"], self.state["step"])
                    if self.state["step"] % cfg.train.log_interval == 0:
                        for k, v in stats.items():
                            self.writer.add_scalar(f"train/{k}_step", float(v), self.state["step"])
                bar.set_postfix(loss=f"{float(stats['loss']):.3f}")
        keys = sorted(sums)
        totals = [all_reduce_sum(sums[k], self.dist, self.device) for k in keys]
        n_total = all_reduce_sum(n_units, self.dist, self.device)
        if n_total == 0:
            raise SerkitError(f"{self.exp_dir}: no step of epoch {epoch} had a finite training loss")
        # units: utterances (frames for pretraining) trained on, for the throughput in history.json;
        # data_wait: share of the epoch spent waiting for batches; padding: share of padded frames
        return {k: t / n_total for k, t in zip(keys, totals)} | {
            "units": n_total, "data_wait": batches.seconds / max(time.perf_counter() - start, 1e-9),
            "padding": padded / max(frames, 1)}

    @torch.no_grad()
    def evaluate(self) -> Dict[str, float]:
        self.model.eval()
        rows = []
        loss_sum = 0.0
        scored = {k: t for k, t in self.head_types.items() if t.validates}
        outputs: Dict[str, list] = {k: [] for k in scored}
        for batch in self.valid_loader:
            feats = batch["feats"].to(self.device)
            lengths = batch["lengths"].to(self.device)
            with torch.autocast(device_type=self.device.type, dtype=torch.bfloat16, enabled=self.amp):
                out = self.model.logits(feats, lengths)
            logits = out["emotion"].float()
            gold = batch["targets"]["emotion"].to(self.device)
            loss_sum += float(torch.nn.functional.cross_entropy(logits, gold, reduction="sum"))
            rows += list(zip(gold.tolist(), logits.argmax(-1).tolist()))
            for k in scored:
                outputs[k] += list(zip(batch["targets"][k].tolist(), out[k].float().tolist()))
        rows = all_gather_list(rows, self.dist)
        loss_sum = all_reduce_sum(loss_sum, self.dist, self.device)
        gold, pred = zip(*rows)
        scores = classification_scores(gold, pred, len(self.classes["emotion"]))
        scores["loss"] = loss_sum / len(rows)
        for k, t in scored.items():
            pairs = all_gather_list(outputs[k], self.dist)
            scores.update(t.valid_scores(np.array([g for g, _ in pairs]), np.array([p for _, p in pairs])))
        return scores

    def run(self) -> dict:
        cfg = self.cfg
        if self.dist.is_main:
            self._write_setup()
        barrier(self.dist)
        self._resume()
        if self.state["finished"]:
            log.info("%s: training already finished (best epoch %d)", self.exp_dir, self.state["best_epoch"])
            if cfg.train.average_best > 1:   # a kill may have come between the last epoch and the average
                self._average_top()
            return self.state
        metric = cfg.train.select_metric
        n_params = sum(p.numel() for p in self.model.parameters())
        log.info("%s: %.2fM parameters; %d train / %d valid utts; world size %d; device %s", self._describe(),
                 n_params / 1e6, len(self.train_set), len(self.valid_set), self.dist.world_size, self.device)
        for epoch in range(self.state["epoch"] + 1, cfg.train.max_epochs + 1):
            t0 = time.perf_counter()
            tr = self.train_epoch(epoch)
            tr["seconds"] = time.perf_counter() - t0   # training only, the valid pass excluded
            va = self.evaluate()
            self.state["epoch"] = epoch
            improved = _better(metric, va[metric], self.state["best"])
            if improved:
                self.state.update(best=va[metric], best_epoch=epoch, bad_epochs=0)
            else:
                self.state["bad_epochs"] += 1
            stop = cfg.train.patience > 0 and self.state["bad_epochs"] >= cfg.train.patience
            self.state["finished"] = stop or epoch == cfg.train.max_epochs
            self.state["history"].append({"epoch": epoch, "train": tr, "valid": va})
            if self.dist.is_main:
                for k, v in tr.items():
                    self.writer.add_scalar(f"train/{k}", v, epoch)
                for k, v in va.items():
                    self.writer.add_scalar(f"valid/{k}", v, epoch)
                self.writer.flush()
                evicted = self._keep_top(epoch, va[metric]) if cfg.train.average_best > 1 else []
                ck = self._checkpoint()
                if improved:
                    save_atomic({k: ck[k] for k in ("model", "config", "classes", "input_dim", "architecture")}
                                | {"epoch": epoch, "valid": va}, self.ckpt_dir / "best.pt")
                save_atomic(ck, self.ckpt_dir / "last.pt")  # written last: the resume point
                for e in evicted:
                    (self.ckpt_dir / f"epoch{e}.pt").unlink(missing_ok=True)
            barrier(self.dist)
            log.info("epoch %d: %s%s | %.1fs (waiting for data %.1f%%, padding %.1f%% of frames)", epoch,
                     self._epoch_line(tr, va), " *" if improved else "", time.perf_counter() - t0,
                     100 * tr["data_wait"], 100 * tr["padding"])
            if stop:
                log.info("early stop: no better valid %s for %d epochs", metric, cfg.train.patience)
                break
        log.info("best valid %s %.4f at epoch %d", metric, self.state["best"], self.state["best_epoch"])
        if cfg.train.average_best > 1:
            self._average_top()
        if self.dist.is_main:
            with open(self.exp_dir / "history.json", "w") as f:
                json.dump(self.state["history"], f, indent=1)
            plot_losses(self.state["history"], self.exp_dir / "loss.png", str(self.exp_dir))
            self.writer.close()
        return self.state

    def close(self) -> None:
        cleanup(self.dist)
