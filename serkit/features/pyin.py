"""librosa's pYIN with librosa's numbers, several times faster.

``librosa.pyin`` spends most of its time in two places:

- a dense Viterbi over 2 x n_bins states (voiced and unvoiced pitch bins): every state is scored
  from every other one, O(states²) a frame, although a pitch moves a few bins a frame;
- a Python loop over frames that calls scipy for each frame's trough priors.

Here the Viterbi scores each state from its nonzero transitions only, and the trough priors of
all frames come from one scipy call. The result is librosa's to the bit:

- a zero-probability transition costs log(tiny) in librosa, not -inf, and can win (on frames
  where every reachable state scores near log(tiny) itself): the best of those transitions is
  found too, as a range maximum;
- the ties go to the first state, as ``np.argmax`` gives them.

``tests/test_pyin.py`` holds every output equal to ``librosa.pyin``'s. Where librosa's internals
this needs are missing (another librosa version), ``pyin`` calls ``librosa.pyin`` itself.
"""
from __future__ import annotations

import functools
from typing import Tuple

import numba
import numpy as np

BETA_PARAMETERS = (2, 18)     # librosa.pyin's defaults, which serkit uses
BOLTZMANN_PARAMETER = 2
MAX_TRANSITION_RATE = 35.92
SWITCH_PROB = 0.01
NO_TROUGH_PROB = 0.01


def _librosa_parts():
    """librosa's YIN pieces, or None where this librosa lacks them."""
    try:
        from librosa.core.pitch import _cumulative_mean_normalized_difference, _parabolic_interpolation
    except ImportError:
        return None
    return _cumulative_mean_normalized_difference, _parabolic_interpolation


@functools.lru_cache(maxsize=8)
def _transitions(n_pitch_bins: int, width: int):
    """The sparse form of librosa.pyin's transition matrix. For each state j: the states it can
    be reached from (ascending, padded with the last one) and their log-probabilities; the
    ranges of the states it cannot be reached from (first, last; empty: first > last), whose
    transitions all cost log(tiny); and log(tiny)."""
    from librosa import sequence, util

    local = sequence.transition_local(n_pitch_bins, width, window="triangle", wrap=False)
    transition = np.kron(sequence.transition_loop(2, 1 - SWITCH_PROB), local)
    tiny = util.tiny(np.zeros(1))
    log_trans = np.log(transition + tiny)
    n_states = transition.shape[1]
    sources = [np.flatnonzero(transition[:, j] > 0) for j in range(n_states)]
    width_max = max(len(s) for s in sources)
    src = np.stack([np.pad(s, (0, width_max - len(s)), mode="edge") for s in sources])
    gaps = []
    for s in sources:
        edges = np.r_[-1, s, n_states]
        cut = np.flatnonzero(np.diff(edges) > 1)
        gaps.append([(edges[i] + 1, edges[i + 1] - 1) for i in cut])
    most = max(len(g) for g in gaps)
    gap_table = np.array([g + [(1, 0)] * (most - len(g)) for g in gaps], dtype=np.int64).reshape(n_states, most, 2)
    return src, np.take_along_axis(log_trans.T, src, 1), gap_table, float(np.log(tiny))


