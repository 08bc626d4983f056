"""The amplitude refiner: log-mel frames → STFT log-amplitude frames (for Griffin-Lim or a phase model)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import torch
from torch import nn
from transformers import PreTrainedModel
from transformers.utils import ModelOutput

from .configuration_amplitude_refiner import MelAmplitudeRefinerConfig
from .feature_extraction_melgan import MelGANFeatureExtractor, batched_log_mel


@dataclass
class MelAmplitudeRefinerOutput(ModelOutput):
    """log_amplitude: `(batch, frames, n_fft // 2 + 1)` natural-log STFT amplitude, floored at the mel floor."""

    log_amplitude: torch.Tensor | None = None


class FrameNet(nn.Module):
    """
    Dilated residual convs over mel frames: conv_pre → (leaky ReLU → dilated conv, + skip) per dilation → leaky
    ReLU → 1x1 conv_post. Input `(batch, channels_in, frames)` normalised log-mels; output `(batch, channels_out,
    frames)`. Frame rate is 1/hop of the sample rate, so this costs a fraction of a waveform-rate network.
    """

    def __init__(
        self,
        in_channels: int,
        hidden_channels: int,
        out_channels: int,
        dilations: Sequence[int],
        kernel_size: int,
        leaky_relu_slope: float,
    ) -> None:
        super().__init__()
        self.leaky_relu_slope = leaky_relu_slope
        self.conv_pre = nn.Conv1d(in_channels, hidden_channels, kernel_size, padding=kernel_size // 2)
        self.convs = nn.ModuleList(
            nn.Conv1d(
                hidden_channels, hidden_channels, kernel_size, dilation=dilation, padding=dilation * (kernel_size // 2)
            )
            for dilation in dilations
        )
        self.conv_post = nn.Conv1d(hidden_channels, out_channels, kernel_size=1)

    def forward(self, normalised_mel: torch.Tensor) -> torch.Tensor:
        slope = self.leaky_relu_slope
        hidden = self.conv_pre(normalised_mel)
        for conv in self.convs:
            hidden = hidden + conv(nn.functional.leaky_relu(hidden, slope))
        return self.conv_post(nn.functional.leaky_relu(hidden, slope))


class AmplitudeHead(FrameNet):
    """
    The mel's pseudo-inverse amplitude plus a learned log-amplitude residual (FreeV, 2024). `conv_post` starts at
    zero, so an untrained head returns the pseudo-inverse and training only learns what it gets
    wrong. Shared by `MelAmplitudeRefiner` and the iSTFT head of `MelGANGenerator`, so one can start the other.
    """

    def __init__(
        self,
        front_end: MelGANFeatureExtractor,
        hidden_channels: int,
        dilations: Sequence[int],
        kernel_size: int,
        leaky_relu_slope: float,
    ) -> None:
        bins = front_end.n_fft // 2 + 1
        super().__init__(front_end.num_mel_bins, hidden_channels, bins, dilations, kernel_size, leaky_relu_slope)
        self.front_end = front_end
        self.conv_post.starts_at_zero = True  # the models' `_init_weights` zero it
        # Log-mels span [log(floor), ~0]: centred and scaled by half the floor's log, they lie in about [-1, 1].
        self.input_centre = float(front_end.log_scale(np.float64(front_end.mel_floor))) / 2

    def normalise(self, log_mel: torch.Tensor) -> torch.Tensor:
        """`(batch, frames, mels)` log-mel → `(batch, mels, frames)` in about [-1, 1]: the input of frame nets."""
        return (log_mel.transpose(1, 2) - self.input_centre) / -self.input_centre

    def forward(self, log_mel: torch.Tensor, normalised_mel: torch.Tensor | None = None) -> torch.Tensor:
        """`(batch, frames, mels)` log-mel → `(batch, bins, frames)` natural-log amplitude, floored at the mel floor."""
        prior = self.front_end.pseudo_inverse_amplitude(log_mel).log().transpose(1, 2)
        residual = super().forward(self.normalise(log_mel) if normalised_mel is None else normalised_mel)
        return torch.maximum(prior + residual, prior.new_tensor(self.front_end.mel_floor).log())


class MelAmplitudeRefiner(PreTrainedModel):
    """An `AmplitudeHead` as a model of its own: what Griffin-Lim runs on for the refined-amplitude baseline."""

    config: MelAmplitudeRefinerConfig
    config_class = MelAmplitudeRefinerConfig
    base_model_prefix = "amplitude_refiner"
    main_input_name = "input_features"
    input_modalities = "audio"

    def __init__(self, config: MelAmplitudeRefinerConfig) -> None:
        super().__init__(config)
        self.front_end = MelGANFeatureExtractor.from_config(config)
        self.amplitude = AmplitudeHead(
            self.front_end, config.hidden_channels, config.dilations, config.kernel_size, config.leaky_relu_slope
        )
        self.post_init()

    def _init_weights(self, module: nn.Module) -> None:
        if getattr(module, "starts_at_zero", False):
            nn.init.zeros_(module.weight)
            nn.init.zeros_(module.bias)

    def forward(
        self, input_features: torch.Tensor, return_dict: bool | None = None
    ) -> MelAmplitudeRefinerOutput | tuple[torch.Tensor]:
        """input_features: `(batch, frames, num_mel_bins)` or `(frames, num_mel_bins)` log-mels (config preset)."""
        input_features = batched_log_mel(input_features, self.config.num_mel_bins)
        log_amplitude = self.amplitude(input_features).transpose(1, 2)
        return_dict = return_dict if return_dict is not None else self.config.return_dict
        return MelAmplitudeRefinerOutput(log_amplitude=log_amplitude) if return_dict else (log_amplitude,)


__all__ = ["AmplitudeHead", "FrameNet", "MelAmplitudeRefiner", "MelAmplitudeRefinerOutput"]
