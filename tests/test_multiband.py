"""The multiband head (Multi-band MelGAN): PQMF filter bank, generator shapes and reach, save/load, its training."""

import json

import numpy as np
import pytest
import torch

from melgan_hf import MelGANConfig, MelGANGenerator, MelGANVocoder
from melgan_hf.modeling_melgan import PQMF
from tests.conftest import assert_reaches_receptive_field
from tests.test_train_vocoder import corpus, make_config, trainer_args  # noqa: F401 (corpus is a fixture)
from training.train_vocoder import main as train

MULTIBAND_MODEL = {
    "preset": "speech16k",
    "generator_head": "multiband",
    "num_bands": 4,
    "upsample_ratios": [8, 4, 2],
    "ngf": 4,
    "n_residual_layers": 1,
    "ndf": 4,
    "n_layers_D": 2,
    "num_D": 1,
}


def multiband_config(**overrides) -> MelGANConfig:
    fields = {key: value for key, value in MULTIBAND_MODEL.items() if key != "preset"}
    return MelGANConfig.from_preset("speech16k", **{**fields, **overrides})


def test_pqmf_splits_into_bands_and_reconstructs() -> None:
    """A tone lands in the sub-band that holds its frequency, and synthesis(analysis(x)) ≈ x with no delay."""
    pqmf = PQMF(4, 62, 0.142, 9.0)
    rate, t = 16000, torch.arange(16000) / 16000
    for frequency, band in ((500.0, 0), (2900.0, 1), (5100.0, 2), (7000.0, 3)):
        energy = pqmf.analysis(torch.sin(2 * torch.pi * frequency * t)[None, None]).square().mean(dim=-1)[0]
        assert energy.argmax().item() == band and energy[band] > 50 * energy.sort().values[-2], (frequency, energy)
    noise = torch.randn(2, 1, rate, generator=torch.Generator().manual_seed(0))
    bands = pqmf.analysis(noise)
    assert bands.shape == (2, 4, rate // 4)
    rebuilt = pqmf.synthesis(bands)
    inner = slice(200, -200)  # away from the zero-padded edges
    error = (rebuilt - noise)[..., inner].square().mean() / noise[..., inner].square().mean()
    assert rebuilt.shape == noise.shape and error < 1e-5
    assert not pqmf.state_dict()  # computed filters, never saved


def test_generator_makes_hop_samples_per_frame_and_reaches_its_receptive_field() -> None:
    torch.manual_seed(0)
    waveforms = assert_reaches_receptive_field(MelGANGenerator(multiband_config()).eval(), 256)
    assert waveforms.shape == (1, 101 * 256) and waveforms.abs().max() <= 1


def test_decode_in_chunks_equals_one_shot_and_save_load_round_trips(tmp_path) -> None:
    torch.manual_seed(0)
    vocoder = MelGANVocoder(MelGANGenerator(multiband_config()).eval())
    vocoder.chunk_frames = 97
    mel = np.random.default_rng(1).uniform(-8, 0, (1, 400, 80)).astype(np.float32)
    with torch.no_grad():
        one_shot = vocoder.generator(torch.from_numpy(mel)).waveforms.numpy()
    assert np.abs(vocoder.decode(mel) - one_shot).max() < 1e-5
    vocoder.save_pretrained(tmp_path)
    loaded = MelGANVocoder.from_pretrained(tmp_path)
    assert loaded.config.generator_head == "multiband"
    assert np.abs(loaded.decode(mel) - one_shot).max() < 1e-5


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"upsample_ratios": [8, 8, 4]}, r"must multiply to hop_length / num_bands \(64\)"),
        ({"num_bands": 1}, "num_bands"),
        ({"num_bands": 3}, r"multiple of num_bands"),
        ({"pqmf_taps": 61}, "pqmf_taps must be even"),
        ({"pqmf_cutoff": 1.5}, "pqmf_cutoff"),
    ],
)
def test_bad_multiband_settings_name_the_field(overrides, message) -> None:
    with pytest.raises(ValueError, match=message):
        multiband_config(**overrides)


def test_multiband_recipe_trains_with_the_sub_band_loss(tmp_path, corpus) -> None:  # noqa: F811
    out = tmp_path / "multiband"
    config = make_config(tmp_path, model=MULTIBAND_MODEL, lambda_stft=1.0, lambda_subband_stft=1.0, log_every=5)
    train(trainer_args(config, corpus, out, "--max_steps", "20"))
    log = [json.loads(line) for line in (out / "train_log.jsonl").read_text().splitlines()]
    assert log and all({"stft", "subband_stft", "mel_l1"} <= entry.keys() for entry in log if "mel_l1" in entry)
    state = json.loads((out / "trainer_state.json").read_text())
    assert state["validation_mel_l1_final"] < state["validation_mel_l1_initial"]
    assert "4 PQMF sub-bands" in (out / "README.md").read_text()

    waveform_head = make_config(tmp_path, lambda_subband_stft=1.0)
    with pytest.raises(SystemExit, match="lambda_subband_stft needs a multiband generator"):
        train(trainer_args(waveform_head, corpus, tmp_path / "refused"))


def test_multiband_generator_exports_to_onnx(tmp_path) -> None:
    onnxruntime = pytest.importorskip("onnxruntime")
    from melgan_hf.export import export_onnx

    torch.manual_seed(0)
    vocoder = MelGANVocoder(MelGANGenerator(multiband_config()).eval())
    session = onnxruntime.InferenceSession(str(export_onnx(vocoder, tmp_path / "multiband.onnx")))
    mel = np.random.default_rng(2).uniform(-8, 0, (3, 50, 80)).astype(np.float32)
    with torch.no_grad():
        expected = vocoder.generator(torch.from_numpy(mel)).waveforms.numpy()
    (exported,) = session.run(None, {"mel": mel})
    assert exported.shape == (3, 50 * 256) and np.abs(exported - expected).max() < 1e-4
