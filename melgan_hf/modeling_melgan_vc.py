"""MelGAN-VC / TraVeLGAN style transfer on log-mels: U-Net generator, critic, siamese network (Pasini, 2019)."""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
from torch import nn
from torch.nn.utils import parametrize
from torch.nn.utils.parametrizations import spectral_norm
from transformers import PreTrainedModel
from transformers import initialization as init
from transformers.utils import ModelOutput

from .configuration_melgan_vc import MelGANVCConfig
from .feature_extraction_melgan import batched_log_mel


def _conv(in_channels: int, out_channels: int, kernel_size: int, stride: int = 1) -> nn.Module:
    """Spectrally normalised conv over time; `same` padding for stride 1, halving the length for stride 2."""
    padding = (kernel_size - stride + 1) // 2
    return spectral_norm(nn.Conv1d(in_channels, out_channels, kernel_size, stride=stride, padding=padding))


@dataclass
class MelGANVCOutput(ModelOutput):
    """converted_features: `(batch, frames, num_mel_bins)` log-mels in the target style, same preset as the input."""

    converted_features: torch.Tensor | None = None


class MelGANVCGenerator(nn.Module):
    """
    U-Net over time on normalised mels `(batch, mels, frames)`: the first conv spans all mel bins; each level halves
    the time resolution; skips carry the detail (timing, pitch) the style change must keep. Output in [-1, 1].
    """

    def __init__(self, config: MelGANVCConfig) -> None:
        super().__init__()
        self.slope = config.leaky_relu_slope
        channels = [config.hidden_channels * 2**level for level in range(config.num_levels + 1)]
        self.conv_in = _conv(config.num_mel_bins, channels[0], 5)
        self.down = nn.ModuleList(_conv(channels[i], channels[i + 1], 4, stride=2) for i in range(config.num_levels))
        self.bottleneck = nn.ModuleList(
            _conv(channels[-1], channels[-1], 3) for _ in range(config.num_bottleneck_blocks)
        )
        self.up = nn.ModuleList(
            _conv(channels[i + 1] + channels[i], channels[i], 3) for i in reversed(range(config.num_levels))
        )
        self.conv_out = nn.Conv1d(channels[0] + config.num_mel_bins, config.num_mel_bins, kernel_size=5, padding=2)

    def forward(self, mel: torch.Tensor) -> torch.Tensor:
        act = nn.functional.leaky_relu
        hidden = act(self.conv_in(mel), self.slope)
        skips = [hidden]
        for layer in self.down:
            hidden = act(layer(hidden), self.slope)
            skips.append(hidden)
        for block in self.bottleneck:
            hidden = hidden + act(block(hidden), self.slope)
        skips.pop()
        for layer in self.up:
            hidden = nn.functional.interpolate(hidden, scale_factor=2.0, mode="nearest")
            hidden = act(layer(torch.cat([hidden, skips.pop()], dim=1)), self.slope)
        return torch.tanh(self.conv_out(torch.cat([hidden, mel], dim=1)))


class MelGANVCCritic(nn.Module):
    """Judges whether normalised mel slices belong to the target domain: one score per coarse time step."""

    def __init__(self, config: MelGANVCConfig) -> None:
        super().__init__()
        channels = config.critic_channels
        self.slope = config.leaky_relu_slope
        self.layers = nn.ModuleList(
            [
                _conv(config.num_mel_bins, channels, 5),
                _conv(channels, channels * 2, 4, stride=2),
                _conv(channels * 2, channels * 4, 4, stride=2),
            ]
        )
        self.conv_out = _conv(channels * 4, 1, 3)

    def forward(self, mel: torch.Tensor) -> torch.Tensor:
        hidden = mel
        for layer in self.layers:
            hidden = nn.functional.leaky_relu(layer(hidden), self.slope)
        return self.conv_out(hidden)


class MelGANVCSiamese(nn.Module):
    """Embeds a mel slice as a vector; the TraVeL loss keeps differences between slices through the generator."""

    pooled_steps = 8

    def __init__(self, config: MelGANVCConfig) -> None:
        super().__init__()
        channels = config.siamese_channels
        self.slope = config.leaky_relu_slope
        self.layers = nn.ModuleList(
            [
                _conv(config.num_mel_bins, channels, 5),
                _conv(channels, channels * 2, 4, stride=2),
                _conv(channels * 2, channels * 2, 4, stride=2),
            ]
        )
        self.pool = nn.AdaptiveAvgPool1d(self.pooled_steps)  # keeps coarse time order, for any slice length
        self.projection = nn.Linear(channels * 2 * self.pooled_steps, config.siamese_dim)

    def forward(self, mel: torch.Tensor) -> torch.Tensor:
        hidden = mel
        for layer in self.layers:
            hidden = nn.functional.leaky_relu(layer(hidden), self.slope)
        return self.projection(self.pool(hidden).flatten(1))


