"""A generator checkpoint in the original melgan-neurips layout converts to the same model."""

import subprocess
import sys
import warnings

import numpy as np
import pytest
import torch
from torch import nn

from melgan_hf import MelGANVocoder
from melgan_hf.convert_original_checkpoint import convert_original_checkpoint


def _weight_normed(layer: nn.Module) -> nn.Module:
    # The original code used the old hook-based weight norm, whose state dict keys are weight_g / weight_v.
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FutureWarning)
        return nn.utils.weight_norm(layer)


class OriginalResnetBlock(nn.Module):
    def __init__(self, dim: int, dilation: int) -> None:
        super().__init__()
        self.block = nn.Sequential(
            nn.LeakyReLU(0.2),
            nn.ReflectionPad1d(dilation),
            _weight_normed(nn.Conv1d(dim, dim, kernel_size=3, dilation=dilation)),
            nn.LeakyReLU(0.2),
            _weight_normed(nn.Conv1d(dim, dim, kernel_size=1)),
        )
        self.shortcut = _weight_normed(nn.Conv1d(dim, dim, kernel_size=1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.shortcut(x) + self.block(x)


class OriginalGenerator(nn.Module):
    """The generator as the MelGAN paper and its reference code describe it: one nn.Sequential named `model`."""

    def __init__(self, input_size: int, ngf: int, n_residual_layers: int, ratios: list[int]) -> None:
        super().__init__()
        mult = 2 ** len(ratios)
        model = [nn.ReflectionPad1d(3), _weight_normed(nn.Conv1d(input_size, mult * ngf, kernel_size=7))]
        for ratio in ratios:
            model += [
                nn.LeakyReLU(0.2),
                _weight_normed(
                    nn.ConvTranspose1d(
                        mult * ngf,
                        mult * ngf // 2,
                        kernel_size=ratio * 2,
                        stride=ratio,
                        padding=ratio // 2 + ratio % 2,
                        output_padding=ratio % 2,
                    )
                ),
            ]
            model += [OriginalResnetBlock(mult * ngf // 2, dilation=3**j) for j in range(n_residual_layers)]
            mult //= 2
        model += [
            nn.LeakyReLU(0.2),
            nn.ReflectionPad1d(3),
            _weight_normed(nn.Conv1d(ngf, 1, kernel_size=7)),
            nn.Tanh(),
        ]
        self.model = nn.Sequential(*model)

    def forward(self, mel: torch.Tensor) -> torch.Tensor:
        return self.model(mel)


@pytest.mark.parametrize(("ngf", "n_residual_layers", "ratios"), [(32, 3, [8, 8, 2, 2]), (8, 2, [4, 4, 4, 4])])
def test_converted_checkpoint_reproduces_the_original(tmp_path, ngf: int, n_residual_layers: int, ratios) -> None:
    torch.manual_seed(0)
    original = OriginalGenerator(80, ngf, n_residual_layers, ratios).eval()
    # Non-trivial magnitudes, so that a g/v mix-up would show.
    with torch.no_grad():
        for name, parameter in original.named_parameters():
            if name.endswith("weight_g"):
                parameter.mul_(torch.rand_like(parameter) + 0.5)
    state_dict = original.state_dict()
    assert "model.1.weight_g" in state_dict and "model.4.block.2.weight_v" in state_dict
    assert "model.4.shortcut.weight_v" in state_dict
    torch.save(state_dict, tmp_path / "best_netG.pt")

    convert_original_checkpoint(tmp_path / "best_netG.pt", tmp_path / "converted")
    vocoder = MelGANVocoder.from_pretrained(tmp_path / "converted", precision="fp32")
    assert list(vocoder.config.upsample_ratios) == ratios
    assert (vocoder.config.ngf, vocoder.config.n_residual_layers, vocoder.config.mel_preset) == (
        ngf,
        n_residual_layers,
        "melgan",
    )
    mel = torch.rand(30, 80) * 5 - 5
    with torch.no_grad():
        expected = original(mel.T.unsqueeze(0))[0, 0].numpy()
    converted = vocoder.decode(mel.numpy())
    assert converted.shape == expected.shape
    np.testing.assert_allclose(converted, expected, atol=1e-5, rtol=0)


def test_command_line_entry_point(tmp_path) -> None:
    torch.save(OriginalGenerator(80, 4, 1, [8, 8, 2, 2]).state_dict(), tmp_path / "netG.pt")
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "melgan_hf.convert_original_checkpoint",
            str(tmp_path / "netG.pt"),
            str(tmp_path / "out"),
        ],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    assert {p.name for p in (tmp_path / "out").iterdir()} >= {
        "config.json",
        "model.safetensors",
        "preprocessor_config.json",
    }


def test_pickled_objects_are_refused(tmp_path) -> None:
    torch.save({"model.1.weight": torch.zeros(1), "payload": object()}, tmp_path / "evil.pt")
    with pytest.raises(Exception, match="[Ww]eights only load failed|Unsupported global"):
        convert_original_checkpoint(tmp_path / "evil.pt", tmp_path / "out")
    assert not (tmp_path / "out").exists()


def test_not_a_melgan_state_dict_is_named(tmp_path) -> None:
    torch.save({"encoder.layer.0.weight": torch.zeros(2, 2)}, tmp_path / "other.pt")
    with pytest.raises(ValueError, match="Unexpected key 'encoder.layer.0.weight'"):
        convert_original_checkpoint(tmp_path / "other.pt", tmp_path / "out")
