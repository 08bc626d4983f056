"""The one log-mel implementation: frame counts, frequency placement, presets, batching, validation."""

import warnings

import librosa
import numpy as np
import pytest
import torch

from melgan_hf import MelGANConfig, MelGANFeatureExtractor
from tests.conftest import SAMPLING_RATE, sine


def test_one_second_1khz_sine_frames_and_loudest_bin() -> None:
    extractor = MelGANFeatureExtractor()
    features = extractor(sine(1000.0, 1.0), sampling_rate=SAMPLING_RATE, return_tensors="np")
    mel = features["input_features"][0]
    assert mel.shape == (SAMPLING_RATE // 256, 80)  # 86 frames: one per hop, no centring
    loudest = int(mel.mean(axis=0).argmax())
    # The loudest mel band is the one whose triangular filter is strongest at 1 kHz.
    fft_frequencies = librosa.fft_frequencies(sr=SAMPLING_RATE, n_fft=1024)
    bin_1khz = int(np.argmin(np.abs(fft_frequencies - 1000.0)))
    assert loudest == int(extractor.mel_filters[:, bin_1khz].argmax())
    low, high = librosa.mel_frequencies(82, fmin=0.0, fmax=SAMPLING_RATE / 2)[[loudest, loudest + 2]]
    assert low < 1000.0 < high


def test_matches_an_independent_librosa_computation() -> None:
    audio = np.random.default_rng(1).normal(0, 0.1, 5000).astype(np.float32)
    extractor = MelGANFeatureExtractor()
    ours = extractor(audio, sampling_rate=SAMPLING_RATE)["input_features"][0]
    padded = np.pad(audio, (384, 384), mode="reflect")
    magnitude = np.abs(librosa.stft(padded, n_fft=1024, hop_length=256, win_length=1024, center=False))
    mel = librosa.filters.mel(sr=SAMPLING_RATE, n_fft=1024, n_mels=80) @ magnitude
    reference = np.log10(np.maximum(mel, 1e-5)).T
    assert ours.shape == reference.shape
    np.testing.assert_allclose(ours, reference, atol=1e-4)


def test_presets_change_log_base_and_band_limit() -> None:
    audio = sine(440.0, 0.5)
    melgan = MelGANFeatureExtractor.from_preset("melgan")(audio, sampling_rate=SAMPLING_RATE)["input_features"][0]
    hifigan = MelGANFeatureExtractor.from_preset("hifigan")(audio, sampling_rate=SAMPLING_RATE)["input_features"][0]
    assert MelGANFeatureExtractor.from_preset("hifigan").fmax == 8000.0
    # Same band edges below 8 kHz would give ln = log10 * ln(10); the band limit moves the filters, so only the
    # floor (silence) is comparable exactly.
    assert melgan.min() == pytest.approx(-5.0) and hifigan.min() == pytest.approx(np.log(1e-5), rel=1e-6)
    speech = MelGANFeatureExtractor.from_preset("speech16k")
    frames = speech(sine(440.0, 1.0, 16000), sampling_rate=16000)["input_features"].shape[1]
    assert speech.sampling_rate == 16000 and frames == 16000 // 256


def test_batch_is_padded_with_silence_and_masked() -> None:
    extractor = MelGANFeatureExtractor()
    long, short = sine(300.0, 0.5), sine(300.0, 0.2)
    features = extractor([long, short], sampling_rate=SAMPLING_RATE, return_tensors="pt")
    frames_long, frames_short = long.size // 256, short.size // 256
    assert features["input_features"].shape == (2, frames_long, 80)
    assert features["padding_mask"].sum(dim=1).tolist() == [frames_long, frames_short]
    assert torch.all(features["input_features"][1, frames_short:] == extractor.padding_value)
    single = extractor(short, sampling_rate=SAMPLING_RATE, return_tensors="pt")["input_features"][0]
    torch.testing.assert_close(features["input_features"][1, :frames_short], single)


def test_wrong_sampling_rate_raises_and_missing_rate_warns() -> None:
    extractor = MelGANFeatureExtractor()
    with pytest.raises(ValueError, match="16000 Hz given to a feature extractor for 22050 Hz"):
        extractor(sine(440.0, 0.5, 16000), sampling_rate=16000)
    with pytest.warns(UserWarning, match="No sampling_rate passed"):
        extractor(sine(440.0, 0.5))
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        extractor(sine(440.0, 0.5), sampling_rate=SAMPLING_RATE)


@pytest.mark.parametrize(
    ("audio", "message"),
    [
        (np.zeros(0, dtype=np.float32), "empty"),
        (np.array([0.0, np.nan] * 600, dtype=np.float32), "NaN"),
        (np.zeros((2, 3, 400), dtype=np.float32), "1-D .* or 2-D"),
        (np.zeros(100, dtype=np.float32), "shorter than one hop"),
        ([], "batch is empty"),
    ],
)
def test_bad_audio_is_rejected_with_a_message(audio, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        MelGANFeatureExtractor()(audio, sampling_rate=SAMPLING_RATE)


def test_short_clip_between_one_hop_and_the_reflect_pad_still_works() -> None:
    mel = MelGANFeatureExtractor()(sine(1000.0, 300 / SAMPLING_RATE), sampling_rate=SAMPLING_RATE)
    assert mel["input_features"].shape == (1, 1, 80)


def test_save_and_load_round_trip(tmp_path) -> None:
    extractor = MelGANFeatureExtractor.from_preset("hifigan")
    extractor.save_pretrained(tmp_path)
    assert (tmp_path / "preprocessor_config.json").is_file()
    loaded = MelGANFeatureExtractor.from_pretrained(tmp_path)
    assert loaded.audio_fields == extractor.audio_fields
    audio = sine(500.0, 0.3)
    np.testing.assert_array_equal(
        loaded(audio, sampling_rate=SAMPLING_RATE)["input_features"],
        extractor(audio, sampling_rate=SAMPLING_RATE)["input_features"],
    )


def test_from_config_matches_the_models_front_end() -> None:
    config = MelGANConfig.from_preset("speech16k")
    extractor = MelGANFeatureExtractor.from_config(config)
    assert all(getattr(config, key) == value for key, value in extractor.audio_fields.items())


def test_invalid_extractor_settings_fail_like_the_config() -> None:
    with pytest.raises(ValueError, match=r"fmax \(9000\) must be above fmin"):
        MelGANFeatureExtractor(sampling_rate=16000, fmax=9000)


def test_mel_spectrogram_is_differentiable() -> None:
    waveform = torch.from_numpy(sine(440.0, 0.2)).requires_grad_()
    MelGANFeatureExtractor().mel_spectrogram(waveform).mean().backward()
    assert waveform.grad is not None and torch.isfinite(waveform.grad).all() and waveform.grad.abs().sum() > 0


@pytest.mark.parametrize("num_samples", [256 * 10, 256 * 10 + 77, 256 * 37 + 5])
def test_chunked_mel_equals_one_shot(num_samples: int) -> None:
    """Long audio is analysed a few frames at a time; every chunk boundary must give the one-shot frames."""
    extractor = MelGANFeatureExtractor()
    audio = torch.from_numpy(np.random.default_rng(num_samples).normal(0, 0.1, num_samples).astype(np.float32))
    one_shot = extractor.mel_spectrogram(audio)
    for chunk_frames in (1, 3, 8, 10):
        chunked = extractor.mel_spectrogram(audio, chunk_frames=chunk_frames)
        assert chunked.shape == one_shot.shape
        torch.testing.assert_close(chunked, one_shot, atol=1e-5, rtol=0)


@pytest.mark.parametrize(
    "front_end", [{"mel_preset": "speech16k"}, {"n_fft": 1024, "win_length": 800, "sampling_rate": 16000}]
)
def test_inverse_spectrogram_gives_back_every_sample_of_the_complex_spectrogram(front_end: dict) -> None:
    """The iSTFT in the mel's own framing: frames * hop samples out, equal to the audio the STFT came from."""
    preset = front_end.pop("mel_preset", None)
    features = MelGANFeatureExtractor.from_preset(preset) if preset else MelGANFeatureExtractor(**front_end)
    hop = features.hop_length
    audio = torch.from_numpy(np.random.default_rng(0).uniform(-0.5, 0.5, (2, 37 * hop + 11)).astype(np.float32))
    spectrum = features.complex_spectrogram(audio)
    assert spectrum.shape == (2, 37, features.n_fft // 2 + 1) and spectrum.is_complex()
    torch.testing.assert_close(spectrum.abs(), features.magnitude_spectrogram(audio))
    rebuilt = features.inverse_spectrogram(spectrum)
    assert rebuilt.shape == (2, 37 * hop)
    torch.testing.assert_close(rebuilt, audio[:, : 37 * hop], atol=1e-5, rtol=0)
