"""PPG voice conversion: content + pitch + energy per frame → a decoder that knows only the target speaker's voice."""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
import torch
from torch import nn
from transformers import PreTrainedModel

from .configuration_ppg_vc import PPGVCConfig
from .modeling_knn_vc import KnnVCOutput, convert_each
from .modeling_phone_encoder import (
    PhoneEncoderModel,
    _ResidualBlock,
    content_features,
    content_width,
    speaker_normalised,
)
from .pitch import log_f0_statistics, pitch_features

ENERGY_RANGE_NEPERS = 12.0  # frame energy is read relative to the utterance's loudest frame, down to this far below


class PPGDecoder(nn.Module):
    """`(batch, frames, inputs)` → `(batch, frames, mels)`: a conv in, the phone encoder's blocks, a conv out."""

    def __init__(self, inputs: int, config: PPGVCConfig) -> None:
        super().__init__()
        hidden = config.hidden_channels
        self.conv_pre = nn.Conv1d(inputs, hidden, 5, padding=2)
        self.blocks = nn.ModuleList(_ResidualBlock(hidden, config.kernel_size, d) for d in config.dilations)
        self.conv_post = nn.Conv1d(hidden, config.num_mel_bins, 5, padding=2)

    def forward(self, inputs: torch.Tensor) -> torch.Tensor:
        hidden = self.conv_pre(inputs.transpose(1, 2))
        for block in self.blocks:
            hidden = block(hidden)
        return self.conv_post(nn.functional.gelu(hidden)).transpose(1, 2)


class PPGVCModel(PreTrainedModel):
    """See `PPGVCConfig`. The frozen phone encoder is part of the weights, so a saved converter is complete; frame-rate
    convs only, so any length runs and the output has the input's frames."""

    config: PPGVCConfig
    config_class = PPGVCConfig
    base_model_prefix = "ppg_vc"
    main_input_name = "input_features"
    input_modalities = "audio"

    def __init__(self, config: PPGVCConfig) -> None:
        super().__init__(config)
        self.encoder = PhoneEncoderModel(config.encoder_config())
        inputs = content_width(config.encoder_config(), config.content) + 3  # content, log-F0 z, voicing, energy
        self.decoder = PPGDecoder(inputs, config)
        self.post_init()

    def _init_weights(self, module: nn.Module) -> None:
        """PyTorch's default initialisation; the encoder comes trained and the trainer sets the output bias."""

    def frame_energy(self, log_mel: torch.Tensor) -> torch.Tensor:
        """`(batch, frames, mels)` → `(batch, frames, 1)` log energy relative to each row's loudest frame, in
        [-1, 0]: loudness contour without the microphone's gain."""
        nepers = log_mel * (math.log(10.0) if self.config.mel_log == "log10" else 1.0)
        energy = torch.logsumexp(nepers.float(), dim=-1, keepdim=True)
        relative = energy - energy.amax(dim=1, keepdim=True)
        return relative.clamp(min=-ENERGY_RANGE_NEPERS) / ENERGY_RANGE_NEPERS

    def decoder_inputs(
        self,
        log_mel: torch.Tensor,
        pitch: torch.Tensor,
        temperature: float | None = None,
        vtln_factors: Sequence[float] | None = None,
    ) -> torch.Tensor:
        """`(batch, frames, mels)` log-mels of any speaker and `(batch, frames, 2)` `pitch_features` →
        `(batch, frames, width + 3)`: what the decoder hears, with who spoke left out as far as the encoder can.
        `temperature` and `vtln_factors`: None reads the config's (what conversion uses); training reads the target
        as it is (1.0 and ())."""
        temperature = self.config.content_temperature if temperature is None else temperature
        factors = self.config.vtln_factors if vtln_factors is None else vtln_factors
        heard = speaker_normalised(self.encoder, log_mel, factors, self.config.fmin, self.config.fmax)
        content = content_features(self.encoder, heard, self.config.content, temperature)
        return torch.cat([content, pitch.to(content), self.frame_energy(log_mel)], dim=-1)

    @torch.no_grad()
    def convert(self, log_mel: torch.Tensor, f0: np.ndarray | None = None) -> torch.Tensor:
        """One utterance `(frames, mels)` (with its F0 per frame in Hz, 0 unvoiced) → `(frames, mels)` in the target's
        voice. The source's pitch is read in its own range, so the decoder answers in the target's register."""
        statistics = log_f0_statistics(np.asarray(f0)) if f0 is not None else None
        pitch = torch.from_numpy(pitch_features(f0, log_mel.shape[0], statistics))
        return self.decoder(self.decoder_inputs(log_mel[None].float(), pitch[None]))[0]

    def forward(
        self, input_features: torch.Tensor, f0: torch.Tensor | None = None, return_dict: bool | None = None
    ) -> KnnVCOutput | tuple:
        """`(batch, frames, mels)` log-mels (and optionally `(batch, frames)` F0 in Hz, 0 unvoiced) → converted."""
        return convert_each(self, input_features, f0, return_dict)


__all__ = ["PPGDecoder", "PPGVCModel"]
