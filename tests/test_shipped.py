"""The models shipped in the package: they load by name offline, convert, and the CLI uses them by default."""

import json

import numpy as np
import pytest
import soundfile as sf
import torch
from safetensors import safe_open

from melgan_hf import MelGANGenerator, MelGANVocoder, StyleTransferPipeline, shipped
from melgan_hf.audio import synthetic_melody
from melgan_hf.cli import main as cli

RATE = 16000


def test_every_shipped_model_is_a_complete_safetensors_folder_with_a_card() -> None:
    for name in [*shipped.SHIPPED_VOCODERS, *shipped.SHIPPED_CONVERTERS, *shipped.SHIPPED_REFINERS]:
        folder = shipped.SHIPPED_DIR / name
        weights = sorted(folder.rglob("*.safetensors"))
        assert weights, name
        assert not list(folder.rglob("*.bin")) and not list(folder.rglob("*.pt")), f"{name}: pickled weights"
        for file in weights:
            with safe_open(file, "pt") as tensors:
                assert {tensors.get_tensor(key).dtype.is_floating_point for key in tensors.keys()} == {True}
        card = (folder / "README.md").read_text()
        assert "PESQ" in card or "similarity" in card or "centroid" in card, f"{name}: card without measurements"
        assert json.loads((folder / "config.json").read_text())["sampling_rate"] == RATE


def test_shipped_vocoder_loads_by_name_in_fp32_and_copies_audio_better_than_untrained() -> None:
    vocoder = MelGANVocoder.from_pretrained("vocoder-16k")
    assert {parameter.dtype for parameter in vocoder.generator.parameters()} == {torch.float32}
    torch.manual_seed(0)
    untrained = MelGANVocoder(MelGANGenerator(vocoder.config), vocoder.feature_extractor)
    # Noise fills the spectrum: on a pure melody's empty bins at the log floor any vocoder's faint noise dominates.
    noise = np.random.default_rng(0).normal(0, 0.02, int(1.5 * RATE)).astype(np.float32)
    melody = synthetic_melody(RATE, 1.5) + noise
    features = vocoder.feature_extractor
    mel = features(melody, sampling_rate=RATE)["input_features"][0]
    distances = {}
    for name, model in (("shipped", vocoder), ("untrained", untrained)):
        copy, rate = model(melody, RATE)
        assert rate == RATE and len(copy) == len(melody) and np.isfinite(copy).all()
        distances[name] = np.abs(mel - features(copy, sampling_rate=RATE)["input_features"][0]).mean()
    assert distances["shipped"] < 0.5 * distances["untrained"], distances


def test_default_vocoder_copies_speech_closer_than_griffin_lim() -> None:
    """The shipped default (the iSTFT vocoder) against the plain Griffin-Lim baseline on a voiced, noisy signal."""
    from melgan_hf import GriffinLimVocoder

    vocoder = MelGANVocoder.from_pretrained(shipped.DEFAULT_VOCODER)
    assert vocoder.config.generator_head == "istft"
    t = np.arange(2 * RATE) / RATE
    phase = 2 * np.pi * np.cumsum(150 + 30 * np.sin(2 * np.pi * 2 * t)) / RATE
    voice = sum(np.sin(k * phase) / k for k in range(1, 20)) * 0.1 * (1 + np.sin(2 * np.pi * 3 * t)) / 2
    voice = (voice + np.random.default_rng(0).normal(0, 0.002, t.size)).astype(np.float32)
    features = vocoder.feature_extractor
    mel = features(voice, sampling_rate=RATE)["input_features"][0]
    distances = {}
    for name, model in (("shipped", vocoder), ("griffin-lim", GriffinLimVocoder(features))):
        copy, rate = model(voice, RATE)
        assert rate == RATE and len(copy) == len(voice) and np.isfinite(copy).all()
        distances[name] = np.abs(mel - features(copy, sampling_rate=RATE)["input_features"][0]).mean()
    assert distances["shipped"] < 0.8 * distances["griffin-lim"], distances


@pytest.mark.parametrize("name", sorted(shipped.SHIPPED_CONVERTERS))
def test_shipped_converters_convert_any_rate_to_the_same_duration(name: str) -> None:
    pipeline = StyleTransferPipeline.from_pretrained(name)
    melody = synthetic_melody(44100, 2.0)
    converted, rate = pipeline(melody, 44100)
    assert rate == RATE and len(converted) == 2 * RATE
    assert np.isfinite(converted).all() and np.abs(converted).max() > 1e-3


def test_cli_uses_the_shipped_models_when_no_model_is_named(tmp_path) -> None:
    sf.write(tmp_path / "clip.wav", synthetic_melody(22050, 1.0), 22050)
    assert cli(["convert", str(tmp_path / "clip.wav"), "--out", str(tmp_path / "converted"), "--quiet"]) == 0
    assert cli(["invert", str(tmp_path / "clip.wav"), "--out", str(tmp_path / "inverted"), "--quiet"]) == 0
    for folder in ("converted", "inverted"):
        audio, rate = sf.read(tmp_path / folder / "clip.wav")
        assert rate == RATE and len(audio) == RATE


def test_with_a_target_voice_and_no_model_the_cli_takes_the_any_to_any_converter(tmp_path, capsys) -> None:
    assert not StyleTransferPipeline.from_pretrained(shipped.DEFAULT_CONVERTER).any_to_any
    assert StyleTransferPipeline.from_pretrained(shipped.ANY_VOICE_CONVERTER).any_to_any
    sf.write(tmp_path / "clip.wav", synthetic_melody(RATE, 1.0), RATE)
    (tmp_path / "voice").mkdir()
    sf.write(tmp_path / "voice" / "voice.wav", synthetic_melody(RATE, 40.0), RATE)  # a 40 s "voice"
    convert = ["convert", str(tmp_path / "clip.wav"), "--target-voice", str(tmp_path / "voice"), "--quiet"]
    assert cli([*convert, "--out", str(tmp_path / "into-voice")]) == 0
    assert len(sf.read(tmp_path / "into-voice" / "clip.wav")[0]) == RATE
    assert cli([*convert, "--model", shipped.DEFAULT_CONVERTER, "--out", str(tmp_path / "refused")]) == 2
    assert f"such as the shipped '{shipped.ANY_VOICE_CONVERTER}'" in capsys.readouterr().err


def test_a_missing_shipped_model_says_so(monkeypatch: pytest.MonkeyPatch, tmp_path) -> None:
    monkeypatch.setattr(shipped, "SHIPPED_DIR", tmp_path)
    with pytest.raises(OSError, match="shipped model 'vocoder-16k' is missing"):
        MelGANVocoder.from_pretrained("vocoder-16k")


def test_a_local_folder_with_a_shipped_name_wins(monkeypatch: pytest.MonkeyPatch, tmp_path, saved_vocoder) -> None:
    monkeypatch.chdir(saved_vocoder.parent)
    saved_vocoder.rename("vocoder-16k")
    assert MelGANVocoder.from_pretrained("vocoder-16k").sampling_rate == 22050
