"""The amplitude refiner and the refined-amplitude Griffin-Lim baseline: front-end maths, save/load, training, CLI."""

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
import torch
from transformers import AutoModel

from melgan_hf import GriffinLimVocoder, MelAmplitudeRefiner, MelAmplitudeRefinerConfig, MelGANFeatureExtractor
from melgan_hf.audio import synthetic_melody
from melgan_hf.cli import main
from melgan_hf.shipped import shipped_refiner_for

RATE = 16000
REPO = Path(__file__).resolve().parents[1]


@pytest.fixture
def features() -> MelGANFeatureExtractor:
    return MelGANFeatureExtractor.from_preset("speech16k")


@pytest.fixture
def tiny_refiner() -> MelAmplitudeRefiner:
    torch.manual_seed(0)
    return MelAmplitudeRefiner(MelAmplitudeRefinerConfig.from_preset("speech16k", hidden_channels=16, dilations=[1, 2]))


def melody_tensor(seconds: float = 1.0, **kwargs) -> torch.Tensor:
    return torch.from_numpy(synthetic_melody(RATE, seconds, **kwargs))


def test_magnitude_spectrogram_is_what_the_mel_is_made_of(features) -> None:
    audio = melody_tensor()
    magnitude = features.magnitude_spectrogram(audio)
    assert magnitude.shape == (1, RATE // features.hop_length, features.n_fft // 2 + 1)
    remade = features.log_scale(magnitude @ torch.from_numpy(features.mel_filters).T)
    torch.testing.assert_close(remade, features.mel_spectrogram(audio), atol=1e-4, rtol=0)
    torch.testing.assert_close(
        features.log_mel_from_magnitude(magnitude), features.mel_spectrogram(audio), atol=0, rtol=0
    )


def test_pseudo_inverse_amplitude_gives_back_the_mel_it_came_from(features) -> None:
    mel = features.mel_spectrogram(melody_tensor())
    amplitude = features.pseudo_inverse_amplitude(mel)
    assert amplitude.shape[-1] == features.n_fft // 2 + 1
    assert float(amplitude.min()) == pytest.approx(features.mel_floor)  # floored, never zero or negative
    remade = features.log_scale(amplitude @ torch.from_numpy(features.mel_filters).T)
    loud = mel > mel.max() - 2.0  # the floor clamps the pseudo-inverse's negative lobes; loud bins come back
    assert float((remade - mel)[loud].abs().mean()) < 0.02


def test_an_untrained_refiner_returns_the_pseudo_inverse(tiny_refiner, features) -> None:
    mel = features.mel_spectrogram(melody_tensor())
    log_amplitude = tiny_refiner(mel).log_amplitude
    torch.testing.assert_close(log_amplitude, features.pseudo_inverse_amplitude(mel).log())
    assert tiny_refiner(mel[0]).log_amplitude.shape == log_amplitude.shape  # (frames, mels) works too
    with pytest.raises(ValueError, match=r"\(batch, frames, 80\)"):
        tiny_refiner(mel.transpose(1, 2))


def test_bad_config_fields_are_named() -> None:
    with pytest.raises(ValueError, match="kernel_size"):
        MelAmplitudeRefinerConfig(kernel_size=4)
    with pytest.raises(ValueError, match="dilations"):
        MelAmplitudeRefinerConfig(dilations=[1, 0])


def test_save_and_auto_load_give_the_same_amplitudes(tiny_refiner, features, tmp_path) -> None:
    torch.nn.init.normal_(tiny_refiner.amplitude.conv_post.weight, std=0.05)  # a refiner that changes something
    mel = features.mel_spectrogram(melody_tensor())
    tiny_refiner.save_pretrained(tmp_path / "refiner")
    loaded = AutoModel.from_pretrained(tmp_path / "refiner")
    assert isinstance(loaded, MelAmplitudeRefiner)
    with torch.no_grad():
        torch.testing.assert_close(loaded(mel).log_amplitude, tiny_refiner(mel).log_amplitude)


def test_refined_griffin_lim_decodes_every_frame_and_checks_the_front_end(tiny_refiner, features, tmp_path) -> None:
    mel = features(synthetic_melody(RATE, 1.0), sampling_rate=RATE)["input_features"][0]
    refined = GriffinLimVocoder(features, n_iter=4, refiner=tiny_refiner).decode(mel)
    plain = GriffinLimVocoder(features, n_iter=4).decode(mel)
    assert refined.shape == plain.shape == (len(mel) * features.hop_length,)
    assert not np.allclose(refined, plain)  # the pseudo-inverse is not librosa's non-negative least squares
    with pytest.raises(ValueError, match="amplitude refiner"):
        GriffinLimVocoder(MelGANFeatureExtractor(), refiner=tiny_refiner)
    tiny_refiner.save_pretrained(tmp_path / "refiner")
    loaded = GriffinLimVocoder.refined(tmp_path / "refiner", n_iter=4)
    assert loaded.feature_extractor.sampling_rate == RATE
    np.testing.assert_allclose(loaded.decode(mel), refined, atol=1e-5)


def run_training(data: Path, validation: Path, output: Path, steps: int) -> dict:
    command = [sys.executable, "training/train_amplitude_refiner.py", "--data", str(data), "--validation"]
    command += [str(validation), "--output_dir", str(output), "--max_steps", str(steps), "--batch_size", "4"]
    subprocess.run(command, cwd=REPO, check=True, capture_output=True, timeout=300)
    return json.loads((output / "training.json").read_text())


def test_training_lowers_the_loss_on_held_out_audio(tmp_path) -> None:
    """Random melodies of many notes for training and others for validation: the refiner must learn the mapping."""
    rng = np.random.default_rng(0)
    for folder in ("train", "held_out"):
        (tmp_path / folder).mkdir()
        for index in range(3):
            notes, rolloff = tuple(rng.uniform(120, 400, 12)), rng.uniform(0.7, 1.8)
            sf.write(
                tmp_path / folder / f"{index}.wav", synthetic_melody(RATE, 4.0, notes=notes, rolloff=rolloff), RATE
            )
    untrained = run_training(tmp_path / "train", tmp_path / "held_out", tmp_path / "untrained", steps=0)
    trained = run_training(tmp_path / "train", tmp_path / "held_out", tmp_path / "trained", steps=200)
    assert trained["steps"] == 200 and (tmp_path / "trained" / "model.safetensors").is_file()
    assert trained["validation_loss"] < 0.93 * untrained["validation_loss"], (trained, untrained)


@pytest.mark.skipif(
    shipped_refiner_for(MelGANFeatureExtractor.from_preset("speech16k").audio_fields) is None,
    reason="no amplitude refiner ships for speech16k",
)
def test_evaluate_scores_the_refined_griffin_lim_beside_the_plain_one(tmp_path) -> None:
    pytest.importorskip("pesq")
    data = tmp_path / "held_out"
    data.mkdir()
    sf.write(data / "melody.wav", synthetic_melody(RATE, 2.0), RATE)
    report = tmp_path / "scores.json"
    command = ["evaluate", "vocoder", "--data", str(data), "--model", "vocoder-16k", "--json", str(report), "--quiet"]
    assert main(command) == 0
    assert list(json.loads(report.read_text())["mean"]) == [
        "vocoder-16k",
        "griffin-lim (32 it.)",
        "griffin-lim, refined amplitude (32 it.)",
    ]
    assert main([*command[:-3], "--refiner", "none", "--json", str(report), "--quiet"]) == 0
    assert len(json.loads(report.read_text())["mean"]) == 2
