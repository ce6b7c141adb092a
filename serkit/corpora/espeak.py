"""Minimal ctypes binding to eSpeak NG (library and voices from PyPI ``espeakng-loader``).

Only what the mini_emo synthesizer needs: pick a voice, set prosody parameters, synthesize
text to 16-bit samples at the library's native rate (22.05 kHz).
"""
from __future__ import annotations

import ctypes
from typing import List

import numpy as np

from serkit.errors import SerkitError

# enum espeak_PARAMETER
RATE, VOLUME, PITCH, RANGE, WORDGAP = 1, 2, 3, 4, 7
_AUDIO_OUTPUT_SYNCHRONOUS = 0x02
_POS_CHARACTER = 1
_ESPEAK_CHARS_UTF8 = 1
_SYNTH_CB = ctypes.CFUNCTYPE(ctypes.c_int, ctypes.POINTER(ctypes.c_short), ctypes.c_int, ctypes.c_void_p)


class ESpeak:
    """One eSpeak NG engine (the library is process-global: create one per process)."""

    _instance = None

    def __new__(cls):
        if cls._instance is None:
            cls._instance = super().__new__(cls)
            cls._instance._init()
        return cls._instance

    def _init(self) -> None:
        try:
            import espeakng_loader
        except ImportError as e:  # pragma: no cover - install problem
            raise SerkitError("eSpeak NG is missing: pip install espeakng-loader") from e
        lib = ctypes.CDLL(espeakng_loader.get_library_path())
        lib.espeak_Initialize.restype = ctypes.c_int
        lib.espeak_Initialize.argtypes = [ctypes.c_int, ctypes.c_int, ctypes.c_char_p, ctypes.c_int]
        lib.espeak_SetVoiceByName.argtypes = [ctypes.c_char_p]
        lib.espeak_SetVoiceByName.restype = ctypes.c_int
        lib.espeak_SetParameter.argtypes = [ctypes.c_int, ctypes.c_int, ctypes.c_int]
        lib.espeak_Synth.argtypes = [
            ctypes.c_void_p, ctypes.c_size_t, ctypes.c_uint, ctypes.c_int, ctypes.c_uint,
            ctypes.c_uint, ctypes.c_void_p, ctypes.c_void_p,
        ]
        lib.espeak_Synth.restype = ctypes.c_int
        self.sample_rate = lib.espeak_Initialize(
            _AUDIO_OUTPUT_SYNCHRONOUS, 0, espeakng_loader.get_data_path().encode(), 0
        )
        if self.sample_rate <= 0:
            raise SerkitError("eSpeak NG failed to initialise")
        self._chunks: List[np.ndarray] = []

        def _collect(wav, n, events):
            if wav and n > 0:
                self._chunks.append(np.ctypeslib.as_array(wav, shape=(n,)).copy())
            return 0

        self._cb = _SYNTH_CB(_collect)  # keep a reference: the library calls it later
        lib.espeak_SetSynthCallback(self._cb)
        self._lib = lib

    def synth(self, text: str, voice: str, rate: int, pitch: int, pitch_range: int,
              volume: int, word_gap: int = 0) -> np.ndarray:
        """Return int16 samples of ``text`` spoken by ``voice`` (e.g. ``en-us+f2``)."""
        lib = self._lib
        if lib.espeak_SetVoiceByName(voice.encode()) != 0:
            raise SerkitError(f"eSpeak NG has no voice '{voice}'")
        for param, value in ((RATE, rate), (PITCH, pitch), (RANGE, pitch_range),
                             (VOLUME, volume), (WORDGAP, word_gap)):
            lib.espeak_SetParameter(param, int(value), 0)
        self._chunks = []
        buf = text.encode("utf-8") + b"\0"
        err = lib.espeak_Synth(buf, len(buf), 0, _POS_CHARACTER, 0, _ESPEAK_CHARS_UTF8, None, None)
        lib.espeak_Synchronize()
        if err != 0 or not self._chunks:
            raise SerkitError(f"eSpeak NG failed on {text!r} with voice {voice} (error {err})")
        return np.concatenate(self._chunks)
