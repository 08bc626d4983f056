"""The iSTFT generator head: real-valued STFT pair, amplitude prior, Griffin-Lim projections, save/load, chunking."""

import numpy as np
import pytest
import torch
from safetensors.torch import load_file

from melgan_hf import MelGANConfig, MelGANFeatureExtractor, MelGANGenerator, MelGANVocoder
from melgan_hf import feature_extraction_melgan as fe_module
from training.losses import phase_loss


def istft_config(**overrides) -> MelGANConfig:
    fields = {"generator_head": "istft", "frame_channels": 32, "frame_dilations": [1, 2], "phase_iterations": 2}
    return MelGANConfig.from_preset("speech16k", **{**fields, **overrides})


@pytest.fixture
def generator() -> MelGANGenerator:
    torch.manual_seed(0)
    model = MelGANGenerator(istft_config())
    torch.nn.init.normal_(model.amplitude.conv_post.weight, std=0.02)  # a trained-looking amplitude residual
    return model.eval()


def speech_like(seconds: float = 1.0, rate: int = 16000, seed: int = 0) -> torch.Tensor:
    """A harmonic tone with vibrato and a little noise: structure the STFT must keep."""
    t = np.arange(int(seconds * rate)) / rate
    f0 = 140 + 20 * np.sin(2 * np.pi * 3 * t)
    phase = 2 * np.pi * np.cumsum(f0) / rate
    audio = sum(np.sin(k * phase) / k for k in range(1, 8)) * 0.2
    audio += np.random.default_rng(seed).normal(0, 0.003, t.size)
    return torch.from_numpy(audio.astype(np.float32))


