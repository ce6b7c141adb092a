#!/usr/bin/env python3
"""Speed benchmarks (not tests): feature extraction and BLSTM training throughput.

Usage:
    python tools/benchmark.py feats [--data DATA_DIR] [--seconds 300] [--repeat 5] [--device cuda]
        [--profile 15]
    python tools/benchmark.py blstm [--batch 16] [--hidden 128] [--steps 10]
    python tools/benchmark.py w2v2 [--size base] [--batch 2] [--seconds 8] [--device cpu|cuda] [--steps 5]
        [--compile inductor] [--peak_tflops 989] [--profile 20] [--cudnn_benchmark] [--pos_conv conv,fft,unfold]
        [--fused_optim]
    python tools/benchmark.py infer --data DATA_DIR [--files 100] [--long_minutes 10]
    python tools/benchmark.py pretrain --config egs/iemocap/conf/tuning/pretrain_fop.yaml [--frames 1000]
        [--steps 10] [--device cpu|cuda] [--a.b VALUE ...]
    python tools/benchmark.py padding --config egs/emodb/conf/train_resnet.yaml --data DATA_DIR
        --feats FEATS_SCP [--epochs 30] [--a.b VALUE ...]

feats: stage 1 on one core, step by step (read, resample, MFCC / log-mel, shard write) in times
       real time, librosa's features beside, and the whole serkit-dump-feats job, on the first
       --seconds of audio of DATA_DIR's wav.scp; then the pYIN F0 track beside librosa.pyin. With
       --device cuda also the batched features on the GPU (wall time, copies included) and, with
       --profile N, the N ops that take most of those calls.
infer: real-time factor per core of the Recognizer (features included) for one file, --files files
       batched, and a --long_minutes recording in 3 s windows; BLSTM and ResNet.
blstm: training steps/s and frames/s of the BLSTM encoder on batches of mixed lengths, serkit's
       unpacked implementation beside PyTorch's packed bidirectional LSTM.
w2v2: training steps/s and audio seconds/s of wav2vec2 (tiny / base / large) with the emotion and
       CTC heads on random waves of --seconds (batch --batch), AdamW, bf16 autocast on CUDA,
       optionally torch.compile'd as train.compile does; the model FLOPs of a step (counted by
       torch's FlopCounterMode, forward + backward) and the model FLOPs utilisation against the
       device's dense bf16 peak (known GPUs, or --peak_tflops); peak GPU memory; each way of running
       the positional convolution listed in --pos_conv in turn (the FLOPs are the direct
       convolution's for all); with --profile N, the N ops that take most of 3 profiled steps.
pretrain: optimizer steps/s and frames/s of a pretraining config (FOP or MPC) on batches of the
       config's batch size and mixed lengths up to --frames; bf16 autocast on CUDA when the config
       sets train.amp; peak GPU memory.
padding: the share of padded frames in the training batches of a config (its batch size or
       max_frames, crop and speed copies) on DATA_DIR's utterances, epoch by epoch as the trainer
       draws them: batches cut by each epoch's drawn lengths (what serkit-train does) and, for the
       comparison, by the originals' lengths.

Example:
    python tools/benchmark.py feats --data egs/mini_emo/data/all
"""
from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np
import torch


