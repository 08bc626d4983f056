"""Objective measures shared by training validation, tests and (later) `melgan-hf evaluate`."""

from __future__ import annotations

import numpy as np


def mel_spectral_centroid(log_mel: np.ndarray, mel_log: str = "log10", active_share: float = 0.7) -> float:
    """
    Mean spectral centroid, in mel bins, of the loudest `active_share` of the frames of a `(frames, mels)` log-mel:
    a timbre statistic (brightness) that depends little on which notes or words are played.
    """
    power = np.power(10.0, log_mel) if mel_log == "log10" else np.exp(log_mel)
    power = power.astype(np.float64) ** 2
    energy = power.sum(axis=1)
    active = energy >= np.quantile(energy, 1.0 - active_share)
    centroids = (power[active] * np.arange(log_mel.shape[1])).sum(axis=1) / energy[active]
    return float(centroids.mean())


def timbre_shift(source_centroid: float, target_centroid: float, converted_centroid: float) -> float:
    """How far conversion moved the centroid from the source toward the target: 0 = not at all, 1 = all the way."""
    return (source_centroid - converted_centroid) / (source_centroid - target_centroid)
