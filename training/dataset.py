"""Training data from any folder of recordings: load, check, report, and draw reproducible random segments."""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import librosa
import numpy as np
import torch
from tqdm.auto import tqdm

from melgan_hf.audio import AUDIO_EXTENSIONS, SILENCE_PEAK, AudioError, find_files, load_audio, resample
from melgan_hf.phones import Interval, read_phone_intervals

CLIPPED_LEVEL = 0.999  # |sample| at or above this counts as clipped
TARGET_PEAK = 0.95  # every file is peak-normalised to this level, as in the original MelGAN recipe


@dataclass
class Clip:
    path: Path
    audio: np.ndarray  # mono float32 at the training rate, trimmed and peak-normalised


@dataclass
class DataReport:
    """What the data check found; printed before training and stored in the model card."""

    folder: str
    sampling_rate: int
    used: list[str] = field(default_factory=list)
    skipped: dict[str, str] = field(default_factory=dict)  # file → reason
    total_seconds: float = 0.0
    clipped_samples: int = 0
    total_samples: int = 0

    @property
    def clipped_share(self) -> float:
        return self.clipped_samples / self.total_samples if self.total_samples else 0.0

    def summary(self) -> str:
        lines = [
            f"data: {self.folder}: {len(self.used)} file(s) used, {self.total_seconds / 60:.2f} min at"
            f" {self.sampling_rate} Hz after trimming silence; clipped samples: {self.clipped_share:.3%}",
        ]
        if self.skipped:
            lines.append(f"skipped {len(self.skipped)} file(s):")
            lines.extend(f"  {path}: {reason}" for path, reason in sorted(self.skipped.items()))
        return "\n".join(lines)

    def to_dict(self) -> dict:
        return {
            "folder": self.folder,
            "files_used": len(self.used),
            "files_skipped": len(self.skipped),
            "skipped": self.skipped,
            "minutes": round(self.total_seconds / 60, 3),
            "clipped_share": self.clipped_share,
        }


def _audible_files(
    folder: str | Path,
    report: DataReport,
    description: str,
    show_progress: bool,
    skip_reason: Callable[[Path], str | None] = lambda path: None,
) -> Iterator[tuple[Path, str, np.ndarray]]:
    """
    (path, name relative to `folder`, mono audio at the report's rate) for every audio file below `folder` that
    `skip_reason` lets through (checked before decoding), can be read and is not silent; the others are named in
    the report's `skipped`, and the clipped and total sample counts are added up. What both loaders share.
    """
    folder = Path(folder)
    if not folder.is_dir():
        raise ValueError(f"Data folder {folder} does not exist or is not a folder.")
    files = find_files([folder], AUDIO_EXTENSIONS)
    for path in tqdm(files, desc=description, unit="file", disable=not show_progress):
        name = str(path.relative_to(folder))
        if (reason := skip_reason(path)) is not None:
            report.skipped[name] = reason
            continue
        try:
            audio, _ = load_audio(path, sampling_rate=report.sampling_rate)
        except AudioError as error:
            report.skipped[name] = f"unreadable: {str(error).removeprefix(str(path) + ': ')}"
            continue
        peak = float(np.max(np.abs(audio)))
        if peak < SILENCE_PEAK:
            report.skipped[name] = f"silent (peak {peak:.1e})"
            continue
        report.clipped_samples += int(np.count_nonzero(np.abs(audio) >= CLIPPED_LEVEL))
        report.total_samples += audio.size
        yield path, name, audio


def load_folder(
    folder: str | Path,
    sampling_rate: int,
    min_samples: int,
    trim_top_db: float = 40.0,
    show_progress: bool = True,
) -> tuple[list[Clip], DataReport]:
    """
    Every wav/flac/ogg/mp3/… below `folder` → mono at `sampling_rate`, leading/trailing silence trimmed, peak
    normalised. A file that is corrupt, silent, non-finite or shorter than `min_samples` after trimming is skipped
    and named in the report; it never stops the run.
    """
    report = DataReport(folder=str(folder), sampling_rate=sampling_rate)
    clips: list[Clip] = []
    for path, name, audio in _audible_files(folder, report, "checking data", show_progress):
        trimmed, _ = librosa.effects.trim(audio, top_db=trim_top_db)
        if trimmed.size < min_samples:
            report.skipped[name] = (
                f"too short ({trimmed.size / sampling_rate:.2f} s after trimming silence; need"
                f" {min_samples / sampling_rate:.2f} s)"
            )
            continue
        clips.append(Clip(path, (TARGET_PEAK / np.max(np.abs(trimmed)) * trimmed).astype(np.float32)))
        report.used.append(name)
        report.total_seconds += trimmed.size / sampling_rate
    if not clips:
        raise ValueError(f"No usable audio in {folder}.\n{report.summary()}")
    return clips, report


@dataclass
class LabelledClip:
    path: Path
    audio: np.ndarray  # mono float32 at the training rate, peak-normalised, untrimmed (the labels' timeline)
    intervals: list[Interval]  # (start s, end s, phone class) from the `.phones.tsv` beside the audio


