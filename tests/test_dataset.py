"""Training data: a validation split that moves with the folder, segments reproducible per step, and speed
perturbation that moves pitch within its range."""

import shutil

import numpy as np
import pytest
import torch

from melgan_hf import save_audio
from tests.conftest import sine
from training.dataset import SegmentSampler, load_folder, split_by_file

RATE, SEGMENT = 16000, 4096


def dominant_frequencies(batch: np.ndarray) -> np.ndarray:
    spectrum = np.abs(np.fft.rfft(batch * np.hanning(batch.shape[1]), axis=1))
    return spectrum.argmax(axis=1) * RATE / batch.shape[1]


def test_the_held_out_files_stay_the_same_when_the_folder_moves_and_grows(tmp_path) -> None:
    for index in range(12):
        save_audio(tmp_path / "a" / "speaker" / f"{index:02d}.wav", sine(200.0 + 20 * index, 0.5, RATE), RATE)

    def held_out_names(folder) -> list[str]:
        clips, _ = load_folder(folder, RATE, 1024, show_progress=False)
        return sorted(clip.path.relative_to(folder).as_posix() for clip in split_by_file(clips, 3, folder)[1])

    held_out = held_out_names(tmp_path / "a")
    assert len(held_out) == 3
    shutil.copytree(tmp_path / "a", tmp_path / "elsewhere" / "b")
    assert held_out_names(tmp_path / "elsewhere" / "b") == held_out  # a resumed run on a copied corpus
    save_audio(tmp_path / "a" / "speaker" / "new.wav", sine(900.0, 0.5, RATE), RATE)
    assert set(held_out_names(tmp_path / "a")) - {"speaker/new.wav"} <= set(held_out)


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


def test_prefetching_sampler_draws_the_next_batch_in_the_background_and_the_same_batches() -> None:
    import threading

    from training.dataset import PrefetchingSampler

    sampler = SegmentSampler([sine(440.0, 2.0, RATE), sine(660.0, 1.0, RATE)], SEGMENT, seed=3, speed_perturbation=0.1)
    threads = {}
    draw = sampler.batch

    def recording_batch(step: int, batch_size: int, process_index: int = 0) -> torch.Tensor:
        threads[step] = threading.current_thread().name
        return draw(step, batch_size, process_index)

    sampler.batch = recording_batch
    for background in (True, False):
        threads.clear()
        prefetching = PrefetchingSampler(sampler, 4, process_index=1, background=background)
        for step in (0, 1, 2, 7, 8, 3):  # in order, a jump ahead and one back, as a resume or accumulation does
            assert torch.equal(prefetching.batch(step), draw(step, 4, 1)), (background, step)
        assert threads[1].startswith("prefetch") == background and threads[8].startswith("prefetch") == background
        assert not threads[7].startswith("prefetch")  # not the step after the last one: drawn when asked for
