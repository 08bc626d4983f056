"""
Microphone-like and speaker-like variety for training data that has little of it (synthetic voices, studio
prompts): coloured noise, room reverberation, vocal-tract-length warping and WORLD resynthesis in other registers;
and `office_microphone`, the fixed degradation that validation and `melgan-hf evaluate convert` test robustness
with. Each takes its random draws from a `numpy` generator the caller seeds (or, for `world_voices`, its scales), so
a resumed run augments exactly as an uninterrupted one would. Speed (tempo with pitch) is `SegmentSampler`'s
`speed_perturbation` in `training/`.
"""

from __future__ import annotations

import librosa
import numpy as np
import torch


def add_noise(audio: torch.Tensor, rng: np.random.Generator, snr_db: tuple[float, float], share: float) -> torch.Tensor:
    """
    `(batch, samples)` → the same with noise added to a `share` of the rows, at a signal-to-noise ratio drawn from
    `snr_db`; the noise colour is drawn too, from white (fan hiss) to brown (rumble): spectrum ∝ f^-exponent with the
    exponent in [0, 2].
    """
    noisy = audio.clone()
    samples = audio.shape[-1]
    frequencies = torch.fft.rfftfreq(samples, dtype=audio.dtype).clamp(min=1.0 / samples)
    for row in np.flatnonzero(rng.random(audio.shape[0]) < share):
        exponent = rng.uniform(0.0, 2.0)
        white = torch.from_numpy(rng.standard_normal(samples).astype(np.float32)).to(audio.dtype)
        noise = torch.fft.irfft(torch.fft.rfft(white) * frequencies.pow(-exponent / 2), n=samples)
        signal_power = audio[row].square().mean().clamp(min=1e-10)
        snr = rng.uniform(*snr_db)
        scale = (signal_power / noise.square().mean().clamp(min=1e-20) / 10 ** (snr / 10)).sqrt()
        noisy[row] = audio[row] + scale * noise
    return noisy


def synthetic_room_response(rng: np.random.Generator, sampling_rate: int, rt60: float) -> np.ndarray:
    """An impulse response: the direct sound, then exponentially decaying noise (−60 dB after `rt60` seconds) at a
    direct-to-reverberant energy ratio drawn from −3 to 12 dB (a lecture hall to a desk microphone), normalised to
    unit energy. Statistical reverberation: enough to teach a classifier that a room smears frames, without a library
    of recorded rooms."""
    length = max(2, int(rt60 * sampling_rate))
    time = np.arange(length) / sampling_rate
    tail = rng.standard_normal(length) * np.exp(-6.9 * time / rt60)  # ln(1000) ≈ 6.9: −60 dB at rt60
    tail[: int(0.002 * sampling_rate) + 1] = 0.0  # the first reflections arrive after a couple of milliseconds
    direct_to_reverberant_db = rng.uniform(-3.0, 12.0)
    tail *= np.sqrt(10 ** (-direct_to_reverberant_db / 10) / max(float(np.sum(tail**2)), 1e-12))
    tail[0] = 1.0
    return (tail / np.linalg.norm(tail)).astype(np.float32)


def reverberate(
    audio: torch.Tensor, rng: np.random.Generator, sampling_rate: int, rt60: tuple[float, float], share: float
) -> torch.Tensor:
    """`(batch, samples)` → a `share` of the rows convolved (FFT) with a synthetic room of a drawn RT60, cut back to
    the input length (the frame labels stay aligned: the direct sound is at lag 0)."""
    rows = np.flatnonzero(rng.random(audio.shape[0]) < share)
    if rows.size == 0:
        return audio
    result = audio.clone()
    samples = audio.shape[-1]
    for row in rows:
        response = torch.from_numpy(synthetic_room_response(rng, sampling_rate, rng.uniform(*rt60))).to(audio.dtype)
        size = samples + response.shape[0] - 1
        wet = torch.fft.irfft(torch.fft.rfft(audio[row], n=size) * torch.fft.rfft(response, n=size), n=size)[:samples]
        result[row] = wet * (audio[row].abs().max() / wet.abs().max().clamp(min=1e-8))
    return result


OFFICE_RT60 = 0.4  # seconds: a furnished office
OFFICE_SNR_DB = 15.0  # a laptop fan and a street outside


def office_microphone(audio: np.ndarray, sampling_rate: int, seed: int | list[int]) -> np.ndarray:
    """Mono audio as a laptop microphone in an office hears it: a room of RT60 `OFFICE_RT60` and coloured noise at
    `OFFICE_SNR_DB`, drawn from `seed`, so every run and every system gets the same degraded copy."""
    rng = np.random.default_rng(seed)
    batch = torch.from_numpy(np.asarray(audio, dtype=np.float32))[None]
    wet = reverberate(batch, rng, sampling_rate, (OFFICE_RT60, OFFICE_RT60), 1.0)
    return add_noise(wet, rng, (OFFICE_SNR_DB, OFFICE_SNR_DB), 1.0)[0].numpy()