def bench_feats(args) -> None:
    """Stage 1 on one core: the whole dump (serkit-dump-feats, one job, --repeat runs), then step by
    step: read (decode at the file's rate), resample to 16 kHz (kernel cached, beside torchaudio's
    call that rebuilds it), features, shard write; librosa's features beside."""
    import tempfile

    import librosa
    import soundfile
    import torchaudio

    from serkit.data.datadir import DataDir
    from serkit.features.dump import BATCH_SECONDS, dump_features
    from serkit.features.extract import (FeatureConfig, FeatureExtractor, parse_segment_spec, read_samples,
                                         resample)
    from serkit.features.prosody import pyin_settings
    from serkit.features.pyin import pyin
    from serkit.features.storage import write_shard

    torch.set_num_threads(1)
    if not args.data:
        raise SystemExit("feats: give --data DATA_DIR (a data dir whose wav.scp lists files or manifest segments)")
    wav_scp = DataDir.load(args.data).get("wav.scp")
    paths, pieces, total = [], [], 0.0   # pieces: (file, start, end) as read_samples takes them
    for utt, spec in wav_scp.items():
        piece = parse_segment_spec(spec) if spec.endswith("|") else (spec, 0.0, None)
        if piece is None:
            raise SystemExit(f"feats: {args.data}/wav.scp: '{utt}' is a pipe; the step timings need files "
                             f"or serkit-prep-manifest's segments")
        paths.append((utt, spec))
        pieces.append(piece)
        total += (piece[2] - piece[1]) if piece[2] is not None else soundfile.info(spec).duration
        if total >= args.seconds:
            break

    def clock(fn, warm=None):
        """CPU time of fn(); warm() first runs the step once on one file, so that one-off costs
        (FFT plans, kernels, first allocations) stay out, as in a dump of thousands of files."""
        if warm is not None:
            warm()
        t0 = time.process_time()
        out = fn()
        return out, time.process_time() - t0

    # the whole job first, in a process that holds nothing else (as serkit-dump-feats runs it)
    jobs = {}
    for kind in ("mfcc", "logmel"):
        cfg = FeatureConfig(type=kind, n_mels=40 if kind == "mfcc" else 80)
        with tempfile.TemporaryDirectory() as tmp:
            sub = Path(tmp) / "data"
            DataDir(sub, {"wav.scp": dict(paths), "utt2spk": {u: u for u, _ in paths}}).write()
            per_core, per_wall = [], []
            for i in range(args.repeat):   # a shared machine's speed varies by 20-40% run to run
                t0 = time.perf_counter()
                stats = dump_features(sub, Path(tmp) / f"dump{i}", cfg, nj=1)
                per_wall.append(stats["audio_sec"] / (time.perf_counter() - t0))
                per_core.append(stats["audio_sec"] / stats["cpu_sec"])
        jobs[kind] = (f"  serkit-dump-feats {kind}, one job, {args.repeat} runs: median {np.median(per_core):,.0f}x "
                      f"real time per core (the worker's CPU time; range {min(per_core):,.0f}-{max(per_core):,.0f}x), "
                      f"{np.median(per_wall):,.0f}x wall including start-up and the index")

    raw, t_read = clock(lambda: [read_samples(f, f, a, b) for f, a, b in pieces],
                        lambda: read_samples(pieces[0][0], "warm"))
    audio_sec = sum(len(x) / sr for x, sr, _ in raw)
    rates = sorted({sr for _, sr, _ in raw})
    waves, t_res = clock(lambda: [resample(x, sr, 16000, scale) for x, sr, scale in raw],
                         lambda: resample(raw[0][0], raw[0][1], 16000, raw[0][2]))
    floats = [(x.astype(np.float32) * np.float32(scale), sr) for x, sr, scale in raw]
    _, t_res_ta = clock(lambda: [torchaudio.functional.resample(torch.from_numpy(x), sr, 16000) for x, sr in floats],
                        lambda: torchaudio.functional.resample(torch.from_numpy(floats[0][0]), floats[0][1], 16000))
    kind = "segments" if pieces[0][2] is not None else "files"
    print(f"{args.data}: {len(paths)} {kind}, {audio_sec:.1f} s of audio at {rates} Hz, 1 thread, CPU time "
          "(each step warmed on one file)")

    def x_rt(t):
        return f"{audio_sec / t:,.0f}x" if t > 0 else "-"

    print(f"  read        {x_rt(t_read):>9} real time")
    if rates != [16000]:
        print(f"  resample    {x_rt(t_res):>9} (kernel cached; torchaudio.functional.resample: {x_rt(t_res_ta)})")
    for kind in ("mfcc", "logmel"):
        cfg = FeatureConfig(type=kind, n_mels=40 if kind == "mfcc" else 80)
        ext = FeatureExtractor(cfg)
        feats, t_feat = clock(lambda: [ext(x) for x in waves], lambda: ext(waves[0]))
        with tempfile.TemporaryDirectory() as tmp:
            _, t_write = clock(lambda: write_shard(tmp, "0000", ((u, f) for (u, _), f in zip(paths, feats))))
        if kind == "mfcc":
            def ref(x):
                return librosa.feature.mfcc(y=x, sr=16000, n_mfcc=40, n_fft=cfg.fft_size, hop_length=cfg.hop_length,
                                            win_length=cfg.win_length, n_mels=40, pad_mode="constant")
        else:
            def ref(x):
                return librosa.power_to_db(librosa.feature.melspectrogram(
                    y=x, sr=16000, n_fft=cfg.fft_size, hop_length=cfg.hop_length, win_length=cfg.win_length,
                    n_mels=80, pad_mode="constant"), top_db=80)
        _, t_ref = clock(lambda: [ref(x) for x in waves], lambda: ref(waves[0]))
        steps = t_read + (t_res if rates != [16000] else 0.0) + t_feat + t_write
        print(f"  {kind:7s}     {x_rt(t_feat):>9} (librosa {x_rt(t_ref)}: {t_ref / t_feat:.2f}x slower) | "
              f"write {x_rt(t_write)} | read + resample + {kind} + write: {x_rt(steps)}")
        print(jobs[kind])
        if args.device != "cpu":   # the same features batched on the device: wall time, one CPU thread feeding it
            dev = FeatureExtractor(cfg, args.device)
            sync = torch.cuda.synchronize if dev.device.type == "cuda" else (lambda: None)
            batches, cur = [], []
            for x in sorted(waves, key=len):   # the dump's amount of audio per call
                cur.append(x)
                if sum(map(len, cur)) >= BATCH_SECONDS * 16000:
                    batches.append(cur)
                    cur = []
            batches += [cur] if cur else []
            dev.batch(batches[0])
            sync()
            t0 = time.perf_counter()
            for b in batches:
                dev.batch(b)
            sync()
            t_dev = time.perf_counter() - t0
            print(f"  {kind} on {args.device}, batched: {audio_sec / t_dev:,.0f}x real time (wall, copies to and "
                  f"from the device included): {t_feat / t_dev:.1f}x one CPU core")
            if args.profile:
                from torch.profiler import ProfilerActivity, profile

                with profile(activities=[ProfilerActivity.CPU, ProfilerActivity.CUDA]) as prof:
                    for b in batches:
                        dev.batch(b)
                    sync()
                print(prof.key_averages().table(sort_by="cpu_time_total", row_limit=args.profile,
                                                max_name_column_width=50))

    # the F0 track of `prosody: [f0]` (mfcc_prosody), on the settings of serkit.features.prosody.f0_track
    cfg = FeatureConfig(type="mfcc", prosody=["f0"])
    f0_opts = pyin_settings(16000, cfg.hop_length, cfg.f0_min, cfg.f0_max)
    ours, t_f0 = clock(lambda: [pyin(x, **f0_opts) for x in waves], lambda: pyin(waves[0], **f0_opts))
    theirs, t_f0_ref = clock(lambda: [librosa.pyin(x, center=True, pad_mode="constant", **f0_opts) for x in waves],
                             lambda: librosa.pyin(waves[0], center=True, pad_mode="constant", **f0_opts))
    same = all(np.array_equal(a, b, equal_nan=True) for o, t in zip(ours, theirs) for a, b in zip(o, t))
    print(f"  pYIN F0     {x_rt(t_f0):>9} (librosa.pyin {x_rt(t_f0_ref)}: {t_f0_ref / t_f0:.1f}x slower; "
          f"the same outputs: {'yes' if same else 'NO'})")


