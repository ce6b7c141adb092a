"""serkit-infer's work in one process, or spread over several (--jobs), each with the model loaded."""
from __future__ import annotations

import logging
from typing import Dict

from serkit.inference.options import InferOptions, load_recognizer

CHUNK = 64   # files a worker recognises per task at most: records come back in input order, chunk by chunk


class Jobs:
    """--jobs N: the work spread over N processes, each with the model loaded, results in input
    order; 1: all of it in this process, streamed. ``map`` runs tasks ``fn(rec, opts, task)``;
    ``stream`` runs a generator ``fn(rec, opts, chunk, context(chunk))`` over chunks of inputs."""

    def __init__(self, opts: InferOptions):
        self.opts, self.rec, self.pool = opts, load_recognizer(opts), None
        if opts.jobs > 1:
            import multiprocessing as mp

            # spawn: a forked child of a process that has run torch's thread pools can hang
            self.pool = mp.get_context("spawn").Pool(opts.jobs, _init_worker, (opts,))

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        if self.pool is not None:
            self.pool.terminate() if exc[0] is not None else self.pool.close()
            self.pool.join()

    def map(self, fn, tasks):
        if self.pool is None:
            return (fn(self.rec, self.opts, t) for t in tasks)
        return self.pool.imap(_run_task, [(fn, t) for t in tasks])

    def stream(self, fn, items, context):
        if self.pool is None:
            yield from fn(self.rec, self.opts, items, context(items))
            return
        size = max(1, min(CHUNK, -(-len(items) // (4 * self.opts.jobs))))   # a few chunks per worker at least
        chunks = [items[k:k + size] for k in range(0, len(items), size)]
        for results in self.pool.imap(_run_chunk, [(fn, c, context(c)) for c in chunks]):
            yield from results


_WORKER: Dict[str, object] = {}


def _init_worker(opts: InferOptions) -> None:
    import os

    import torch

    torch.set_num_threads(max(1, (os.cpu_count() or 1) // opts.jobs))   # the cores shared, not oversubscribed
    logging.getLogger("torchaudio").setLevel(logging.ERROR)
    _WORKER.update(rec=load_recognizer(opts), opts=opts)


def _run_task(job):
    fn, task = job
    return fn(_WORKER["rec"], _WORKER["opts"], task)


def _run_chunk(job):
    fn, chunk, ctx = job
    return list(fn(_WORKER["rec"], _WORKER["opts"], chunk, ctx))