@pytest.mark.parametrize("exporting", [False, True])
def test_real_valued_stft_pair_matches_the_complex_one_and_inverts_exactly(monkeypatch, exporting) -> None:
    """Both code paths (FFT, and the DFT-basis convs ONNX graphs get) give the mel's STFT and its exact inverse."""
    monkeypatch.setattr(fe_module, "_exporting", lambda: exporting)
    features = MelGANFeatureExtractor.from_preset("speech16k")
    audio = speech_like().unsqueeze(0).repeat(2, 1)[:, : 40 * features.hop_length]
    real, imaginary = features.spectrogram_parts(audio)
    spectrum = features.complex_spectrogram(audio).transpose(1, 2)
    assert real.shape == (2, features.n_fft // 2 + 1, 40)
    scale = spectrum.abs().max()
    torch.testing.assert_close(real / scale, spectrum.real / scale, atol=2e-6, rtol=0)
    torch.testing.assert_close(imaginary / scale, spectrum.imag / scale, atol=2e-6, rtol=0)
    torch.testing.assert_close(features.inverse_spectrogram_parts(real, imaginary), audio, atol=1e-5, rtol=0)


def test_untrained_amplitude_branch_is_the_pseudo_inverse() -> None:
    model = MelGANGenerator(istft_config())
    assert model.amplitude.conv_post.weight.abs().max() == 0 and model.is_weight_norm_folded
    features = MelGANFeatureExtractor.from_config(model.config)
    mel = features.mel_spectrogram(speech_like())
    prior = features.pseudo_inverse_amplitude(mel).log().transpose(1, 2)
    torch.testing.assert_close(model.amplitude(mel), prior)


@pytest.mark.parametrize("frames", [1, 3, 4, 57])
def test_output_is_frames_times_hop_and_bounded(generator, frames) -> None:
    mel = torch.rand(frames, 80) * -8
    with torch.no_grad():
        output = generator(mel, padding_mask=torch.ones(frames))
    assert output.waveforms.shape == (1, frames * 256) and output.waveform_lengths.tolist() == [frames * 256]
    assert torch.isfinite(output.waveforms).all() and output.waveforms.abs().max() <= 1.0


def test_griffin_lim_projections_make_the_spectrum_consistent_with_the_amplitude() -> None:
    """More projections: the STFT of the output comes closer to the amplitude the branch asked for."""
    torch.manual_seed(0)
    reference = MelGANGenerator(istft_config(phase_iterations=0)).eval()
    features = MelGANFeatureExtractor.from_config(reference.config)
    mel = features.mel_spectrogram(speech_like())
    with torch.no_grad():
        wanted = reference.amplitude(mel).exp()
    errors = []
    for iterations in (0, 4, 16):
        model = MelGANGenerator(istft_config(phase_iterations=iterations)).eval()
        model.load_state_dict(reference.state_dict())
        with torch.no_grad():
            real, imaginary = features.spectrogram_parts(model(mel).waveforms)
        errors.append(((real.square() + imaginary.square()).sqrt() - wanted).abs().mean().item())
    assert errors[0] > errors[1] > errors[2], errors


def test_save_and_load_round_trip_is_exact_and_has_no_weight_norm(tmp_path, generator) -> None:
    MelGANVocoder(generator).save_pretrained(tmp_path)
    keys = load_file(tmp_path / "model.safetensors")
    assert "amplitude.conv_post.weight" in keys and not any("parametrizations" in key for key in keys)
    loaded = MelGANVocoder.from_pretrained(tmp_path)
    assert loaded.config.generator_head == "istft"
    mel = torch.rand(1, 40, 80) * -8
    with torch.no_grad():
        torch.testing.assert_close(loaded.generator(mel).waveforms, generator(mel).waveforms, atol=0, rtol=0)


def test_phase_advance_is_the_phase_a_bin_centre_tone_turns_by() -> None:
    """With `phase_advance`, a steady tone at a bin's centre frequency is a constant phase-branch output."""
    model = MelGANGenerator(istft_config(phase_advance=True))
    features = MelGANFeatureExtractor.from_config(model.config)
    bin_index, frames = 37, 40
    samples = torch.arange(frames * features.hop_length)
    spectrum = features.complex_spectrogram(0.5 * torch.cos(2 * np.pi * bin_index * samples / features.n_fft))[0]
    cos, sin = model._bin_centre_advance(frames, samples.device, torch.float32)
    relative = spectrum[:, bin_index] * torch.complex(cos, -sin)[bin_index]
    assert relative[4:-4].angle().std() < 1e-3 and spectrum[4:-4, bin_index].angle().std() > 1.0
    assert model.frame_period == 4 and MelGANGenerator(istft_config()).frame_period == 1


@pytest.mark.parametrize("phase_advance", [False, True])
def test_chunked_decode_equals_one_shot(phase_advance) -> None:
    """`receptive_field_frames` covers the branches and every projection, and chunks start on `frame_period`
    multiples: chunk seams leave no trace."""
    torch.manual_seed(0)
    generator = MelGANGenerator(istft_config(phase_advance=phase_advance)).eval()
    vocoder = MelGANVocoder(generator)
    vocoder.chunk_frames = 97  # not a multiple of the frame period: decode rounds it
    mel = np.random.default_rng(0).uniform(-8, 0, (1, 500, 80)).astype(np.float32)
    with torch.no_grad():
        one_shot = generator(torch.from_numpy(mel)).waveforms.numpy()
    assert np.abs(vocoder.decode(mel) - one_shot).max() < 1e-5


@pytest.mark.parametrize(
    ("field", "value"),
    [("generator_head", "wavenet"), ("phase_momentum", 1.0), ("frame_dilations", []), ("phase_iterations", -1)],
)
def test_bad_istft_settings_name_the_field(field, value) -> None:
    with pytest.raises(ValueError, match=field):
        istft_config(**{field: value})


def test_istft_head_needs_no_upsample_ratios_matching_the_hop() -> None:
    config = istft_config(hop_length=200, win_length=800, n_fft=800)
    output = MelGANGenerator(config)(torch.rand(1, 10, 80) * -8).waveforms
    assert output.shape == (1, 2000)
    with pytest.raises(ValueError, match="upsample_ratios"):
        MelGANConfig.from_preset("speech16k", hop_length=200, win_length=800, n_fft=800)


def test_phase_loss_sees_phase_where_there_is_energy_only() -> None:
    features = MelGANFeatureExtractor.from_preset("speech16k")
    spectrum = features.complex_spectrogram(speech_like())
    assert phase_loss(spectrum, spectrum).item() == pytest.approx(0, abs=1e-6)
    rotated = spectrum * torch.exp(1j * torch.linspace(0, 3, spectrum.shape[-1]))
    assert phase_loss(rotated, spectrum) > 0.1
    # noise in bins where the reference is silent changes nothing
    silent = spectrum.abs() < 1e-4 * spectrum.abs().max()
    assert silent.any()
    noisy = torch.where(silent, spectrum * torch.exp(1j * torch.rand(spectrum.shape) * 6), spectrum)
    assert phase_loss(noisy, spectrum).item() == pytest.approx(0, abs=1e-3)


def test_bf16_autocast_keeps_the_spectral_part_in_fp32(generator) -> None:
    """Training with `--mixed_precision bf16`: the frame nets run in bf16, FFTs and phases (no bf16 FFT) in fp32."""
    mel = torch.rand(1, 30, 80) * -8
    with torch.no_grad():
        full = generator(mel).waveforms
        with torch.autocast("cpu", dtype=torch.bfloat16):
            mixed = generator(mel).waveforms
    assert mixed.dtype == torch.float32 and torch.isfinite(mixed).all()
    assert (mixed - full).abs().max() < 0.1 * full.abs().max()
