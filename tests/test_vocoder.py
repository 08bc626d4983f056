"""MelGANVocoder and the Griffin-Lim baseline: decode, copy-synthesis, loading, and bad input."""

import numpy as np
import pytest
import torch
from safetensors.torch import load_file, save_file

from melgan_hf import GriffinLimVocoder, MelGANConfig, MelGANFeatureExtractor, MelGANGenerator, MelGANVocoder
from melgan_hf.evaluation import relative_l2
from tests.conftest import SAMPLING_RATE, sine


def test_decode_accepts_numpy_torch_single_and_batch(tiny_vocoder: MelGANVocoder, random_mel) -> None:
    single = tiny_vocoder.decode(random_mel)
    assert single.shape == (40 * 256,) and single.dtype == np.float32
    np.testing.assert_array_equal(tiny_vocoder.decode(torch.from_numpy(random_mel)), single)
    batch = tiny_vocoder.decode(np.stack([random_mel, random_mel[::-1]]))
    assert batch.shape == (2, 40 * 256)
    np.testing.assert_allclose(batch[0], single, atol=1e-6)
    assert tiny_vocoder.decode(random_mel[:1]).shape == (256,)


def test_decode_leaves_the_trainable_generator_weight_normed(tiny_vocoder: MelGANVocoder, random_mel) -> None:
    tiny_vocoder.decode(random_mel)
    assert not tiny_vocoder.generator.is_weight_norm_folded
    assert tiny_vocoder.inference_generator().is_weight_norm_folded
    with torch.no_grad():
        trained_form = tiny_vocoder.generator(torch.from_numpy(random_mel)).waveforms[0].numpy()
    np.testing.assert_allclose(tiny_vocoder.decode(random_mel), trained_form, atol=1e-6)


@pytest.mark.parametrize(
    ("mel", "message"),
    [
        (np.zeros((80, 40), dtype=np.float32), r"got \(80, 40\)\. It looks like \(mels, frames\): transpose it"),
        (np.zeros((40, 64), dtype=np.float32), r"Expected a mel of shape \(frames, 80\)"),
        (np.zeros(80, dtype=np.float32), r"got \(80,\)"),
        (np.zeros((0, 80), dtype=np.float32), "empty"),
        (np.full((10, 80), np.nan, dtype=np.float32), "NaN or infinite"),
        (np.full((10, 80), np.inf, dtype=np.float32), "NaN or infinite"),
        (np.array([["a"] * 80] * 10), "real numbers"),
    ],
)
def test_bad_mel_gets_a_clear_message(tiny_vocoder: MelGANVocoder, mel, message: str) -> None:
    for vocoder in (tiny_vocoder, GriffinLimVocoder()):
        with pytest.raises(ValueError, match=message):
            vocoder.decode(mel)


def test_copy_synthesis_keeps_length_and_resamples(tiny_vocoder: MelGANVocoder) -> None:
    audio, rate = tiny_vocoder(sine(440.0, 0.5), SAMPLING_RATE)
    assert rate == SAMPLING_RATE and audio.shape == (int(0.5 * SAMPLING_RATE),)
    stereo_44k = np.stack([sine(440.0, 1.0, 44100), sine(660.0, 1.0, 44100)], axis=1)
    audio, rate = tiny_vocoder(stereo_44k, 44100)
    assert rate == SAMPLING_RATE and audio.shape == (SAMPLING_RATE,) and np.isfinite(audio).all()
    pcm16 = (sine(440.0, 0.3) * 32767).astype(np.int16)
    assert tiny_vocoder(pcm16, SAMPLING_RATE)[0].shape == (pcm16.size,)


def test_griffin_lim_reconstructs_a_tone() -> None:
    vocoder = GriffinLimVocoder()
    tone = sine(440.0, 1.0)
    output, rate = vocoder(tone, SAMPLING_RATE)
    assert rate == SAMPLING_RATE and output.shape == tone.shape
    spectrum = np.abs(np.fft.rfft(output))
    # 80 mel bands are ~50 Hz wide around 440 Hz, so the peak is only located to within a band.
    assert np.fft.rfftfreq(output.size, 1 / SAMPLING_RATE)[spectrum.argmax()] == pytest.approx(440.0, abs=25.0)
    extractor = MelGANFeatureExtractor()
    mel_in = extractor(tone, sampling_rate=SAMPLING_RATE)["input_features"]
    mel_out = extractor(output, sampling_rate=SAMPLING_RATE)["input_features"]
    assert np.abs(mel_in - mel_out)[:, 2:-2].mean() < 0.3
    silence_baseline = np.abs(mel_in - extractor.padding_value).mean()
    assert np.abs(mel_in - mel_out).mean() < silence_baseline / 5


def test_griffin_lim_uses_the_preset(random_mel) -> None:
    vocoder = GriffinLimVocoder(MelGANFeatureExtractor.from_preset("speech16k"))
    assert vocoder.sampling_rate == 16000
    assert vocoder.decode(np.log(np.power(10.0, random_mel))).shape == (40 * 256,)


def test_mismatched_feature_extractor_is_refused(tiny_config: MelGANConfig) -> None:
    with pytest.raises(ValueError, match="sampling_rate: features 16000 vs model 22050"):
        MelGANVocoder(MelGANGenerator(tiny_config), MelGANFeatureExtractor.from_preset("speech16k"))


