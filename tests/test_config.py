"""MelGANConfig validates itself: each bad field fails at construction with a message naming it."""

import pytest

from melgan_hf import MEL_PRESETS, MelGANConfig


def test_defaults_are_the_papers_model() -> None:
    config = MelGANConfig()
    assert (config.sampling_rate, config.num_mel_bins, config.hop_length) == (22050, 80, 256)
    assert list(config.upsample_ratios) == [8, 8, 2, 2]
    assert (config.ngf, config.n_residual_layers, config.num_D) == (32, 3, 3)
    assert config.mel_preset == "melgan" and config.mel_log == "log10" and config.fmax is None


@pytest.mark.parametrize("preset", sorted(MEL_PRESETS))
def test_presets_build_valid_configs(preset: str) -> None:
    config = MelGANConfig.from_preset(preset)
    assert config.mel_preset == preset
    for key, value in MEL_PRESETS[preset].items():
        assert getattr(config, key) == value


def test_hifigan_preset_is_tacotron2_compatible() -> None:
    config = MelGANConfig.from_preset("hifigan")
    assert (config.mel_log, config.fmax, config.sampling_rate) == ("ln", 8000.0, 22050)


def test_unknown_preset_names_choices() -> None:
    with pytest.raises(ValueError, match="Unknown mel preset 'tacotron'.*hifigan"):
        MelGANConfig.from_preset("tacotron")


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"hop_length": 200}, r"upsample_ratios \[8, 8, 2, 2\] multiply to 256, but must multiply to hop_length"),
        ({"upsample_ratios": [8, 8, 8]}, r"multiply to 512, but must multiply to hop_length \(256\)"),
        ({"upsample_ratios": []}, "upsample_ratios must not be empty"),
        ({"upsample_ratios": [16, 16, 0, 1]}, "upsample_ratios must be a positive number"),
        ({"fmax": 12000}, r"fmax \(12000\) must be above fmin .* at most sampling_rate / 2 \(11025.0\)"),
        ({"fmin": 500.0, "fmax": 400.0}, r"fmax \(400.0\) must be above fmin \(500.0\)"),
        ({"fmin": -1.0}, "fmin must be >= 0"),
        ({"sampling_rate": 0}, "sampling_rate must be a positive number"),
        ({"n_fft": -1024}, "n_fft must be a positive number"),
        ({"win_length": 2048}, r"win_length \(2048\) must not exceed n_fft \(1024\)"),
        ({"num_mel_bins": 0}, "num_mel_bins must be a positive number"),
        ({"mel_floor": 0.0}, "mel_floor must be a positive number"),
        ({"mel_log": "log2"}, "mel_log must be one of"),
        ({"ngf": 0}, "ngf must be a positive number"),
        ({"ngf": "wide"}, "ngf must be a positive number, got 'wide'"),
        ({"n_residual_layers": -1}, "n_residual_layers must be >= 0"),
        ({"leaky_relu_slope": 1.5}, r"leaky_relu_slope must be in \[0, 1\)"),
        ({"num_D": 0}, "num_D must be a positive number"),
        ({"ndf": -16}, "ndf must be a positive number"),
        ({"n_layers_D": 0}, "n_layers_D must be a positive number"),
        ({"downsampling_factor": 0}, "downsampling_factor must be a positive number"),
        ({"n_fft": 1025}, "n_fft - hop_length must be even"),
    ],
)
def test_bad_field_fails_at_construction_naming_it(overrides: dict, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        MelGANConfig(**overrides)


def test_bad_value_in_a_saved_config_fails_on_load(tmp_path) -> None:
    MelGANConfig().save_pretrained(tmp_path)
    config_file = tmp_path / "config.json"
    config_file.write_text(config_file.read_text().replace('"hop_length": 256', '"hop_length": 300'))
    with pytest.raises(ValueError, match="must multiply to hop_length"):
        MelGANConfig.from_pretrained(tmp_path)


def test_round_trip_through_json(tmp_path) -> None:
    config = MelGANConfig.from_preset("speech16k", ngf=16)
    config.save_pretrained(tmp_path)
    loaded = MelGANConfig.from_pretrained(tmp_path)
    assert loaded.to_dict() == config.to_dict()
