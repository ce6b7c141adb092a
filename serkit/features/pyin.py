"""librosa's pYIN with librosa's numbers, several times faster.

``librosa.pyin`` spends most of its time in two places:

- a dense Viterbi over 2 x n_bins states (voiced and unvoiced pitch bins): every state is scored
  from every other one, O(states²) a frame, although a pitch moves a few bins a frame;
- a Python loop over frames that calls scipy for each frame's trough priors.

Here the Viterbi scores each state from its nonzero transitions only, and the trough priors of
all frames come from one scipy call. The result is librosa's to the bit:

- a zero-probability transition costs log(tiny) in librosa, so a state is scored in full, as
  librosa scores it, whenever the best previous state plus that cost could win or tie;
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
    """The sparse form of librosa.pyin's transition matrix: for each state j, the states it can
    be reached from (ascending, padded with the last one) and their log-probabilities, the
    log-probability of the others, and the dense log matrix for the full scans."""
    from librosa import sequence, util

    local = sequence.transition_local(n_pitch_bins, width, window="triangle", wrap=False)
    transition = np.kron(sequence.transition_loop(2, 1 - SWITCH_PROB), local)
    tiny = util.tiny(np.zeros(1))
    log_trans = np.log(transition + tiny)
    sources = [np.flatnonzero(transition[:, j] > 0) for j in range(transition.shape[1])]
    width_max = max(len(s) for s in sources)
    src = np.stack([np.pad(s, (0, width_max - len(s)), mode="edge") for s in sources])
    return src, np.take_along_axis(log_trans.T, src, 1), float(np.log(tiny)), np.ascontiguousarray(log_trans.T)


@numba.njit(cache=True)
def _viterbi(log_prob, log_p_init, src, src_log, zero_log, log_trans_t):  # pragma: no cover (compiled)
    """log_prob (T, S) -> the state path of librosa's ``_viterbi`` (the first state on ties)."""
    n_steps, n_states = log_prob.shape
    value = np.empty((n_steps, n_states))
    ptr = np.zeros((n_steps, n_states), dtype=np.int64)
    value[0] = log_prob[0] + log_p_init
    for t in range(1, n_steps):
        prev = value[t - 1]
        # no zero-probability transition scores above the best previous state plus log(tiny)
        out_of_band = prev.max() + zero_log
        for j in range(n_states):
            best = -np.inf
            arg = 0
            for b in range(src.shape[1]):
                v = prev[src[j, b]] + src_log[j, b]
                if v > best:
                    best = v
                    arg = src[j, b]
            if out_of_band >= best:
                # it could win or tie: score j from every state, as librosa does
                row = log_trans_t[j]
                best = prev[0] + row[0]
                arg = 0
                for k in range(1, n_states):
                    v = prev[k] + row[k]
                    if v > best:
                        best = v
                        arg = k
            ptr[t, j] = arg
            value[t, j] = log_prob[t, j] + best
    state = np.empty(n_steps, dtype=np.int64)
    state[-1] = np.argmax(value[-1])
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
        below = np.less.outer(heights, thresholds[1:])                        # (troughs, thresholds)
        starts = np.flatnonzero(np.r_[True, frame[1:] != frame[:-1]])          # each frame's first trough
        counts = np.diff(np.r_[starts, frame.size])
        run = np.cumsum(below, axis=0)
        before = np.repeat(run[starts] - below[starts], counts, axis=0)       # troughs of earlier frames
        positions = run - before - 1
        n_troughs = np.repeat(np.add.reduceat(below.astype(np.int64), starts, axis=0), counts, axis=0)
        with np.errstate(divide="ignore", invalid="ignore"):
            prior = scipy.stats.boltzmann.pmf(positions, BOLTZMANN_PARAMETER, n_troughs)
        prior[~below] = 0
        # one dot a frame, as librosa: BLAS sums a row in an order that depends on the matrix's height
        probs = np.empty(frame.size)
        for s, e in zip(starts, np.r_[starts[1:], frame.size]):
            probs[s:e] = prior[s:e].dot(beta_probs)
        # each frame's global minimum (the first on ties) takes the thresholds no trough is below
        order = np.lexsort((np.arange(frame.size), heights, frame))
        global_min = order[starts]
        n_above = np.count_nonzero(~below[global_min], axis=1)
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
    src, src_log, zero_log, log_trans_t = _transitions(n_pitch_bins, width)
    tiny = util.tiny(observation_probs)
    log_prob = np.ascontiguousarray(np.log(observation_probs + tiny).T)
    log_p_init = np.log(np.ones(2 * n_pitch_bins) / (2 * n_pitch_bins) + tiny)
    states = _viterbi(log_prob, log_p_init, src, src_log, zero_log, log_trans_t)

    freqs = fmin * 2 ** (np.arange(n_pitch_bins) / (12 * n_bins_per_semitone))
    f0 = freqs[states % n_pitch_bins]
    voiced_flag = states < n_pitch_bins
    f0[~voiced_flag] = np.nan
    return f0, voiced_flag, voiced_prob[0]
