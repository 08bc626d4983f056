"""Configuration of the MelGAN-VC / TraVeLGAN style-transfer model (log-mel of domain A → log-mel of domain B)."""

from __future__ import annotations

from typing import Any

from huggingface_hub.dataclasses import strict

from .configuration_melgan import MelFrontEndConfig, MelGANConfig


@strict
class MelGANVCConfig(MelFrontEndConfig):
    r"""
    Mel front end (must equal the vocoder's): sampling_rate, n_fft, hop_length, win_length, num_mel_bins, fmin, fmax,
    mel_log, mel_floor, mel_preset (`MelFrontEndConfig`).

    Normalisation: mel_low / mel_high, one value per mel bin (robust minimum and maximum of the training mels),
    map log-mels to [-1, 1] for the generator's tanh output; computed from the training data by the trainer.

    Networks (1-D convolutions over time, the mel bins are channels, so the first conv spans all of them):
        hidden_channels (width of the first level; doubled per level), num_levels (U-Net down/up levels; slices are
        padded to a multiple of 2**num_levels frames), num_bottleneck_blocks, critic_channels, siamese_channels,
        siamese_dim (length of the siamese vector), leaky_relu_slope.
    Slices: segment_frames (training slice length; also the inference chunk), chunk_overlap_frames (crossfade).
    """

    model_type = "melgan_vc"

    mel_low: list[float] | None = None
    mel_high: list[float] | None = None

    hidden_channels: int = 64
    num_levels: int = 2
    num_bottleneck_blocks: int = 2
    critic_channels: int = 64
    siamese_channels: int = 64
    siamese_dim: int = 128
    leaky_relu_slope: float = 0.2

    segment_frames: int = 64
    chunk_overlap_frames: int = 16

    @classmethod
    def from_vocoder_config(cls, vocoder_config: MelGANConfig, **overrides: Any) -> MelGANVCConfig:
        """A style config on exactly the mel front end of a vocoder, so its outputs can be vocoded."""
        return cls(**{**vocoder_config.audio_kwargs, **overrides})

    def check_fields(self) -> None:
        """Raise `ValueError` naming the bad field."""
        super().check_fields()
        for name in (
            "hidden_channels",
            "num_levels",
            "num_bottleneck_blocks",
            "critic_channels",
            "siamese_channels",
            "siamese_dim",
            "segment_frames",
        ):
            value = getattr(self, name)
            if not isinstance(value, int) or isinstance(value, bool) or value <= 0:
                raise ValueError(f"MelGANVCConfig.{name} must be a positive integer, got {value!r}.")
        if self.segment_frames % 2**self.num_levels:
            raise ValueError(
                f"MelGANVCConfig.segment_frames ({self.segment_frames}) must be a multiple of 2**num_levels"
                f" ({2**self.num_levels})."
            )
        if not 0 <= self.chunk_overlap_frames <= self.segment_frames // 2:
            raise ValueError(
                "MelGANVCConfig.chunk_overlap_frames must be in [0, segment_frames / 2], got"
                f" {self.chunk_overlap_frames}."
            )
        for name in ("mel_low", "mel_high"):
            values = getattr(self, name)
            if values is not None and len(values) != self.num_mel_bins:
                raise ValueError(
                    f"MelGANVCConfig.{name} needs {self.num_mel_bins} values (one per mel bin), got {len(values)}."
                )
        if self.mel_low is not None and self.mel_high is not None:
            if any(high <= low for low, high in zip(self.mel_low, self.mel_high, strict=True)):
                raise ValueError("MelGANVCConfig.mel_high must be above mel_low in every mel bin.")
        if not 0 <= self.leaky_relu_slope < 1:
            raise ValueError(f"MelGANVCConfig.leaky_relu_slope must be in [0, 1), got {self.leaky_relu_slope}.")


__all__ = ["MelGANVCConfig"]
