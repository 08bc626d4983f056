"""The phone encoder: log-mel frames → phone logits and a content embedding per frame, whoever is speaking."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import torch
from torch import nn
from transformers import PreTrainedModel
from transformers.utils import ModelOutput

from .augment import warp_log_mel
from .configuration_phone_encoder import PhoneEncoderConfig
from .feature_extraction_melgan import batched_log_mel
from .inference import native_bf16

CONTENT_CHUNK_FRAMES = 2048  # frames encoded at once by `content_features` (33 s at 16 kHz, hop 256)


@dataclass
class PhoneEncoderOutput(ModelOutput):
    """
    logits: `(batch, frames, len(config.phones))`; `posteriors()` is their softmax (a phonetic posteriorgram).
    bottleneck: `(batch, frames, bottleneck_channels)`, the content embedding the logits are read from.
    """

    logits: torch.Tensor | None = None
    bottleneck: torch.Tensor | None = None

    def posteriors(self) -> torch.Tensor:
        return self.logits.softmax(dim=-1)


class _ResidualBlock(nn.Module):
    """LayerNorm over each frame's channels (not over time, so padding and chunking reach only nearby frames) → GELU
    → dilated conv → GELU → 1×1, added to the input."""

    def __init__(self, channels: int, kernel_size: int, dilation: int) -> None:
        super().__init__()
        self.norm = nn.LayerNorm(channels)
        self.conv = nn.Conv1d(channels, channels, kernel_size, dilation=dilation, padding=dilation * (kernel_size // 2))
        self.mix = nn.Conv1d(channels, channels, 1)

    def forward(self, hidden: torch.Tensor) -> torch.Tensor:
        activation = nn.functional.gelu
        normalised = self.norm(hidden.transpose(1, 2)).transpose(1, 2)
        return hidden + self.mix(activation(self.conv(activation(normalised))))


def normalise_utterance(log_mel: torch.Tensor, padding_mask: torch.Tensor | None = None) -> torch.Tensor:
    """`(batch, frames, mels)` → zero mean, unit variance per mel bin over each utterance's real frames (cepstral
    mean and variance normalisation): a microphone's gain and equalisation add a constant per bin, which cancels."""
    weight = torch.ones_like(log_mel[..., :1]) if padding_mask is None else padding_mask[..., None].to(log_mel.dtype)
    count = weight.sum(dim=1, keepdim=True).clamp(min=1)
    mean = (log_mel * weight).sum(dim=1, keepdim=True) / count
    variance = ((log_mel - mean).square() * weight).sum(dim=1, keepdim=True) / count
    return (log_mel - mean) / (variance + 1e-4).sqrt() * weight


