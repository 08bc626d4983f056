"""Training segments: reproducible per step, and speed perturbation that moves pitch within its range."""

import numpy as np
import pytest

from tests.conftest import sine
from training.dataset import SegmentSampler

RATE, SEGMENT = 16000, 4096


def dominant_frequencies(batch: np.ndarray) -> np.ndarray:
    spectrum = np.abs(np.fft.rfft(batch * np.hanning(batch.shape[1]), axis=1))
    return spectrum.argmax(axis=1) * RATE / batch.shape[1]


def test_a_step_always_draws_the_same_segments() -> None:
    sampler = SegmentSampler([sine(440.0, 2.0, RATE), sine(660.0, 1.0, RATE)], SEGMENT, seed=3)
    np.testing.assert_array_equal(sampler.batch(7, 4).numpy(), sampler.batch(7, 4).numpy())
    assert not np.array_equal(sampler.batch(7, 4).numpy(), sampler.batch(8, 4).numpy())
    assert not np.array_equal(sampler.batch(7, 4).numpy(), sampler.batch(7, 4, process_index=1).numpy())


def test_speed_perturbation_moves_pitch_within_its_range_and_stays_reproducible() -> None:
    tone = [sine(1000.0, 3.0, RATE)]
    plain = dominant_frequencies(SegmentSampler(tone, SEGMENT, seed=0).batch(0, 16).numpy())
    np.testing.assert_allclose(plain, 1000.0, atol=RATE / SEGMENT)
    perturbed_sampler = SegmentSampler(tone, SEGMENT, seed=0, speed_perturbation=0.15)
    batch = perturbed_sampler.batch(0, 16).numpy()
    assert batch.shape == (16, SEGMENT) and np.abs(batch[:, -256:]).max(axis=1).min() > 0.3  # no silent tail
    moved = dominant_frequencies(batch)
    assert moved.min() >= 850 - RATE / SEGMENT and moved.max() <= 1150 + RATE / SEGMENT
    assert moved.max() - moved.min() > 100, moved  # the speeds differ from segment to segment
    np.testing.assert_array_equal(batch, perturbed_sampler.batch(0, 16).numpy())
    with pytest.raises(ValueError, match="speed_perturbation"):
        SegmentSampler(tone, SEGMENT, seed=0, speed_perturbation=1.0)