def load_labelled_folder(
    folder: str | Path, sampling_rate: int, show_progress: bool = True
) -> tuple[list[LabelledClip], DataReport]:
    """
    Every audio file below `folder` with phone labels beside it (`NNNN.phones.tsv`) → a `LabelledClip`. Audio without
    labels, unreadable or silent files and malformed label files are skipped and named in the report. Silence is not
    trimmed: the labels' times refer to the file as it is.
    """
    report = DataReport(folder=str(folder), sampling_rate=sampling_rate)
    clips: list[LabelledClip] = []

    def has_labels(path: Path) -> str | None:
        labels = path.with_suffix(".phones.tsv")
        return None if labels.is_file() else f"no phone labels ({labels.name})"

    for path, name, audio in _audible_files(folder, report, "labelled data", show_progress, has_labels):
        try:
            intervals = read_phone_intervals(path.with_suffix(".phones.tsv"))
        except ValueError as error:
            report.skipped[name] = f"unreadable: {error}"
            continue
        peak = float(np.max(np.abs(audio)))
        clips.append(LabelledClip(path, (TARGET_PEAK / peak * audio).astype(np.float32), intervals))
        report.used.append(name)
        report.total_seconds += audio.size / sampling_rate
    if not clips:
        raise ValueError(f"No labelled audio in {folder}.\n{report.summary()}")
    return clips, report


def split_by_file(clips: list[Clip], validation_files: int, folder: str | Path) -> tuple[list[Clip], list[Clip]]:
    """
    Hold out whole files for validation, chosen by a hash of their path below `folder` (stable when files are
    added and when the folder moves or is copied, so a resumed run validates on the same files). With a single
    file, it is used for both (and the report says so), since a split would leave nothing to train on.
    """
    if len(clips) < 2 or validation_files <= 0:
        return clips, clips[:1]
    count = min(validation_files, len(clips) - 1)
    ranked = sorted(clips, key=lambda clip: hashlib.sha1(clip.path.relative_to(folder).as_posix().encode()).hexdigest())
    held_out = {id(clip) for clip in ranked[:count]}
    return [c for c in clips if id(c) not in held_out], [c for c in clips if id(c) in held_out]


class SegmentSampler:
    """
    Random fixed-length segments of arrays (audio `(samples,)` or mels `(frames, mels)`, cut along the first axis),
    drawn with a generator seeded by (seed, step, process). The batch of any step is a pure function of those
    numbers, so a resumed run sees exactly the data an uninterrupted one would, with no data-loader state to save;
    and each process of a multi-GPU run sees different segments.

    `speed_perturbation` p > 0 (audio only): each segment plays at a random speed in [1 - p, 1 + p], resampled so
    that pitch and tempo move together as on a tape: cheap new voices, for speakers the corpus never had.
    """

    def __init__(
        self, sequences: list[np.ndarray], segment_length: int, seed: int, speed_perturbation: float = 0.0
    ) -> None:
        if not 0 <= speed_perturbation < 1:
            raise ValueError(f"speed_perturbation must be in [0, 1), got {speed_perturbation}.")
        self.sequences = sequences
        self.segment_length = segment_length
        self.seed = seed
        self.speed_perturbation = speed_perturbation
        lengths = np.array([len(sequence) for sequence in sequences], dtype=np.float64)
        self.weights = lengths / lengths.sum()  # longer files are drawn more often: uniform over time

    def batch(self, step: int, batch_size: int, process_index: int = 0) -> torch.Tensor:
        return self.draw(step, batch_size, process_index)[0]

    def draw(
        self, step: int, batch_size: int, process_index: int = 0
    ) -> tuple[torch.Tensor, list[tuple[int, int, float]]]:
        """The batch and where each row came from: (sequence index, first source sample, source samples per
        output sample), for targets that must follow the audio (frame labels)."""
        rng = np.random.default_rng([self.seed, step, process_index])
        picks = rng.choice(len(self.sequences), size=batch_size, p=self.weights)
        first = self.sequences[0]
        segments = np.zeros((batch_size, self.segment_length, *first.shape[1:]), dtype=np.float32)
        placements = []
        for row, index in enumerate(picks):
            sequence = self.sequences[index]
            speed = 1.0 + rng.uniform(-1, 1) * self.speed_perturbation if self.speed_perturbation else 1.0
            source_length = round(self.segment_length * speed)  # played `speed` times faster into the segment
            spare = len(sequence) - source_length
            start = int(rng.integers(0, spare + 1)) if spare > 0 else 0
            piece = sequence[start : start + source_length]
            if speed != 1.0:
                piece = resample(piece, source_length, self.segment_length)[: self.segment_length]
            segments[row, : len(piece)] = piece
            placements.append((int(index), start, source_length / self.segment_length))
        return torch.from_numpy(segments), placements


class PrefetchingSampler:
    """
    A `SegmentSampler` whose next batch is drawn in a background thread while the device trains on this one: on a
    GPU the CPU-side cropping and speed perturbation would otherwise leave the device idle for part of every step.
    Exact, because a batch is a pure function of its step: asking for any other step draws that one directly.
    With `background=False` every batch is drawn when asked for (on a CPU the thread would take a core from
    training).
    """

    def __init__(
        self, sampler: SegmentSampler, batch_size: int, process_index: int = 0, background: bool = True
    ) -> None:
        self.sampler, self.batch_size, self.process_index = sampler, batch_size, process_index
        self._pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="prefetch") if background else None
        self._pending: tuple[int, Future[torch.Tensor]] | None = None

    def batch(self, step: int) -> torch.Tensor:
        if self._pending is not None and self._pending[0] == step:
            drawn = self._pending[1].result()
        else:
            drawn = self.sampler.batch(step, self.batch_size, self.process_index)
        if self._pool is not None:
            following = self._pool.submit(self.sampler.batch, step + 1, self.batch_size, self.process_index)
            self._pending = (step + 1, following)
        return drawn
