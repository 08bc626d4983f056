"""Audio in and out: every file the project reads goes through `load_audio`, so bad input fails the same clear way."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

import librosa
import numpy as np
import soundfile as sf

AUDIO_EXTENSIONS = (".wav", ".flac", ".ogg", ".mp3", ".aiff", ".aif", ".au")
SILENCE_PEAK = 1e-3  # peak amplitude below which audio is treated as silent (-60 dBFS)


class AudioError(ValueError):
    """A file or array that cannot be used as audio; the message names the file and the problem."""


def to_mono_float32(audio: np.ndarray, source: str = "audio") -> np.ndarray:
    """
    Mono float32 in [-1, 1] from `(samples,)` or `(samples, channels)` audio, float or integer PCM (as Gradio's
    microphone delivers it). Raises `AudioError` on empty, non-finite or non-numeric input.
    """
    audio = np.asarray(audio)
    if not np.issubdtype(audio.dtype, np.number):
        raise AudioError(f"{source}: samples must be numbers, got dtype {audio.dtype}.")
    if audio.size == 0:
        raise AudioError(f"{source}: contains no samples (empty audio).")
    if np.issubdtype(audio.dtype, np.integer):
        audio = audio.astype(np.float32) / float(np.iinfo(audio.dtype).max + 1)
    if audio.ndim == 2:
        # Channels are the short axis: (samples, channels) from files, sometimes (channels, samples) from arrays.
        channel_axis = 1 if audio.shape[1] <= audio.shape[0] else 0
        audio = audio.mean(axis=channel_axis)
    if audio.ndim != 1:
        raise AudioError(f"{source}: expected (samples,) or (samples, channels) audio, got shape {audio.shape}.")
    audio = audio.astype(np.float32, copy=False)
    if not np.all(np.isfinite(audio)):
        raise AudioError(f"{source}: contains NaN or infinite samples.")
    return audio


def require_audible(audio: np.ndarray, source: str = "audio") -> np.ndarray:
    """`audio` unchanged, or `AudioError` if its peak is below -60 dBFS: silence converts to nothing useful."""
    peak = float(np.max(np.abs(audio))) if audio.size else 0.0
    if peak < SILENCE_PEAK:
        raise AudioError(f"{source}: silent (peak {peak:.1e}, below {SILENCE_PEAK:.0e}).")
    return audio


def resample(audio: np.ndarray, orig_sr: int, target_sr: int) -> np.ndarray:
    """High-quality resampling (soxr through librosa); a no-op at equal rates."""
    if orig_sr == target_sr:
        return audio
    return librosa.resample(audio, orig_sr=orig_sr, target_sr=target_sr, res_type="soxr_hq").astype(np.float32)


def load_audio(
    path: str | os.PathLike,
    sampling_rate: int | None = None,
    *,
    max_duration: float | None = None,
) -> tuple[np.ndarray, int]:
    """
    Read wav/flac/ogg/mp3/… at any rate and channel count → `(mono float32 samples, rate)`; resampled to
    `sampling_rate` when given. `max_duration` (seconds) refuses huge files before decoding them.
    Raises `AudioError` (a `ValueError`) naming the file for a missing, unreadable, corrupt, empty or non-finite file.
    """
    path = Path(path)
    if not path.exists():
        raise AudioError(f"{path}: file not found.")
    if not path.is_file():
        raise AudioError(f"{path}: not a file.")
    try:
        info = sf.info(str(path))
        if max_duration is not None and info.frames > max_duration * info.samplerate:
            raise AudioError(
                f"{path}: {info.frames / info.samplerate:.1f} s long, over the limit of {max_duration:.1f} s."
            )
        audio, file_rate = sf.read(str(path), dtype="float32", always_2d=True)
    except AudioError:
        raise
    except (sf.LibsndfileError, RuntimeError, TypeError, ValueError) as error:
        raise AudioError(f"{path}: not a readable audio file (corrupt or unsupported format): {error}") from error
    if file_rate <= 0:
        raise AudioError(f"{path}: invalid sample rate {file_rate}.")
    audio = to_mono_float32(audio, source=str(path))
    if sampling_rate is not None:
        audio = resample(audio, file_rate, sampling_rate)
        file_rate = sampling_rate
    return audio, int(file_rate)


def save_audio(path: str | os.PathLike, audio: np.ndarray, sampling_rate: int) -> Path:
    """
    Write mono audio (16-bit PCM for wav/flac, the codec's default otherwise), format from the extension.
    Written to a temporary file and renamed, so a failure never leaves a half-written file behind.
    """
    path = Path(path)
    audio = np.clip(to_mono_float32(audio, source=str(path)), -1.0, 1.0)
    suffix = path.suffix.lower()
    subtype = "PCM_16" if suffix in (".wav", ".flac") else None
    path.parent.mkdir(parents=True, exist_ok=True)
    handle, temporary = tempfile.mkstemp(suffix=suffix, dir=path.parent, prefix=f".{path.stem}.")
    os.close(handle)
    try:
        sf.write(temporary, audio, sampling_rate, subtype=subtype)
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise
    return path


def synthetic_melody(
    sampling_rate: int,
    seconds: float,
    notes: tuple[float, ...] = (220.0, 277.18, 329.63, 440.0, 329.63, 277.18),
    harmonics: int = 5,
    rolloff: float = 1.0,
) -> np.ndarray:
    """
    Harmonic notes (fundamentals in Hz, equal lengths) with vibrato and decaying envelopes, peak 0.5: test audio
    for demos, smoke tests and synthetic corpora. `rolloff` sets the timbre: harmonic k has amplitude 1 / k**rolloff
    (small = bright, large = dark).
    """
    time = np.arange(int(sampling_rate * seconds)) / sampling_rate
    note_length = seconds / len(notes)
    signal = np.zeros_like(time)
    for index, frequency in enumerate(notes):
        local = time - index * note_length
        active = (local >= 0) & (local < note_length)
        phase = 2 * np.pi * frequency * local + 0.3 * np.sin(2 * np.pi * 5.5 * local)
        partials = sum(
            np.sin(k * phase) / k**rolloff for k in range(1, harmonics + 1) if k * frequency < sampling_rate / 2
        )
        signal += np.exp(-3.0 * np.clip(local, 0.0, None)) * active * partials  # clip: no overflow before a note
    return (0.5 * signal / max(np.max(np.abs(signal)), 1e-9)).astype(np.float32)


def find_files(inputs: str | os.PathLike | list[str | os.PathLike], extensions: tuple[str, ...]) -> list[Path]:
    """Files named directly plus files with `extensions` found recursively in named folders, sorted per folder."""
    if isinstance(inputs, (str, os.PathLike)):  # one path, not a sequence of its characters
        inputs = [inputs]
    found: list[Path] = []
    for item in map(Path, inputs):
        if item.is_dir():
            found.extend(sorted(p for p in item.rglob("*") if p.is_file() and p.suffix.lower() in extensions))
        else:
            found.append(item)
    return found


__all__ = [
    "AUDIO_EXTENSIONS",
    "SILENCE_PEAK",
    "AudioError",
    "find_files",
    "load_audio",
    "require_audible",
    "resample",
    "save_audio",
    "synthetic_melody",
    "to_mono_float32",
]