def bench_blstm(args) -> None:
    from torch.nn.utils.rnn import pack_padded_sequence, pad_packed_sequence

    from serkit.models.encoders.blstm import BLSTMEncoder

    torch.manual_seed(0)
    x = torch.randn(args.batch, args.frames, 40)
    lengths = torch.randint(args.frames // 2, args.frames + 1, (args.batch,))
    lengths[0] = args.frames
    frames = int(lengths.sum())
    ours = BLSTMEncoder(40, hidden=args.hidden, num_layers=2, dropout=0.0)
    packed = torch.nn.LSTM(40, args.hidden, 2, batch_first=True, bidirectional=True)

    def step_ours():
        y, _ = ours(x, lengths)
        y.sum().backward()

    def step_packed():
        p = pack_padded_sequence(x, lengths, batch_first=True, enforce_sorted=False)
        y, _ = pad_packed_sequence(packed(p)[0], batch_first=True)
        y.sum().backward()

    print(f"batch {args.batch} x up to {args.frames} frames ({frames} valid), hidden {args.hidden}, "
          f"{torch.get_num_threads()} threads")
    for name, fn in (("serkit (unpacked)", step_ours), ("torch packed", step_packed)):
        fn()
        t0 = time.perf_counter()
        for _ in range(args.steps):
            fn()
        dt = (time.perf_counter() - t0) / args.steps
        print(f"{name:18s} {1 / dt:6.2f} steps/s  {frames / dt:9,.0f} frames/s (forward + backward)")


def bench_pretrain(args, overrides) -> None:
    from serkit.config import load_config
    from serkit.models.pretrain import PretrainModel

    cfg = load_config(args.config, overrides)
    device = torch.device(args.device)
    dim = args.dim
    torch.manual_seed(0)
    model = PretrainModel(dim, cfg.model, cfg.pretrain).to(device)
    optim = torch.optim.Adam(model.parameters(), lr=cfg.optim.lr)
    B = cfg.data.batch_size
    x = torch.randn(B, args.frames, dim, device=device)
    lengths = torch.randint(args.frames // 2, args.frames + 1, (B,), device=device)
    lengths[0] = args.frames
    frames = int(lengths.sum())
    amp = cfg.train.amp and device.type == "cuda"

    def step():
        with torch.autocast(device_type=device.type, dtype=torch.bfloat16, enabled=amp):
            loss = model(x, lengths)[0]
        loss.backward()
        optim.step()
        optim.zero_grad(set_to_none=True)

    for _ in range(3):
        step()
    if device.type == "cuda":
        torch.cuda.synchronize()
        torch.cuda.reset_peak_memory_stats()
    t0 = time.perf_counter()
    for _ in range(args.steps):
        step()
    if device.type == "cuda":
        torch.cuda.synchronize()
    dt = (time.perf_counter() - t0) / args.steps
    n_params = sum(p.numel() for p in model.parameters()) / 1e6
    mem = f", peak {torch.cuda.max_memory_allocated() / 2**30:.2f} GiB" if device.type == "cuda" else ""
    print(f"{cfg.pretrain.objective} {cfg.model.encoder} ({n_params:.2f}M params), batch {B} x up to {args.frames} "
          f"frames of {dim} dims ({frames} valid), {device}{' bf16' if amp else ''}, "
          f"{torch.get_num_threads()} threads: {1 / dt:.2f} steps/s, {frames / dt:,.0f} frames/s{mem}")


def padded_share(batches, lengths) -> float:
    """Padded frames / all frames of ``batches`` (lists of indices) whose items have ``lengths``."""
    lengths = np.asarray(lengths)
    frames = sum(len(b) * lengths[b].max() for b in batches)
    return 1.0 - sum(lengths[b].sum() for b in batches) / frames


def bench_padding(args, overrides) -> None:
    from serkit.config import load_config
    from serkit.data.datadir import DataDir
    from serkit.data.dataset import FeatDataset
    from serkit.data.sampler import BucketBatchSampler
    from serkit.features.cmvn import CMVN
    from serkit.features.storage import FeatReader
    from serkit.train.trainer import epoch_seed

    cfg = load_config(args.config, overrides)
    data = DataDir.load(args.data)
    # the lengths do not depend on the normalisation or the targets
    ds = FeatDataset(data, FeatReader(args.feats), CMVN(None, "none"), crop_frames=cfg.data.crop_frames,
                     augment=cfg.data.augment)
    sampler = BucketBatchSampler(ds.lengths, cfg.data.batch_size, cfg.data.max_frames)
    by_originals = sampler.batches
    drawn, stale = [], []
    for epoch in range(1, args.epochs + 1):
        ds.epoch_seed = epoch_seed(cfg.seed, epoch)
        lengths = ds.epoch_lengths() or ds.lengths
        sampler.set_epoch(epoch, lengths)
        drawn.append(padded_share(sampler.batches, lengths))
        stale.append(padded_share(by_originals, lengths))
    size = f"max_frames {cfg.data.max_frames}" if cfg.data.max_frames > 0 else f"batch_size {cfg.data.batch_size}"
    print(f"{len(ds)} utterances, {len(sampler)} batches ({size}), speed copies {cfg.data.augment.speed or 'none'}, "
          f"{args.epochs} epochs: padding {100 * np.mean(drawn):.1f}% of frames (epochs {100 * min(drawn):.1f}-"
          f"{100 * max(drawn):.1f}%) cut by the drawn lengths, {100 * np.mean(stale):.1f}% cut by the originals'")


# dense (no sparsity) bf16 peaks in TFLOP/s, by a substring of torch.cuda.get_device_name()
PEAK_BF16_TFLOPS = [("H100 PCIe", 756.0), ("H100", 989.4), ("H200", 989.4), ("A100", 312.0),
                    ("L40S", 362.1), ("L40", 181.0), ("L4", 121.0), ("A10G", 70.0), ("RTX 4090", 165.2)]


def peak_tflops(device_name: str) -> float:
    """The dense bf16 peak of a GPU named ``device_name`` (TFLOP/s), or 0 where unknown."""
    return next((tf for key, tf in PEAK_BF16_TFLOPS if key in device_name), 0.0)


def step_flops(step) -> int:
    """Model FLOPs of one call of ``step`` (forward and backward matmuls, convolutions, attention),
    counted by torch.utils.flop_counter; a multiply-add counts 2."""
    from torch.utils.flop_counter import FlopCounterMode

    with FlopCounterMode(display=False) as counter:
        step()
    return counter.get_total_flops()


def bench_w2v2(args) -> None:
    from serkit.config import load_config
    from serkit.models.encoders.wav2vec2 import POS_CONV, POS_CONV_AUTO, PositionalConv
    from serkit.models.model import MultiTaskModel
    from serkit.train.trainer import compile_forward

    device = torch.device(args.device)
    impls = args.pos_conv.split(",")
    for impl in impls:
        if impl not in POS_CONV:
            raise SystemExit(f"--pos_conv: '{impl}' is none of {', '.join(POS_CONV)}")
    torch.backends.cudnn.benchmark = args.cudnn_benchmark
    cfg = load_config(None, ["--model.encoder", "wav2vec2", "--model.encoder_conf",
                             f"{{size: {args.size}, freeze_feature_encoder: true}}", "--model.pooling", "sum",
                             "--model.heads", "{emotion: {weight: 1.0}, ctc: {weight: 0.1}}"])
    torch.manual_seed(0)
    model = MultiTaskModel(1, cfg.model, {"emotion": list("abcd"), "ctc": [str(i) for i in range(30)]}).to(device)
    pos_conv = next(m for m in model.modules() if isinstance(m, PositionalConv))
    fused = args.fused_optim and device.type == "cuda"
    optim = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=5e-5,
                              **({"fused": True} if fused else {}))
    n = int(args.seconds * 16000)
    x = torch.randn(args.batch, n, 1, device=device) * 0.1
    lengths = torch.full((args.batch,), n, device=device)
    targets = {"emotion": torch.randint(0, 4, (args.batch,), device=device),
               "ctc": torch.randint(2, 30, (args.batch, int(args.seconds * 12)), device=device),
               "ctc_lengths": torch.full((args.batch,), int(args.seconds * 12), device=device)}
    amp = device.type == "cuda"
    forward = model

    def step():
        with torch.autocast(device_type=device.type, dtype=torch.bfloat16, enabled=amp):
            loss = forward(x, lengths, targets)[0]
        loss.backward()
        optim.step()
        optim.zero_grad(set_to_none=True)

    # the model's FLOPs, counted op by op on the plain model with the direct convolution: the
    # same for every way of computing it
    pos_conv.impl = "conv"
    flops = step_flops(step)
    forward = compile_forward(model, args.compile)
    n_params = sum(p.numel() for p in model.parameters()) / 1e6
    peak = args.peak_tflops or (peak_tflops(torch.cuda.get_device_name(device)) if device.type == "cuda" else 0.0)
    for impl in impls:
        pos_conv.impl = impl
        if args.compile != "none":
            torch._dynamo.reset()   # a graph per form of the convolution
        for _ in range(3):          # warm-up (and compilation)
            step()
        if amp:
            torch.cuda.synchronize()
            torch.cuda.reset_peak_memory_stats()
        t0 = time.perf_counter()
        for _ in range(args.steps):
            step()
        if amp:
            torch.cuda.synchronize()
        dt = (time.perf_counter() - t0) / args.steps
        mem = f", peak {torch.cuda.max_memory_allocated() / 2**30:.2f} GiB" if amp else ""
        mfu = f", MFU {flops / dt / 1e12 / peak:.1%} of {peak:g} TFLOP/s" if peak else ""
        ran = POS_CONV_AUTO.get(device.type, "conv") if impl == "auto" else impl
        compiled = "" if args.compile == "none" else f", compiled ({args.compile})"
        print(f"wav2vec2-{args.size} ({n_params:.2f}M params) + emotion + CTC, batch {args.batch} x "
              f"{args.seconds:g} s, {device}{' bf16' if amp else ''}{compiled}"
              f"{', cudnn.benchmark' if args.cudnn_benchmark else ''}{', fused AdamW' if fused else ''}, "
              f"positional conv {impl}{f' ({ran})' if ran != impl else ''}, {torch.get_num_threads()} threads: "
              f"{1 / dt:.2f} steps/s, {args.batch * args.seconds / dt:,.1f} audio s/s, "
              f"{flops / 1e9:,.1f} GFLOP a step, {flops / dt / 1e12:.3f} TFLOP/s{mfu}{mem}")
    if args.profile:   # where a step's time goes: the ops that take the most of it, on the device where there is one
        from torch.profiler import ProfilerActivity, profile

        acts = [ProfilerActivity.CPU] + ([ProfilerActivity.CUDA] if amp else [])
        with profile(activities=acts) as prof:
            for _ in range(3):
                step()
            if amp:
                torch.cuda.synchronize()
        key = "self_cuda_time_total" if amp else "self_cpu_time_total"
        print(f"3 steps (positional conv {pos_conv.impl}), the {args.profile} ops with the most {key}:")
        print(prof.key_averages().table(sort_by=key, row_limit=args.profile, max_name_column_width=60))


def bench_infer(args) -> None:
    """Inference real-time factor per CPU core (feature extraction included) of the Recognizer:
    one file, a batch of files (as one speaker), and a long recording in 3 s windows, for a BLSTM
    and the ResNet (weights random: the speed does not depend on them), or for ``--model``, an
    exported model (a network, a classical system, a fused system)."""
    import soundfile

    from serkit.data.datadir import DataDir
    from serkit.models.model import MultiTaskModel
    from serkit.models.registry import load_train_config
    from serkit.recognizer import Recognizer

    torch.set_num_threads(1)
    spec = list(DataDir.load(args.data).get("wav.scp").values())[: args.files]
    waves = [soundfile.read(p, dtype="float32", always_2d=True) for p in spec]
    rate = waves[0][1]
    waves = [x.mean(axis=1) for x, sr in waves if sr == rate]
    long = np.concatenate(waves)
    while len(long) < args.long_minutes * 60 * rate:
        long = np.concatenate([long, long])
    long = long[: int(args.long_minutes * 60 * rate)]
    batch_sec = sum(len(x) for x in waves) / rate
    print(f"{args.data}: {len(waves)} files ({batch_sec:.0f} s at {rate} Hz), a {args.long_minutes:g}-minute "
          "recording, 1 thread, CPU time, features included")
    def random_init(opts):
        cfg = load_train_config(None, opts + ["--data.cmvn", "speaker"])
        feats = {"type": "logmel", "n_mels": 64, "sample_rate": 16000}
        model = MultiTaskModel(64, cfg.model, {"emotion": ["a", "b", "c", "d"]}).eval()
        n = sum(params.numel() for params in model.parameters())
        return Recognizer(model, cfg, {"emotion": ["a", "b", "c", "d"]}, feats, "speaker"), f"{n / 1e6:.2f} M parameters"

    if args.model:   # an exported model (a network, a classical system, a fused system)
        from pathlib import Path

        systems = {Path(args.model).name: lambda: (Recognizer.load(args.model),
                                                   f"{Path(args.model).stat().st_size / 1e6:.1f} MB")}
    else:
        systems = {"blstm": lambda: random_init(["--model.encoder", "blstm", "--model.pooling", "mean"]),
                   "resnet": lambda: random_init(["--model.encoder", "resnet", "--model.pooling", "attentive_stats",
                                                  "--model.encoder_conf",
                                                  "{channels: [8, 16, 32, 64], output_dim: 128}"])}
    for name, make in systems.items():
        r, size = make()
        # warm-up, on another file where there is one: a classical system keeps a file's vector
        r.predict(waves[min(1, len(waves) - 1)], rate)
        t0 = time.process_time()
        r.predict(waves[0], rate)
        one = time.process_time() - t0
        t0 = time.process_time()
        from serkit.features.extract import resample

        at_rate = [resample(x, rate, r.sample_rate) for x in waves]
        r.predict_speaker(at_rate, batch_size=16)   # one speaker: a speaker-normalised system pools them
        many = time.process_time() - t0
        t0 = time.process_time()
        r.segments(resample(long, rate, r.sample_rate), window=3.0, hop=3.0, batch_size=16)
        seg = time.process_time() - t0
        print(f"  {name:7s} ({size}): one file {len(waves[0]) / rate / one:,.0f}x real time | "
              f"{len(waves)} files {batch_sec / many:,.0f}x | {args.long_minutes:g} min in 3 s windows "
              f"{args.long_minutes * 60 / seg:,.0f}x")


def main() -> None:
    from serkit.config import CHOICES

    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = p.add_subparsers(dest="what", required=True)
    f = sub.add_parser("feats")
    f.add_argument("--data", default=None)
    f.add_argument("--seconds", type=float, default=300.0)
    f.add_argument("--repeat", type=int, default=5, help="runs of the whole dump job (the median is reported)")
    f.add_argument("--device", default="cpu", help="also time the batched features on this device (cuda)")
    f.add_argument("--profile", type=int, default=0,
                   help="with --device: profile the device's batched calls, printing this many top ops")
    b = sub.add_parser("blstm")
    b.add_argument("--batch", type=int, default=16)
    b.add_argument("--frames", type=int, default=300)
    b.add_argument("--hidden", type=int, default=128)
    b.add_argument("--steps", type=int, default=10)
    t = sub.add_parser("pretrain")
    t.add_argument("--config", required=True)
    t.add_argument("--dim", type=int, default=80, help="feature dimension (80 for FOP, 160 for MPC)")
    t.add_argument("--frames", type=int, default=1000)
    t.add_argument("--steps", type=int, default=10)
    t.add_argument("--device", default="cpu")
    i = sub.add_parser("infer")
    i.add_argument("--data", required=True)
    i.add_argument("--files", type=int, default=100)
    i.add_argument("--long_minutes", type=float, default=10.0)
    i.add_argument("--model", default=None, help="an exported model file to time instead of the random-init ones")
    d = sub.add_parser("padding")
    d.add_argument("--config", required=True)
    d.add_argument("--data", required=True, help="a data dir: the training split")
    d.add_argument("--feats", required=True, help="feats.scp of its dump (speed copies included)")
    d.add_argument("--epochs", type=int, default=30)
    w = sub.add_parser("w2v2")
    w.add_argument("--size", default="base")
    w.add_argument("--batch", type=int, default=2)
    w.add_argument("--seconds", type=float, default=8.0)
    w.add_argument("--steps", type=int, default=5)
    w.add_argument("--device", default="cpu")
    w.add_argument("--compile", default="none", choices=CHOICES["train.compile"],
                   help="torch.compile backend, as the config's train.compile")
    w.add_argument("--peak_tflops", type=float, default=0.0,
                   help="the device's peak for the MFU (default: known GPUs' dense bf16 peak)")
    w.add_argument("--profile", type=int, default=0, help="then profile 3 steps and print this many top ops")
    w.add_argument("--cudnn_benchmark", action="store_true",
                   help="let cuDNN time its convolution algorithms for each new shape (off in serkit-train)")
    w.add_argument("--pos_conv", default="auto",
                   help="how the positional convolution runs, comma-separated to time several in turn in one "
                        "process: auto, conv, fft, unfold (the encoder's pos_conv)")
    w.add_argument("--fused_optim", action="store_true", help="AdamW's fused CUDA kernel (fused=True)")
    args, overrides = p.parse_known_args()
    if args.what == "w2v2":
        bench_w2v2(args)
    elif args.what == "pretrain":
        bench_pretrain(args, overrides)
    elif args.what == "padding":
        bench_padding(args, overrides)
    elif overrides:
        p.error(f"unrecognized arguments: {' '.join(overrides)}")
    else:
        {"feats": bench_feats, "blstm": bench_blstm, "infer": bench_infer}[args.what](args)


if __name__ == "__main__":
    main()
