"""Generator and discriminator: the paper's sizes, shapes, weight norm, and saving without losing anything."""

import json

import numpy as np
import pytest
import torch
from transformers import AutoConfig, AutoFeatureExtractor, AutoModel

from melgan_hf import MelGANConfig, MelGANDiscriminator, MelGANFeatureExtractor, MelGANGenerator, MelGANVocoder


def test_default_generator_has_the_papers_parameter_count() -> None:
    generator = MelGANGenerator(MelGANConfig())
    assert sum(parameter.numel() for parameter in generator.parameters()) == 4_266_050


@pytest.mark.parametrize("frames", [1, 7, 50])
def test_output_length_is_frames_times_hop(tiny_config: MelGANConfig, frames: int) -> None:
    generator = MelGANGenerator(tiny_config).eval()
    with torch.no_grad():
        batched = generator(torch.randn(2, frames, 80)).waveforms
        unbatched = generator(torch.randn(frames, 80)).waveforms
    assert batched.shape == (2, frames * 256)
    assert unbatched.shape == (1, frames * 256)
    assert batched.abs().max() <= 1.0


def test_padding_mask_gives_waveform_lengths(tiny_config: MelGANConfig) -> None:
    generator = MelGANGenerator(tiny_config).eval()
    mask = torch.tensor([[1] * 10, [1] * 6 + [0] * 4])
    with torch.no_grad():
        output = generator(torch.randn(2, 10, 80), padding_mask=mask)
    assert output.waveform_lengths.tolist() == [2560, 1536]
    _, lengths = generator(torch.randn(2, 10, 80), padding_mask=mask, return_dict=False)
    assert lengths.tolist() == [2560, 1536]


def test_wrong_mel_size_is_rejected(tiny_config: MelGANConfig) -> None:
    with pytest.raises(ValueError, match=r"input_features must be \(batch, frames, 80\)"):
        MelGANGenerator(tiny_config)(torch.randn(1, 10, 64))


def test_feature_extractor_output_feeds_the_generator(tiny_config: MelGANConfig) -> None:
    audio = [np.zeros(5000, dtype=np.float32), np.zeros(3000, dtype=np.float32)]
    features = MelGANFeatureExtractor()(audio, sampling_rate=22050, return_tensors="pt")
    with torch.no_grad():
        output = MelGANGenerator(tiny_config)(**features)
    assert output.waveform_lengths.tolist() == [5000 // 256 * 256, 3000 // 256 * 256]


def test_discriminator_returns_every_layers_feature_maps() -> None:
    config = MelGANConfig()
    discriminator = MelGANDiscriminator(config)
    output = discriminator(torch.randn(2, 8192))
    assert len(output.feature_maps) == config.num_D == len(output.logits)
    # First conv, n_layers_D strided convs, one k5 conv, the k3 output conv.
    assert all(len(maps) == config.n_layers_D + 3 for maps in output.feature_maps)
    assert [maps[0].shape[-1] for maps in output.feature_maps] == [8192, 4096, 2048]
    assert all(logits.shape[:2] == (2, 1) for logits in output.logits)
    assert output.feature_maps[0][-1] is output.logits[0]


def test_discriminator_is_trainable_through_the_generator(tiny_config: MelGANConfig) -> None:
    generator, discriminator = MelGANGenerator(tiny_config), MelGANDiscriminator(tiny_config)
    score = sum(logits.mean() for logits in discriminator(generator(torch.randn(1, 8, 80)).waveforms).logits)
    score.backward()
    assert generator.conv_pre.parametrizations.weight.original1.grad.abs().sum() > 0


def test_folding_weight_norm_keeps_outputs(tiny_config: MelGANConfig) -> None:
    generator = MelGANGenerator(tiny_config).eval()
    mel = torch.randn(1, 12, 80)
    with torch.no_grad():
        before = generator(mel).waveforms
        assert not generator.is_weight_norm_folded
        generator.remove_weight_norm()
        assert generator.is_weight_norm_folded
        after = generator(mel).waveforms
    torch.testing.assert_close(after, before, atol=1e-6, rtol=0)


def test_folded_generator_saves_in_the_loadable_form(tmp_path, tiny_config: MelGANConfig) -> None:
    generator = MelGANGenerator(tiny_config).eval()
    mel = torch.randn(1, 12, 80)
    generator.remove_weight_norm()
    generator.save_pretrained(tmp_path)
    reloaded = MelGANGenerator.from_pretrained(tmp_path).eval()
    assert not reloaded.is_weight_norm_folded and generator.is_weight_norm_folded
    with torch.no_grad():
        torch.testing.assert_close(reloaded(mel).waveforms, generator(mel).waveforms, atol=1e-6, rtol=0)


def test_save_pretrained_round_trip_is_bit_identical(saved_vocoder, tiny_vocoder: MelGANVocoder, random_mel) -> None:
    files = {path.name for path in saved_vocoder.iterdir()}
    assert {"config.json", "model.safetensors", "preprocessor_config.json", "discriminator"} <= files
    pickles = [p for p in saved_vocoder.rglob("*") if p.suffix in {".bin", ".pt", ".pth", ".pkl", ".ckpt"}]
    assert not pickles
    assert json.loads((saved_vocoder / "config.json").read_text())["model_type"] == "melgan"

    loaded = MelGANVocoder.from_pretrained(saved_vocoder, load_discriminator=True, precision="fp32")
    np.testing.assert_array_equal(loaded.decode(random_mel), tiny_vocoder.decode(random_mel))
    for name, tensor in tiny_vocoder.discriminator.state_dict().items():
        assert torch.equal(loaded.discriminator.state_dict()[name], tensor), name


def test_auto_classes_load_without_remote_code(saved_vocoder) -> None:
    assert type(AutoConfig.from_pretrained(saved_vocoder)) is MelGANConfig
    assert type(AutoModel.from_pretrained(saved_vocoder)) is MelGANGenerator
    assert type(AutoFeatureExtractor.from_pretrained(saved_vocoder)) is MelGANFeatureExtractor
    discriminator = MelGANDiscriminator.from_pretrained(saved_vocoder, subfolder="discriminator")
    assert isinstance(discriminator, MelGANDiscriminator)
