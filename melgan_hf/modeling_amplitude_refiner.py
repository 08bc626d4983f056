"""The amplitude refiner: log-mel frames → STFT log-amplitude frames (for Griffin-Lim or a phase model)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
from torch import nn
from transformers import PreTrainedModel
from transformers.utils import ModelOutput

from .configuration_amplitude_refiner import MelAmplitudeRefinerConfig
from .feature_extraction_melgan import MelGANFeatureExtractor


@dataclass
class MelAmplitudeRefinerOutput(ModelOutput):
    """log_amplitude: `(batch, frames, n_fft // 2 + 1)` natural-log STFT amplitude, floored at the mel floor."""

    log_amplitude: torch.Tensor | None = None


class MelAmplitudeRefiner(PreTrainedModel):
    """
    Pseudo-inverse amplitude of the mel plus a learned log-amplitude residual from dilated convs over time. The
    last conv starts at zero, so training starts from the pseudo-inverse and only learns what it gets wrong.
    """

    config: MelAmplitudeRefinerConfig
    config_class = MelAmplitudeRefinerConfig
    base_model_prefix = "amplitude_refiner"
    main_input_name = "input_features"
    input_modalities = "audio"

    def __init__(self, config: MelAmplitudeRefinerConfig) -> None:
        super().__init__(config)
        self.front_end = MelGANFeatureExtractor.from_config(config)
        channels, kernel = config.hidden_channels, config.kernel_size
        self.conv_pre = nn.Conv1d(config.num_mel_bins, channels, kernel, padding=kernel // 2)
        self.convs = nn.ModuleList(
            nn.Conv1d(channels, channels, kernel, dilation=dilation, padding=dilation * (kernel // 2))
            for dilation in config.dilations
        )
        self.conv_post = nn.Conv1d(channels, config.n_fft // 2 + 1, kernel_size=1)
        # Log-mels span [log(floor), ~0]: centred and scaled by half the floor's log, they lie in about [-1, 1].
        self.input_centre = float(self.front_end.log_scale(np.float64(config.mel_floor))) / 2
        self.post_init()

    def _init_weights(self, module: nn.Module) -> None:
        if module is self.conv_post:
            nn.init.zeros_(module.weight)
            nn.init.zeros_(module.bias)

    def forward(
        self, input_features: torch.Tensor, return_dict: bool | None = None
    ) -> MelAmplitudeRefinerOutput | tuple[torch.Tensor]:
        """input_features: `(batch, frames, num_mel_bins)` or `(frames, num_mel_bins)` log-mels (config preset)."""
        if input_features.dim() == 2:
            input_features = input_features.unsqueeze(0)
        if input_features.dim() != 3 or input_features.shape[-1] != self.config.num_mel_bins:
            raise ValueError(
                f"input_features must be (batch, frames, {self.config.num_mel_bins}) or (frames,"
                f" {self.config.num_mel_bins}), got shape {tuple(input_features.shape)}."
            )
        prior = self.front_end.pseudo_inverse_amplitude(input_features).log()
        slope = self.config.leaky_relu_slope
        hidden = self.conv_pre((input_features.transpose(1, 2) - self.input_centre) / -self.input_centre)
        for conv in self.convs:
            hidden = hidden + conv(nn.functional.leaky_relu(hidden, slope))
        residual = self.conv_post(nn.functional.leaky_relu(hidden, slope)).transpose(1, 2)
        log_amplitude = torch.maximum(prior + residual, prior.new_tensor(self.config.mel_floor).log())
        return_dict = return_dict if return_dict is not None else self.config.return_dict
        return MelAmplitudeRefinerOutput(log_amplitude=log_amplitude) if return_dict else (log_amplitude,)


__all__ = ["MelAmplitudeRefiner", "MelAmplitudeRefinerOutput"]