class PhoneEncoderModel(PreTrainedModel):
    """See `PhoneEncoderConfig`. Frame-rate convs only, so any length runs; a frame depends on
    `receptive_field_frames` on either side and on its utterance's normalisation statistics."""

    config: PhoneEncoderConfig
    config_class = PhoneEncoderConfig
    base_model_prefix = "phone_encoder"
    main_input_name = "input_features"
    input_modalities = "audio"

    def __init__(self, config: PhoneEncoderConfig) -> None:
        super().__init__(config)
        hidden = config.hidden_channels
        self.conv_pre = nn.Conv1d(config.num_mel_bins, hidden, 5, padding=2)
        self.blocks = nn.ModuleList(
            _ResidualBlock(hidden, config.kernel_size, dilation) for dilation in config.dilations
        )
        self.to_bottleneck = nn.Conv1d(hidden, config.bottleneck_channels, 1)
        self.classifier = nn.Conv1d(config.bottleneck_channels, len(config.phones), 1)
        self.post_init()

    @property
    def receptive_field_frames(self) -> int:
        """Frames on either side whose values reach a frame's output (besides the utterance's mean and variance)."""
        return 2 + sum(dilation * (self.config.kernel_size // 2) for dilation in self.config.dilations)

    def forward(
        self,
        input_features: torch.Tensor,
        padding_mask: torch.Tensor | None = None,
        return_dict: bool | None = None,
    ) -> PhoneEncoderOutput | tuple[torch.Tensor, torch.Tensor]:
        r"""
        input_features: `(batch, frames, num_mel_bins)` or `(frames, num_mel_bins)` log-mels in the config's preset.
        padding_mask: `(batch, frames)`, 1 for real frames and 0 for padding (left out of the normalisation).
        """
        input_features = batched_log_mel(input_features, self.config.num_mel_bins)
        logits, bottleneck = self.layers(normalise_utterance(input_features, padding_mask))
        return_dict = return_dict if return_dict is not None else self.config.return_dict
        return PhoneEncoderOutput(logits=logits, bottleneck=bottleneck) if return_dict else (logits, bottleneck)

    def layers(self, normalised: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """The network after the utterance normalisation: `(batch, frames, mels)` → (logits, bottleneck)."""
        hidden = self.conv_pre(normalised.transpose(1, 2))
        for block in self.blocks:
            hidden = block(hidden)
        bottleneck = self.to_bottleneck(nn.functional.gelu(hidden))
        return self.classifier(bottleneck).transpose(1, 2), bottleneck.transpose(1, 2)


@torch.no_grad()
def content_features(
    encoder: PhoneEncoderModel, log_mel: torch.Tensor, kind: str, temperature: float = 1.0
) -> torch.Tensor:
    """`(batch, frames, mels)` → `(batch, frames, width)` what a voice converter keeps of each frame: the unit-length
    bottleneck (`kind="bottleneck"`) or √ of the phone posteriors (`"posteriors"`, unit length too: Hellinger), the
    logits divided by `temperature` first.
    Long input runs in pieces of `CONTENT_CHUNK_FRAMES` with the receptive field as margin, after one normalisation
    over the whole utterance: the same values as one pass, in memory bounded by the piece (10 minutes of audio in
    one pass held ~0.2 GB of activations per layer)."""
    normalised = normalise_utterance(batched_log_mel(log_mel, encoder.config.num_mel_bins))
    frames, margin = normalised.shape[1], encoder.receptive_field_frames
    pieces = []
    for start in range(0, frames, CONTENT_CHUNK_FRAMES):
        first, end = max(0, start - margin), min(frames, start + CONTENT_CHUNK_FRAMES + margin)
        logits, bottleneck = encoder.layers(normalised[:, first:end])
        values = bottleneck if kind == "bottleneck" else (logits / temperature).softmax(dim=-1).sqrt()
        kept = values[:, start - first : start - first + CONTENT_CHUNK_FRAMES]
        pieces.append(nn.functional.normalize(kept.float(), dim=-1))
    return torch.cat(pieces, dim=1)


@torch.no_grad()
def speaker_normalised(
    encoder: PhoneEncoderModel, log_mel: torch.Tensor, factors: Sequence[float], fmin: float, fmax: float
) -> torch.Tensor:
    """Each row of `(batch, frames, mels)` warped in vocal-tract length by whichever of `factors` the encoder reads
    most confidently: the mean over frames of its highest phone posterior (the square of the largest √posterior).
    The choice reads the first `CONTENT_CHUNK_FRAMES` (33 s), all warps in one batch: a fixed cost per utterance,
    however long (six warps add ~0.04 s to a 5 s clip on 2 cores). No factors: the input as it is."""
    if not factors:
        return log_mel
    log_mel = log_mel.float()
    excerpt = log_mel[:, :CONTENT_CHUNK_FRAMES]
    warped = torch.cat([warp_log_mel(excerpt, float(factor), fmin, fmax) for factor in factors])
    fast = native_bf16(log_mel.device)  # bf16 is plenty for a choice among warps, where the CPU has it natively
    with torch.autocast(log_mel.device.type, dtype=torch.bfloat16, enabled=fast):
        certainty = content_features(encoder, warped, "posteriors").amax(dim=-1).square().mean(dim=1)
    best = certainty.reshape(len(factors), log_mel.shape[0]).argmax(dim=0)
    return torch.stack(
        [warp_log_mel(row, float(factors[int(b)]), fmin, fmax) for row, b in zip(log_mel, best, strict=True)]
    )


def content_width(config: PhoneEncoderConfig, kind: str) -> int:
    return config.bottleneck_channels if kind == "bottleneck" else len(config.phones)


__all__ = [
    "PhoneEncoderModel",
    "PhoneEncoderOutput",
    "content_features",
    "content_width",
    "normalise_utterance",
    "speaker_normalised",
]
