"""Audio samples as stored: numpy and libsndfile only (no torch), so that a wav.scp pipe that cuts
a segment (``python -m serkit.corpora.manifest cut``) starts fast."""
from __future__ import annotations

import re
from typing import Optional, Tuple

import numpy as np
import soundfile

from serkit.errors import DataDirError

_UNKNOWN_DATA_SIZES = (0, 0xFFFFFFFF, 0x7FFFFFFF)   # streaming writers' "length not known" placeholders


def _truncated_wav(info: str) -> Optional[Tuple[int, int]]:
    """(bytes the data chunk header promises, bytes there are) when libsndfile found fewer."""
    m = re.search(r"^data : (\d+) \(should be (\d+)\)", info, re.M)
    if m and int(m.group(1)) not in _UNKNOWN_DATA_SIZES and int(m.group(2)) < int(m.group(1)):
        return int(m.group(1)), int(m.group(2))
    return None


# integer subtypes read as integers and scaled here: libsndfile's own conversion to float costs
# 3-4x the whole read, and these give its samples exactly (x / 2^15; 24-bit samples come left-
# aligned in an int32, x / 2^31, exact in float32)
_INT_SUBTYPES = {"PCM_16": ("int16", 2.0 ** -15), "PCM_24": ("int32", 2.0 ** -31)}


# a segment may end this far past its recording (annotation rounding), as Kaldi's extract-segments allows
SEGMENT_TOLERANCE = 0.1


def read_samples(source, name: str, start: float = 0.0, end: Optional[float] = None) -> Tuple[np.ndarray, int, float]:
    """(mono samples as stored, sample rate, scale): int16 / int32 for 16- / 24-bit PCM, float32
    otherwise, and the factor that maps them to libsndfile's float samples in [-1, 1]; seconds
    [``start``, ``end``) only where ``end`` is given. Refuses truncated and empty files, NaN / inf
    samples and segments that end past the recording, naming ``name``."""
    try:
        with soundfile.SoundFile(source) as f:
            sr, promised = f.samplerate, f.frames
            cut = _truncated_wav(f.extra_info)
            as_int = _INT_SUBTYPES.get(f.subtype)
            count = -1
            if end is not None:
                first, count = int(round(start * sr)), int(round((end - start) * sr))
                if first + count > promised + SEGMENT_TOLERANCE * sr:
                    raise DataDirError(f"audio '{name}': the segment {start}-{end} s ends after the recording "
                                       f"({promised / sr:.3f} s)")
                count = promised = max(0, min(count, promised - first))
                f.seek(min(first, f.frames))
            x = f.read(count, dtype=as_int[0] if as_int else "float32", always_2d=True)
    except (RuntimeError, OSError, soundfile.LibsndfileError) as e:
        raise DataDirError(f"cannot read audio '{name}': {e}") from None
    if cut is not None:
        raise DataDirError(f"audio '{name}' is truncated: its header promises {cut[0]} bytes of samples, "
                           f"the file holds {cut[1]}")
    if len(x) < promised:
        raise DataDirError(f"audio '{name}' is truncated: {len(x)} of {promised} samples could be read")
    if len(x) == 0:
        raise DataDirError(f"audio '{name}' holds no samples")
    if not as_int and not np.isfinite(x).all():
        bad = int(np.count_nonzero(~np.isfinite(x)))
        raise DataDirError(f"audio '{name}' has {bad} non-finite (NaN / inf) samples")
    x = x[:, 0] if x.shape[1] == 1 else x.mean(axis=1, dtype=np.float32)
    return x, sr, as_int[1] if as_int else 1.0
