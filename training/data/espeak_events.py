"""
espeak-ng speech with exact phone timings, through its C library (Debian's `libespeak-ng.so.1`, via ctypes).

espeak-ng reports an event at the onset of every phoneme it speaks, with the phoneme's IPA name and its sample
position, so synthetic speech comes with frame labels that no aligner has to guess. The command line cannot give
them (`espeak-ng -X` prints phonemes without times), and `phonemizer` gives IPA without timings.

    from training.data.espeak_events import synthesize
    audio, rate, phones = synthesize("Bonjour à tous.", "fr+m3")  # phones: [(start_s, end_s, ipa), ...]
"""

from __future__ import annotations

import ctypes
import ctypes.util
import itertools
import threading

import numpy as np

from melgan_hf.phones import SILENCE

_AUDIO_OUTPUT_SYNCHRONOUS = 2
_PHONEME_EVENTS_IPA = 0x3  # espeakINITIALIZE_PHONEME_EVENTS | espeakINITIALIZE_PHONEME_IPA
_EVENT_LIST_TERMINATED, _EVENT_PHONEME = 0, 7
_CHARS_UTF8 = 1
# A nameless event (a pause, a word or clause boundary) shorter than this belongs to the phone before it.
MIN_PAUSE_SECONDS = 0.03


class _EventId(ctypes.Union):
    _fields_ = [("number", ctypes.c_int), ("name", ctypes.c_char_p), ("string", ctypes.c_char * 8)]


class _Event(ctypes.Structure):  # espeak_EVENT, speak_lib.h
    _fields_ = [
        ("type", ctypes.c_int),
        ("unique_identifier", ctypes.c_uint),
        ("text_position", ctypes.c_int),
        ("length", ctypes.c_int),
        ("audio_position", ctypes.c_int),
        ("sample", ctypes.c_int),
        ("user_data", ctypes.c_void_p),
        ("id", _EventId),
    ]


_Callback = ctypes.CFUNCTYPE(ctypes.c_int, ctypes.POINTER(ctypes.c_short), ctypes.c_int, ctypes.POINTER(_Event))


class _Espeak:
    """The library, initialised once: espeak-ng keeps global state, so calls are serialised by a lock."""

    def __init__(self) -> None:
        path = ctypes.util.find_library("espeak-ng")
        if path is None:
            raise RuntimeError("libespeak-ng is not installed (Debian: apt install libespeak-ng1 espeak-ng-data)")
        self.library = ctypes.CDLL(path)
        self.sampling_rate = self.library.espeak_Initialize(_AUDIO_OUTPUT_SYNCHRONOUS, 0, None, _PHONEME_EVENTS_IPA)
        if self.sampling_rate <= 0:
            raise RuntimeError(f"espeak_Initialize failed ({self.sampling_rate})")
        self.lock = threading.Lock()
        self.chunks: list[np.ndarray] = []
        self.events: list[tuple[str, int]] = []
        self.callback = _Callback(self._receive)  # referenced here, so the C side never calls a freed function
        self.library.espeak_SetSynthCallback(self.callback)

    def _receive(self, samples: ctypes.POINTER(ctypes.c_short), count: int, events: ctypes.POINTER(_Event)) -> int:
        if count > 0:
            self.chunks.append(np.ctypeslib.as_array(samples, shape=(count,)).copy())
        index = 0
        while events[index].type != _EVENT_LIST_TERMINATED:
            event = events[index]
            if event.type == _EVENT_PHONEME:
                self.events.append((event.id.string.decode("utf-8", "replace"), event.sample))
            index += 1
        return 0

    def speak(self, text: str, voice: str) -> tuple[np.ndarray, list[tuple[str, int]]]:
        with self.lock:
            self.chunks, self.events = [], []
            if self.library.espeak_SetVoiceByName(voice.encode()) != 0:
                raise ValueError(f"espeak-ng has no voice {voice!r} (see `espeak-ng --voices`)")
            encoded = text.encode()
            self.library.espeak_Synth(encoded, len(encoded) + 1, 0, 0, 0, _CHARS_UTF8, None, None)
            self.library.espeak_Synchronize()
            audio = np.concatenate(self.chunks) if self.chunks else np.zeros(0, np.int16)
            return audio, self.events


_espeak: _Espeak | None = None


def synthesize(text: str, voice: str) -> tuple[np.ndarray, int, list[tuple[float, float, str]]]:
    """
    `text` spoken by espeak-ng `voice` (e.g. "en-us", "fr+m3") → float32 audio, its sampling rate, and every phone
    as `(start_s, end_s, ipa)`, covering the audio from 0 to its end without gaps. Silence before the first phone
    and pauses of at least `MIN_PAUSE_SECONDS` are `sil`; shorter nameless events (and language-switch marks such
    as "(en)") join the phone before them.
    """
    global _espeak
    if _espeak is None:
        _espeak = _Espeak()
    if not text.strip():
        raise ValueError("espeak-ng needs some text to speak")
    samples, events = _espeak.speak(text, voice)
    rate, end = _espeak.sampling_rate, len(samples) / _espeak.sampling_rate
    onsets = [(name, min(sample / rate, end)) for name, sample in events] + [("", end)]
    phones: list[tuple[float, float, str]] = [(0.0, onsets[0][1], SILENCE)] if onsets[0][1] > 0 else []
    for (name, start), (_, stop) in itertools.pairwise(onsets):
        if stop <= start:
            continue
        if not name or name.startswith("("):  # a pause, or a language switch such as "(en)"
            if stop - start < MIN_PAUSE_SECONDS and phones:
                phones[-1] = (phones[-1][0], stop, phones[-1][2])
                continue
            name = SILENCE
        phones.append((start, stop, name))
    return samples.astype(np.float32) / 32768.0, rate, phones