def _inverse_warp(frequencies: torch.Tensor, alpha: float, top: float) -> torch.Tensor:
    """Where each output frequency reads the input under the vocal-tract warp α (see `warp_vocal_tract`)."""
    boundary = 0.8 * top * min(1.0, 1.0 / alpha)
    return torch.where(
        frequencies <= alpha * boundary,
        frequencies / alpha,
        boundary + (frequencies - alpha * boundary) * (top - boundary) / (top - alpha * boundary),
    ).clamp(0, top)


def _interpolate_last_axis(values: torch.Tensor, positions: torch.Tensor) -> torch.Tensor:
    """`values[..., positions]` at fractional positions in [0, last], linearly interpolated."""
    low = positions.floor().long().clamp(max=values.shape[-1] - 2)
    fraction = positions - low
    return values[..., low] * (1 - fraction) + values[..., low + 1] * fraction


def warp_vocal_tract(magnitude: torch.Tensor, factors: torch.Tensor) -> torch.Tensor:
    """
    Vocal-tract-length perturbation (Jaitly & Hinton 2013) on `(batch, frames, bins)` STFT magnitudes: each row's
    frequency axis is stretched by its factor α (α > 1 moves formants up, as a shorter vocal tract does), piecewise
    linearly so that the band edge stays fixed: f ↦ αf below a boundary f₀ = 0.8·f_max·min(1, 1/α), then a straight
    line to f_max. Applied before the mel filters, so one STFT serves the warped and the plain mel.
    """
    top = magnitude.shape[-1] - 1
    grid = torch.arange(top + 1, dtype=magnitude.dtype, device=magnitude.device)
    rows = [
        _interpolate_last_axis(row, _inverse_warp(grid, float(alpha), top))
        for row, alpha in zip(magnitude, factors, strict=True)
    ]
    return torch.stack(rows)


def warp_log_mel(log_mel: torch.Tensor, alpha: float, fmin: float, fmax: float) -> torch.Tensor:
    """
    The same warp on `(..., mels)` log-mels (slaney mel scale from `fmin` to `fmax`, the front end's): each bin reads
    the input at the inverse warp of its centre frequency, interpolated between the bins around it. For models that
    get a log-mel, not the STFT (the converters' test-time speaker normalisation, `speaker_normalised`).
    """
    bins = log_mel.shape[-1]
    centres = librosa.mel_frequencies(bins + 2, fmin=fmin, fmax=fmax, htk=False)[1:-1]
    sources = _inverse_warp(torch.from_numpy(centres), alpha, fmax).numpy()
    positions = np.interp(sources, centres, np.arange(bins))  # below the first centre: the first bin
    return _interpolate_last_axis(log_mel, torch.from_numpy(positions).to(log_mel))


def world_voices(
    audio: np.ndarray, sampling_rate: int, scales: list[tuple[float, float]], frame_period_ms: float = 5.0
) -> list[np.ndarray]:
    """
    Mono audio → one copy per `(f0_scale, formant_scale)`, resynthesised by the WORLD vocoder with the pitch
    multiplied by `f0_scale` and the spectral envelope stretched by `formant_scale` (`warp_vocal_tract`'s warp):
    the same words, timing and intonation in another register and vocal tract, e.g. (0.55, 0.85) for a man's voice
    from a woman's. Each copy has the input's length and sample for sample its timing, so frame targets stay aligned.
    One analysis (DIO + StoneMask, CheapTrick, D4C: ~0.06 s of CPU per second of 16 kHz audio) serves every copy.
    """
    import pyworld  # a core dependency (pitch tracking); imported here so that `import melgan_hf` stays light

    signal = np.ascontiguousarray(audio, dtype=np.float64)
    f0, times = pyworld.dio(signal, sampling_rate, frame_period=frame_period_ms)
    f0 = pyworld.stonemask(signal, f0, times, sampling_rate)
    envelope = pyworld.cheaptrick(signal, f0, times, sampling_rate)
    aperiodicity = pyworld.d4c(signal, f0, times, sampling_rate)
    copies = []
    for f0_scale, formant_scale in scales:
        warped = warp_vocal_tract(torch.from_numpy(envelope)[None], torch.tensor([formant_scale]))[0].numpy()
        voice = pyworld.synthesize(
            f0 * f0_scale, np.ascontiguousarray(warped), aperiodicity, sampling_rate, frame_period_ms
        )[: signal.size]
        voice = np.pad(voice, (0, signal.size - voice.size))
        copies.append((voice * (np.abs(signal).max() / max(np.abs(voice).max(), 1e-8))).astype(np.float32))
    return copies
