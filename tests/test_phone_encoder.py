"""The phone encoder: a transformers model that reads phones from log-mels and ignores the microphone."""

from __future__ import annotations

import pytest
import torch
from transformers import AutoConfig, AutoModel

from melgan_hf import PhoneEncoderConfig, PhoneEncoderModel
from melgan_hf.phones import PHONES


def small_encoder() -> PhoneEncoderModel:
    torch.manual_seed(0)
    config = PhoneEncoderConfig.from_preset("speech16k", hidden_channels=32, dilations=[1, 2, 4])
    return PhoneEncoderModel(config).eval()


def test_it_saves_and_loads_through_the_auto_classes(tmp_path) -> None:
    encoder = small_encoder()
    mel = torch.randn(2, 40, 80)
    encoder.save_pretrained(tmp_path)
    assert AutoConfig.from_pretrained(tmp_path).phones == list(PHONES)
    loaded = AutoModel.from_pretrained(tmp_path)
    assert isinstance(loaded, PhoneEncoderModel)
    output, reloaded = encoder(mel), loaded.eval()(mel)
    assert output.logits.shape == (2, 40, len(PHONES)) and output.bottleneck.shape == (2, 40, 64)
    torch.testing.assert_close(reloaded.logits, output.logits)
    torch.testing.assert_close(output.posteriors().sum(-1), torch.ones(2, 40))
    assert encoder(mel[0]).logits.shape == (1, 40, len(PHONES))  # one unbatched utterance


def test_a_microphones_gain_and_equalisation_do_not_change_what_it_hears() -> None:
    encoder = small_encoder()
    mel = torch.randn(1, 60, 80)
    microphone = torch.linspace(-2.0, 1.0, 80)  # a constant log-gain per mel bin
    with torch.no_grad():
        torch.testing.assert_close(encoder(mel + microphone).logits, encoder(mel).logits, atol=1e-4, rtol=1e-4)
        assert not torch.allclose(encoder(mel.flip(1)).logits.flip(1), encoder(mel).logits, atol=1e-3)


def test_padding_changes_only_the_frames_it_can_reach() -> None:
    encoder = small_encoder()
    mel = torch.randn(1, 50, 80)
    padded = torch.cat([mel, torch.zeros(1, 30, 80)], dim=1)
    mask = torch.cat([torch.ones(1, 50), torch.zeros(1, 30)], dim=1)
    with torch.no_grad():
        alone, together = encoder(mel).logits, encoder(padded, padding_mask=mask).logits
    reach = encoder.receptive_field_frames
    torch.testing.assert_close(together[:, : 50 - reach], alone[:, : 50 - reach], atol=1e-4, rtol=1e-4)


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"hidden_channels": 0}, "positive"),
        ({"kernel_size": 4}, "odd positive"),
        ({"dilations": []}, "dilations"),
        ({"phones": ["a", "a"]}, "distinct"),
    ],
)
def test_bad_configs_and_inputs_say_what_is_wrong(fields: dict, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        PhoneEncoderConfig.from_preset("speech16k", **fields)
    with pytest.raises(ValueError, match="input_features"):
        small_encoder()(torch.randn(1, 10, 64))


@pytest.mark.parametrize("kind", ["bottleneck", "posteriors"])
def test_long_input_is_encoded_in_pieces_with_the_values_of_one_pass(monkeypatch, kind: str) -> None:
    from melgan_hf import modeling_phone_encoder

    encoder = small_encoder()
    log_mel = torch.randn(1, 300, encoder.config.num_mel_bins)
    whole = modeling_phone_encoder.content_features(encoder, log_mel, kind)
    monkeypatch.setattr(modeling_phone_encoder, "CONTENT_CHUNK_FRAMES", 64)  # five pieces, the last one short
    pieces = modeling_phone_encoder.content_features(encoder, log_mel, kind)
    width = encoder.config.bottleneck_channels if kind == "bottleneck" else len(PHONES)
    assert pieces.shape == whole.shape == (1, 300, width)
    torch.testing.assert_close(pieces, whole, atol=1e-5, rtol=1e-4)
    torch.testing.assert_close(pieces.norm(dim=-1), torch.ones(1, 300))
    output = encoder(log_mel)  # and they are the encoder's own outputs
    expected = output.bottleneck if kind == "bottleneck" else output.posteriors().sqrt()
    torch.testing.assert_close(whole, torch.nn.functional.normalize(expected, dim=-1), atol=1e-5, rtol=1e-4)