class MelGANVCModel(PreTrainedModel):
    """
    Converts log-mels of a source domain into the target domain (another voice, another instrument), keeping their
    content. `forward` takes and returns log-mels in the config's preset; normalisation to the generator's [-1, 1]
    range uses the per-bin statistics stored in the config. The critic and siamese network are used in training.
    """

    config: MelGANVCConfig
    config_class = MelGANVCConfig
    base_model_prefix = "melgan_vc"
    main_input_name = "input_features"
    input_modalities = "audio"

    def __init__(self, config: MelGANVCConfig) -> None:
        super().__init__(config)
        self.generator = MelGANVCGenerator(config)
        self.critic = MelGANVCCritic(config)
        self.siamese = MelGANVCSiamese(config)
        self.post_init()

    def _init_weights(self, module: nn.Module) -> None:
        """PyTorch's default init (on the un-normalised weight for spectrally normalised convs)."""
        if not isinstance(module, (nn.Conv1d, nn.Linear)):
            return
        weight = module.parametrizations.weight.original if parametrize.is_parametrized(module) else module.weight
        init.kaiming_uniform_(weight, a=math.sqrt(5))
        if module.bias is not None:
            fan_in, _ = nn.init._calculate_fan_in_and_fan_out(weight)
            init.uniform_(module.bias, -1 / math.sqrt(fan_in), 1 / math.sqrt(fan_in))
        if parametrize.is_parametrized(module) and not getattr(weight, "_is_hf_initialized", False):
            # spectral_norm estimated the norm (its u, v vectors) of the weight it was registered on; re-estimate
            # it for the new weight, or a fresh model divides by stale values and saturates.
            norm = module.parametrizations.weight[0]
            with torch.no_grad():
                norm._power_method(norm._reshape_weight_to_matrix(weight.detach()), 15)

    def mel_range(self, device: torch.device) -> tuple[torch.Tensor, torch.Tensor]:
        """Per-bin low/high log-mel of the normalisation; before statistics exist, from the floor to 0."""
        config = self.config
        floor = math.log10(config.mel_floor) if config.mel_log == "log10" else math.log(config.mel_floor)
        low = config.mel_low if config.mel_low is not None else [floor] * config.num_mel_bins
        high = config.mel_high if config.mel_high is not None else [0.0] * config.num_mel_bins
        return torch.tensor(low, device=device), torch.tensor(high, device=device)

    def normalize(self, log_mel: torch.Tensor) -> torch.Tensor:
        """`(batch, frames, mels)` log-mel → `(batch, mels, frames)` in [-1, 1] (clipped)."""
        low, high = self.mel_range(log_mel.device)
        return (2 * (log_mel - low) / (high - low) - 1).clamp(-1.0, 1.0).transpose(1, 2)

    def denormalize(self, normalized: torch.Tensor) -> torch.Tensor:
        """Inverse of `normalize`: `(batch, mels, frames)` in [-1, 1] → `(batch, frames, mels)` log-mel."""
        low, high = self.mel_range(normalized.device)
        return (normalized.transpose(1, 2) + 1) / 2 * (high - low) + low

    def convert_normalized(self, normalized: torch.Tensor) -> torch.Tensor:
        """The generator on `(batch, mels, frames)` normalised mels, any length (padded to whole U-Net levels)."""
        frames = normalized.shape[-1]
        multiple = 2**self.config.num_levels
        padded_frames = max(multiple, math.ceil(frames / multiple) * multiple)
        if padded_frames != frames:
            mode = "reflect" if frames > padded_frames - frames else "replicate"
            normalized = nn.functional.pad(normalized, (0, padded_frames - frames), mode=mode)
        return self.generator(normalized)[..., :frames]

    def forward(self, input_features: torch.Tensor, return_dict: bool | None = None) -> MelGANVCOutput | tuple:
        """input_features: `(batch, frames, num_mel_bins)` or `(frames, num_mel_bins)` log-mels."""
        input_features = batched_log_mel(input_features, self.config.num_mel_bins)
        converted = self.denormalize(self.convert_normalized(self.normalize(input_features)))
        return_dict = return_dict if return_dict is not None else self.config.return_dict
        return MelGANVCOutput(converted_features=converted) if return_dict else (converted,)


__all__ = ["MelGANVCModel", "MelGANVCOutput"]