@numba.njit(cache=True)
def _viterbi(log_prob, log_p_init, src, src_log, gaps, zero_log):  # pragma: no cover (compiled)
    """log_prob (T, S) -> the state path of librosa's ``_viterbi``: each state scored from every
    state, the first on ties. The states it cannot be reached from all cost log(tiny) more than
    their score, so their best is a range maximum of (score + log(tiny)): a sparse table of each
    frame's first maxima answers it in two lookups a range."""
    n_steps, n_states = log_prob.shape
    levels = 1
    while (1 << levels) <= n_states:
        levels += 1
    log2 = np.zeros(n_states + 1, dtype=np.int64)
    for n in range(2, n_states + 1):
        log2[n] = log2[n // 2] + 1
    first_max = np.empty((levels, n_states), dtype=np.int64)   # over [i, i + 2^level)
    far = np.empty(n_states)
    prev = log_prob[0] + log_p_init               # the scores of the last frame only: a long file's
    cur = np.empty(n_states)                      # (T, S) float table would be hundreds of MB
    ptr = np.zeros((n_steps, n_states), dtype=np.uint16)    # as librosa's
    for t in range(1, n_steps):
        for k in range(n_states):
            far[k] = prev[k] + zero_log           # the value librosa compares for a 0 transition
            first_max[0, k] = k
        for level in range(1, levels):
            half = 1 << (level - 1)
            for i in range(n_states - (1 << level) + 1):
                a, b = first_max[level - 1, i], first_max[level - 1, i + half]
                first_max[level, i] = a if far[a] >= far[b] else b
        for j in range(n_states):
            best = -np.inf
            arg = 0
            for b in range(src.shape[1]):         # ascending: the first state on ties
                v = prev[src[j, b]] + src_log[j, b]
                if v > best:
                    best = v
                    arg = src[j, b]
            for g in range(gaps.shape[1]):
                lo, hi = gaps[j, g, 0], gaps[j, g, 1]
                if lo > hi:
                    continue
                level = log2[hi - lo + 1]
                a, b = first_max[level, lo], first_max[level, hi - (1 << level) + 1]
                k = a if far[a] >= far[b] else b
                if far[k] > best or (far[k] == best and k < arg):
                    best = far[k]
                    arg = k
            ptr[t, j] = arg
            cur[j] = log_prob[t, j] + best
        prev, cur = cur, prev
    state = np.empty(n_steps, dtype=np.int64)
    state[-1] = np.argmax(prev)
    for t in range(n_steps - 2, -1, -1):
        state[t] = ptr[t + 1, state[t + 1]]
    return state


def _observations(yin_frames: np.ndarray, parabolic_shifts: np.ndarray, sr: float, thresholds: np.ndarray,
                  beta_probs: np.ndarray, min_period: int, fmin: float, n_pitch_bins: int,
                  n_bins_per_semitone: int) -> Tuple[np.ndarray, np.ndarray]:
    """librosa's ``__pyin_helper`` for all frames at once: (2 n_bins, T) observation
    probabilities and the (1, T) voicing probability."""
    import scipy.stats
    from librosa import util

    n_frames = yin_frames.shape[1]
    is_trough = util.localmin(yin_frames, axis=0)
    is_trough[0] = yin_frames[0] < yin_frames[1]
    frame, lag = np.nonzero(is_trough.T)              # troughs, frame by frame, lags ascending
    yin_probs = np.zeros_like(yin_frames)
    if frame.size:
        heights = yin_frames[lag, frame]
        starts = np.flatnonzero(np.r_[True, frame[1:] != frame[:-1]])          # each frame's first trough
        ends = np.r_[starts[1:], frame.size]
        # only troughs below some threshold get a prior (noise has dozens of others a frame)
        active = np.flatnonzero(heights < thresholds[-1])
        prior = np.zeros((frame.size, len(thresholds) - 1))
        if active.size:
            # (thresholds, active troughs): the running counts go along contiguous rows
            below = np.greater.outer(thresholds[1:], heights[active])
            f = frame[active]
            first = np.flatnonzero(np.r_[True, f[1:] != f[:-1]])               # each frame's first one
            counts = np.diff(np.r_[first, f.size])
            run = np.cumsum(below, axis=1)
            earlier = run[:, first] - below[:, first]                            # below, in earlier frames
            positions = run - np.repeat(earlier, counts, axis=1) - 1             # earlier troughs of the frame
            n_troughs = np.repeat(run[:, first + counts - 1] - earlier, counts, axis=1)
            values = np.zeros(below.shape)
            values[below] = scipy.stats.boltzmann.pmf(positions[below], BOLTZMANN_PARAMETER, n_troughs[below])
            prior[active] = values.T
        # one dot a frame over all its troughs, as librosa: BLAS sums a row in an order that depends
        # on the matrix's height and the row's place in it
        probs = np.zeros(frame.size)
        has_prior = np.zeros(n_frames, dtype=bool)
        has_prior[frame[active]] = True
        for s, e in zip(starts, ends):
            if has_prior[frame[s]]:
                probs[s:e] = prior[s:e].dot(beta_probs)
        # each frame's global minimum (the first on ties) takes the thresholds no trough is below
        order = np.lexsort((np.arange(frame.size), heights, frame))
        global_min = order[starts]
        n_above = np.count_nonzero(~np.less.outer(heights[global_min], thresholds[1:]), axis=1)
        no_trough = np.array([np.sum(beta_probs[:n]) for n in range(len(beta_probs) + 1)])
        probs[global_min] += NO_TROUGH_PROB * no_trough[n_above]
        yin_probs[lag, frame] = probs

    # from here on, librosa's lines as they are
    yin_period, frame_index = np.nonzero(yin_probs)
    period_candidates = min_period + yin_period
    period_candidates = period_candidates + parabolic_shifts[yin_period, frame_index]
    f0_candidates = sr / period_candidates
    bin_index = 12 * n_bins_per_semitone * np.log2(f0_candidates / fmin)
    bin_index = np.clip(np.round(bin_index), 0, n_pitch_bins).astype(int)
    observation_probs = np.zeros((2 * n_pitch_bins, n_frames))
    observation_probs[bin_index, frame_index] = yin_probs[yin_period, frame_index]
    voiced_prob = np.clip(np.sum(observation_probs[:n_pitch_bins, :], axis=0, keepdims=True), 0, 1)
    observation_probs[n_pitch_bins:, :] = (1 - voiced_prob) / n_pitch_bins
    return observation_probs, voiced_prob


def pyin(y: np.ndarray, *, fmin: float, fmax: float, sr: float, frame_length: int, hop_length: int,
         n_thresholds: int, resolution: float) -> Tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``librosa.pyin(y, ..., center=True, pad_mode="constant")`` with its other defaults, for a
    1-D wave: (f0 with NaN where unvoiced, voiced flag, voicing probability), frame by frame."""
    import librosa
    import scipy.stats
    from librosa import util

    parts = _librosa_parts()
    if parts is None or y.ndim != 1 or not 0 < fmin < fmax <= sr / 2 or sr / fmin >= frame_length / 2:
        # librosa's own path: its errors and warnings for such settings
        return librosa.pyin(y, fmin=fmin, fmax=fmax, sr=sr, frame_length=frame_length, hop_length=hop_length,
                            n_thresholds=n_thresholds, resolution=resolution, center=True, pad_mode="constant")
    cmnd, parabolic = parts
    util.valid_audio(y)
    y = np.pad(y, (frame_length // 2, frame_length // 2), mode="constant")
    y_frames = util.frame(y, frame_length=frame_length, hop_length=hop_length)
    min_period = int(np.floor(sr / fmax))
    max_period = min(int(np.ceil(sr / fmin)), frame_length - 1)
    yin_frames = cmnd(y_frames, min_period, max_period)
    parabolic_shifts = parabolic(yin_frames)

    thresholds = np.linspace(0, 1, n_thresholds + 1)
    beta_probs = np.diff(scipy.stats.beta.cdf(thresholds, *BETA_PARAMETERS))
    n_bins_per_semitone = int(np.ceil(1.0 / resolution))
    n_pitch_bins = int(np.floor(12 * n_bins_per_semitone * np.log2(fmax / fmin))) + 1
    observation_probs, voiced_prob = _observations(yin_frames, parabolic_shifts, sr, thresholds, beta_probs,
                                                   min_period, fmin, n_pitch_bins, n_bins_per_semitone)

    max_semitones_per_frame = round(MAX_TRANSITION_RATE * 12 * hop_length / sr)
    width = max_semitones_per_frame * n_bins_per_semitone + 1
    src, src_log, gaps, zero_log = _transitions(n_pitch_bins, width)
    tiny = util.tiny(observation_probs)
    log_prob = np.ascontiguousarray(np.log(observation_probs + tiny).T)
    log_p_init = np.log(np.ones(2 * n_pitch_bins) / (2 * n_pitch_bins) + tiny)
    states = _viterbi(log_prob, log_p_init, src, src_log, gaps, zero_log)

    freqs = fmin * 2 ** (np.arange(n_pitch_bins) / (12 * n_bins_per_semitone))
    f0 = freqs[states % n_pitch_bins]
    voiced_flag = states < n_pitch_bins
    f0[~voiced_flag] = np.nan
    return f0, voiced_flag, voiced_prob[0]