def test_missing_weights_file_is_an_error_naming_the_folder(saved_vocoder) -> None:
    (saved_vocoder / "model.safetensors").unlink()
    with pytest.raises(OSError, match="tiny-vocoder"):
        MelGANVocoder.from_pretrained(saved_vocoder)


def test_incomplete_weights_are_an_error_not_random_init(saved_vocoder) -> None:
    weights = load_file(saved_vocoder / "model.safetensors")
    del weights["conv_post.bias"]
    save_file(weights, saved_vocoder / "model.safetensors", metadata={"format": "pt"})
    with pytest.raises(ValueError, match="weights do not match MelGANGenerator.*conv_post.bias"):
        MelGANVocoder.from_pretrained(saved_vocoder)


def test_plain_weights_from_another_save_form_are_an_error(saved_vocoder) -> None:
    # A folded checkpoint saved by other code (plain `weight`) would otherwise be silently re-initialised.
    weights = load_file(saved_vocoder / "model.safetensors")
    key = "conv_pre.parametrizations.weight.original1"
    weights["conv_pre.weight"] = weights.pop(key)
    del weights["conv_pre.parametrizations.weight.original0"]
    save_file(weights, saved_vocoder / "model.safetensors", metadata={"format": "pt"})
    with pytest.raises(ValueError, match="weights do not match"):
        MelGANVocoder.from_pretrained(saved_vocoder)


def test_pickled_weights_are_never_loaded(saved_vocoder, tiny_vocoder: MelGANVocoder) -> None:
    (saved_vocoder / "model.safetensors").unlink()
    torch.save(tiny_vocoder.generator.state_dict(), saved_vocoder / "pytorch_model.bin")
    with pytest.raises(OSError):
        MelGANVocoder.from_pretrained(saved_vocoder)


def test_missing_model_folder_names_it(tmp_path) -> None:
    with pytest.raises(OSError, match="no-such-model"):
        MelGANVocoder.from_pretrained(tmp_path / "no-such-model")


def test_vocoder_in_a_subfolder_loads_with_its_discriminator(tmp_path, tiny_vocoder, random_mel) -> None:
    # Style-transfer repos keep their vocoder in vocoder/; its discriminator sits in vocoder/discriminator/.
    tiny_vocoder.save_pretrained(tmp_path / "vocoder")
    loaded = MelGANVocoder.from_pretrained(tmp_path, subfolder="vocoder", load_discriminator=True, precision="fp32")
    assert loaded.discriminator is not None
    np.testing.assert_array_equal(loaded.decode(random_mel), tiny_vocoder.decode(random_mel))


def test_readme_python_example(saved_vocoder, tmp_path) -> None:
    from melgan_hf import load_audio, save_audio

    save_audio(tmp_path / "speech.flac", np.stack([sine(200.0, 0.7, 44100)] * 2, axis=1), 44100)
    vocoder = MelGANVocoder.from_pretrained(saved_vocoder)
    audio, rate = load_audio(tmp_path / "speech.flac", sampling_rate=vocoder.sampling_rate)
    mel = vocoder.feature_extractor(audio, sampling_rate=rate)["input_features"][0]
    waveform = vocoder.decode(mel)
    copy, rate = vocoder(audio, rate)
    save_audio(tmp_path / "copy.wav", copy, rate)
    assert mel.shape == (audio.size // 256, 80)
    assert waveform.shape == (mel.shape[0] * 256,) and copy.shape == audio.shape
    assert load_audio(tmp_path / "copy.wav")[0].size == audio.size


def test_reduced_precisions_stay_close_to_fp32(tiny_vocoder: MelGANVocoder, random_mel) -> None:
    reference = tiny_vocoder.decode(random_mel)
    errors = {}
    for precision in ("mixed", "bf16"):
        tiny_vocoder.precision = precision
        decoded = tiny_vocoder.decode(random_mel)
        assert decoded.shape == reference.shape and decoded.dtype == np.float32
        errors[precision] = relative_l2(reference, decoded)
    # rounded (so not fp32 in disguise), but only slightly; fp32 in the later blocks keeps "mixed" closer
    assert 0 < errors["mixed"] < errors["bf16"] < 2e-2


def test_precision_picks_bf16_blocks(tiny_vocoder: MelGANVocoder, monkeypatch: pytest.MonkeyPatch) -> None:
    bf16, fp32 = torch.bfloat16, torch.float32
    expected = {"fp32": (fp32,) * 4, "mixed": (bf16, bf16, fp32, fp32), "bf16": (bf16,) * 4}
    for precision, dtypes in expected.items():
        tiny_vocoder.precision = precision
        assert tiny_vocoder.block_dtypes == dtypes
        assert tiny_vocoder.fast_generator().block_dtypes == dtypes
    tiny_vocoder.precision = "auto"
    for native, resolved in ((True, "mixed"), (False, "fp32")):
        monkeypatch.setattr("melgan_hf.pipelines.native_bf16", lambda device, native=native: native)
        assert tiny_vocoder.block_dtypes == expected[resolved]
    assert MelGANVocoder(tiny_vocoder.generator).precision == "auto"  # the default


def test_precision_is_checked(tiny_vocoder: MelGANVocoder) -> None:
    tiny_vocoder.precision = "fp16"
    with pytest.raises(ValueError, match="precision must be one of 'auto', 'fp32', 'mixed', 'bf16', got 'fp16'"):
        tiny_vocoder.decode(np.zeros((10, 80), dtype=np.float32))
