"""load_audio / save_audio: every format and rate in, and a clear error naming the file for every bad case."""

import numpy as np
import pytest
import soundfile as sf

from melgan_hf import AudioError, load_audio, save_audio
from melgan_hf.audio import find_files, to_mono_float32
from tests.conftest import sine


@pytest.mark.parametrize(("suffix", "tolerance"), [(".wav", 1e-4), (".flac", 1e-4), (".ogg", 0.05), (".mp3", 0.1)])
def test_formats_round_trip(tmp_path, suffix: str, tolerance: float) -> None:
    tone = sine(440.0, 1.0, 16000)
    path = save_audio(tmp_path / f"tone{suffix}", tone, 16000)
    audio, rate = load_audio(path)
    assert rate == 16000 and audio.dtype == np.float32 and audio.ndim == 1
    assert abs(audio.size - tone.size) < 2000  # lossy codecs add priming samples
    rms = lambda x: float(np.sqrt(np.mean(x**2)))  # noqa: E731
    assert rms(audio) == pytest.approx(rms(tone), abs=tolerance)


def test_stereo_44k_is_mixed_down_and_resampled(tmp_path) -> None:
    left, right = sine(440.0, 1.0, 44100), sine(440.0, 1.0, 44100, amplitude=0.1)
    sf.write(tmp_path / "stereo.wav", np.stack([left, right], axis=1), 44100)
    audio, rate = load_audio(tmp_path / "stereo.wav", sampling_rate=22050)
    assert rate == 22050 and audio.shape == (22050,)
    assert np.sqrt(np.mean(audio**2)) == pytest.approx(0.3 / np.sqrt(2), rel=0.02)


def test_8k_flac_is_upsampled(tmp_path) -> None:
    sf.write(tmp_path / "low.flac", sine(300.0, 0.5, 8000), 8000)
    audio, rate = load_audio(tmp_path / "low.flac", sampling_rate=22050)
    assert rate == 22050 and audio.size == 11025


def _write_nan_wav(path) -> None:
    samples = sine(440.0, 0.1)
    samples[100] = np.nan
    sf.write(path, samples, 22050, subtype="FLOAT")


def _write_empty_wav(path) -> None:
    sf.write(path, np.zeros(0, dtype=np.float32), 22050)


@pytest.mark.parametrize(
    ("make", "name", "message"),
    [
        (None, "missing.wav", "file not found"),
        (lambda p: p.mkdir(), "folder.wav", "not a file"),
        (lambda p: p.write_text("this is a text file, not audio\n" * 20), "notes.wav", "not a readable audio file"),
        (lambda p: p.write_bytes(b"RIFF\x24\x00\x00\x00WAVEfmt " + bytes(8)), "truncated.wav", "not a readable audio"),
        (lambda p: p.write_bytes(np.random.default_rng(0).bytes(4096)), "noise.flac", "not a readable audio file"),
        (lambda p: p.write_bytes(b""), "zero-bytes.mp3", "not a readable audio file"),
        (_write_empty_wav, "empty.wav", "contains no samples"),
        (_write_nan_wav, "nan.wav", "NaN or infinite"),
    ],
)
def test_bad_files_raise_naming_file_and_problem(tmp_path, make, name: str, message: str) -> None:
    path = tmp_path / name
    if make:
        make(path)
    with pytest.raises(AudioError, match=message) as error:
        load_audio(path)
    assert name in str(error.value)
    assert isinstance(error.value, ValueError)


def test_huge_file_is_refused_before_decoding(tmp_path) -> None:
    sf.write(tmp_path / "long.wav", np.zeros(22050 * 5, dtype=np.float32), 22050)
    with pytest.raises(AudioError, match=r"long.wav: 5.0 s long, over the limit of 2.0 s"):
        load_audio(tmp_path / "long.wav", max_duration=2.0)


def test_silence_is_valid_audio(tmp_path) -> None:
    sf.write(tmp_path / "silence.wav", np.zeros(4000, dtype=np.float32), 16000)
    audio, _ = load_audio(tmp_path / "silence.wav")
    assert audio.size == 4000 and not audio.any()


def test_integer_pcm_arrays_are_scaled_and_mixed() -> None:
    pcm = np.array([[32767, -32768], [0, 0], [16384, 16384]], dtype=np.int16)
    audio = to_mono_float32(pcm)
    np.testing.assert_allclose(audio, [-0.5 / 32768, 0.0, 0.5], atol=1e-6)
    with pytest.raises(AudioError, match="no samples"):
        to_mono_float32(np.zeros((0,), dtype=np.float32))


def test_save_audio_is_atomic_and_clips(tmp_path) -> None:
    path = save_audio(tmp_path / "sub" / "loud.wav", np.array([2.0, -2.0, 0.5], dtype=np.float32), 16000)
    audio, _ = load_audio(path)
    np.testing.assert_allclose(audio, [1.0, -1.0, 0.5], atol=1e-4)
    with pytest.raises(AudioError, match="NaN"):
        save_audio(tmp_path / "bad.wav", np.array([np.nan, 0.0], dtype=np.float32), 16000)
    assert sorted(p.name for p in tmp_path.rglob("*") if p.is_file()) == ["loud.wav"]


def test_find_files_recurses_folders_and_keeps_named_files(tmp_path) -> None:
    (tmp_path / "a" / "b").mkdir(parents=True)
    for name in ("a/one.wav", "a/b/two.FLAC", "a/skip.txt", "three.npy"):
        (tmp_path / name).write_bytes(b"")
    found = find_files([tmp_path / "a", tmp_path / "three.npy"], (".wav", ".flac"))
    assert [p.relative_to(tmp_path).as_posix() for p in found] == ["a/b/two.FLAC", "a/one.wav", "three.npy"]
    # One folder, as a str or a Path, is one input (not a sequence of characters).
    assert find_files(str(tmp_path / "a"), (".wav", ".flac")) == find_files(tmp_path / "a", (".wav", ".flac"))
    assert len(find_files(str(tmp_path / "a"), (".wav", ".flac"))) == 2


def test_synthetic_melody_stays_finite_for_long_durations() -> None:
    """Each note's envelope is evaluated over the whole clip; before the note starts it must not overflow."""
    from melgan_hf.audio import synthetic_melody

    melody = synthetic_melody(8000, 600.0)
    assert melody.size == 8000 * 600 and np.isfinite(melody).all()
    assert np.abs(melody).max() == pytest.approx(0.5, abs=1e-3)
