"""ONNX export: the exported graph computes what PyTorch computes, for any batch and length."""

from pathlib import Path

import numpy as np
import pytest

from melgan_hf import MelGANVocoder
from melgan_hf.cli import main as cli

onnx = pytest.importorskip("onnx")
onnxruntime = pytest.importorskip("onnxruntime")


@pytest.fixture(scope="module", params=["waveform", "istft"])
def exported(request, tmp_path_factory: pytest.TempPathFactory, tiny_config) -> tuple[MelGANVocoder, Path]:
    """Both generator heads; the iSTFT one runs its STFTs as DFT-basis convs in the graph (no complex tensors)."""
    import torch

    from melgan_hf import MelGANConfig, MelGANGenerator

    torch.manual_seed(0)
    folder = tmp_path_factory.mktemp("export")
    config = tiny_config
    if request.param == "istft":
        config = MelGANConfig(generator_head="istft", frame_channels=16, frame_dilations=[1, 2], phase_iterations=2)
    generator = MelGANGenerator(config)
    if request.param == "istft":
        torch.nn.init.normal_(generator.amplitude.conv_post.weight, std=0.02)
    MelGANVocoder(generator).save_pretrained(folder / "vocoder")
    path = folder / "vocoder.onnx"
    assert cli(["export", "--format", "onnx", "--model", str(folder / "vocoder"), "--out", str(path)]) == 0
    return MelGANVocoder.from_pretrained(folder / "vocoder", precision="fp32"), path


@pytest.mark.parametrize("shape", [(1, 4), (1, 57), (2, 300), (1, 2000)])
def test_onnx_matches_pytorch_for_any_batch_and_length(exported, shape) -> None:
    vocoder, path = exported
    session = onnxruntime.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    mel = np.random.default_rng(sum(shape)).uniform(-5, 0, size=(*shape, 80)).astype(np.float32)
    (waveform,) = session.run(None, {"mel": mel})
    expected = vocoder.decode(mel)
    assert waveform.shape == (shape[0], shape[1] * vocoder.config.hop_length)
    # the iSTFT head's DFT-basis convs sum n_fft fp32 products per bin, where PyTorch runs an FFT
    assert np.abs(waveform - expected).max() < (1e-4 if vocoder.config.generator_head == "waveform" else 5e-4)


def test_onnx_metadata_records_the_mel_front_end(exported) -> None:
    vocoder, path = exported
    metadata = {entry.key: entry.value for entry in onnx.load(str(path)).metadata_props}
    assert metadata["melgan_hf.sampling_rate"] == str(vocoder.config.sampling_rate)
    assert metadata["melgan_hf.mel_preset"] == vocoder.config.mel_preset
    assert int(metadata["melgan_hf.min_frames"]) >= 1


def test_export_refuses_what_it_cannot_export(tmp_path, capsys) -> None:
    assert cli(["export", "--model", str(tmp_path / "missing"), "--out", str(tmp_path / "x.onnx")]) == 2
    assert cli(["export", "--model", "griffin-lim", "--out", str(tmp_path / "x.onnx")]) == 2
    assert "cannot load model" in capsys.readouterr().err
    assert not (tmp_path / "x.onnx").exists()
