"""Fundamental frequency per mel frame (WORLD's DIO + StoneMask), cleaned of octave errors, and a voice's log-F0
range: what a voice converter needs to keep the intonation and change the register."""

from __future__ import annotations

import numpy as np
import scipy.signal

F0_FLOOR, F0_CEILING = 60.0, 600.0  # Hz: the speaking range of adults and children


CHUNK_FRAMES, CHUNK_MARGIN_FRAMES = 1024, 32  # long audio is tracked in pieces: DIO's memory grows with the input


def track_pitch(audio: np.ndarray, sampling_rate: int, hop_length: int, num_frames: int | None = None) -> np.ndarray:
    """
    `(samples,)` mono audio → F0 in Hz for each mel frame (frame i centred at `(i + 0.5) * hop_length`), 0 where
    unvoiced. DIO refined by StoneMask, then octave errors (a frame at half or double its neighbours' pitch) folded
    back towards the local median and single voiced frames dropped. Long audio goes through in chunks of
    `CHUNK_FRAMES` with a margin on both sides (DIO's analysis is local), so memory stays bounded.
    """
    audio = np.ascontiguousarray(audio, dtype=np.float64)
    frames = num_frames if num_frames is not None else audio.size // hop_length
    if frames <= 0:
        return np.zeros(0)
    if frames <= CHUNK_FRAMES + 2 * CHUNK_MARGIN_FRAMES:
        return clean_octave_errors(_dio_per_frame(audio, sampling_rate, hop_length, frames))
    pieces = []
    for start in range(0, frames, CHUNK_FRAMES):
        stop = min(start + CHUNK_FRAMES, frames)
        first = max(0, start - CHUNK_MARGIN_FRAMES)
        last = min(frames, stop + CHUNK_MARGIN_FRAMES)
        piece = _dio_per_frame(audio[first * hop_length : last * hop_length], sampling_rate, hop_length, last - first)
        pieces.append(piece[start - first : stop - first])
    return clean_octave_errors(np.concatenate(pieces))


def _dio_per_frame(audio: np.ndarray, sampling_rate: int, hop_length: int, frames: int) -> np.ndarray:
    """Raw DIO + StoneMask F0 on the mel frames of `audio` (float64), before any clean-up."""
    import pyworld  # pyworld-prebuilt, a core dependency; imported here so that `import melgan_hf` stays light

    period_ms = hop_length / sampling_rate * 1000
    f0, times = pyworld.dio(audio, sampling_rate, f0_floor=F0_FLOOR, f0_ceil=F0_CEILING, frame_period=period_ms)
    f0 = pyworld.stonemask(audio, f0, times, sampling_rate)
    # DIO's frame j sits at j * hop, the mel's frame i at (i + 0.5) * hop: between DIO's frames i and i + 1.
    left = f0[np.clip(np.arange(frames), 0, len(f0) - 1)]
    right = f0[np.clip(np.arange(frames) + 1, 0, len(f0) - 1)]
    return np.where((left > 0) & (right > 0), np.sqrt(left * right), np.maximum(left, right))


def clean_octave_errors(f0: np.ndarray) -> np.ndarray:
    """Fold voiced frames that sit about an octave (or two) off the local median back onto it; drop voiced runs
    of a single frame (DIO's usual false alarms in fricatives)."""
    f0 = np.array(f0, dtype=np.float64)
    voiced = f0 > 0
    if voiced.sum() < 3:
        return np.where(voiced, f0, 0.0)
    log_f0 = np.log2(np.where(voiced, f0, 1.0))
    # Local reference: median over the surrounding voiced frames (±8 frames, ~130 ms at 16 kHz / hop 256).
    filled = np.interp(np.arange(f0.size), np.flatnonzero(voiced), log_f0[voiced])
    reference = scipy.signal.medfilt(filled, kernel_size=17)
    octaves = np.round(log_f0 - reference)
    log_f0 = np.where(voiced, log_f0 - octaves, 0.0)
    isolated = voiced & ~np.roll(voiced, 1) & ~np.roll(voiced, -1)
    voiced &= ~isolated
    return np.where(voiced, np.exp2(log_f0), 0.0)


def log_f0_statistics(f0: np.ndarray) -> tuple[float, float] | None:
    """(mean, standard deviation) of log-F0 over the voiced frames, or None with fewer than 10 voiced frames."""
    voiced = f0[f0 > 0]
    if voiced.size < 10:
        return None
    log_f0 = np.log(voiced)
    return float(log_f0.mean()), float(max(log_f0.std(), 1e-3))


def pitch_features(f0: np.ndarray | None, frames: int, statistics: tuple[float, float] | None) -> np.ndarray:
    """`(frames, 2)` float32: log-F0 z-scored in its own speaker's range (`statistics`: that speaker's
    `log_f0_statistics`, so a low voice's high notes read like the target's high notes) and voicing (1 voiced, 0 not).
    Zeros without pitch; frames beyond `f0` are unvoiced."""
    features = np.zeros((frames, 2), dtype=np.float32)
    if f0 is None or statistics is None:
        return features
    f0 = np.asarray(f0, dtype=np.float64)[:frames]
    voiced = f0 > 0
    features[: f0.size, 0] = np.where(voiced, (np.log(np.where(voiced, f0, 1.0)) - statistics[0]) / statistics[1], 0.0)
    features[: f0.size, 1] = voiced
    return features
