"""Configuration of the MelGAN vocoder: mel front end, generator and multi-scale discriminator."""

from __future__ import annotations

import math
from typing import Any

from huggingface_hub.dataclasses import strict
from transformers import PreTrainedConfig

# Mel front ends people actually pair vocoders with. Mismatched mel parameters are the most reported
# vocoder problem, so a preset is named explicitly and recorded in the config and the model card.
_MELGAN_FRONT_END: dict[str, Any] = {
    "sampling_rate": 22050,
    "n_fft": 1024,
    "hop_length": 256,
    "win_length": 1024,
    "num_mel_bins": 80,
    "fmin": 0.0,
    "fmax": None,
    "mel_log": "log10",
    "mel_floor": 1e-5,
}
MEL_PRESETS: dict[str, dict[str, Any]] = {
    # The MelGAN paper / descript melgan-neurips front end.
    "melgan": _MELGAN_FRONT_END,
    # Tacotron 2 / HiFi-GAN (NVIDIA) front end: natural log, mels up to 8 kHz.
    "hifigan": {**_MELGAN_FRONT_END, "fmax": 8000.0, "mel_log": "ln"},
    # 16 kHz speech (telephony-grade corpora, ASR front ends); hop 256 keeps the paper's upsampling ratios.
    "speech16k": {**_MELGAN_FRONT_END, "sampling_rate": 16000, "fmax": 8000.0, "mel_log": "ln"},
}
MEL_LOG_TYPES = ("log10", "ln")
GENERATOR_HEADS = ("waveform", "istft", "multiband")


def _require_positive(config: PreTrainedConfig, name: str) -> None:
    value = getattr(config, name)
    if not isinstance(value, (int, float)) or isinstance(value, bool) or not value > 0:
        raise ValueError(f"{type(config).__name__}.{name} must be a positive number, got {value!r}.")


@strict
class MelFrontEndConfig(PreTrainedConfig):
    """
    The mel front end every model of the project shares (a vocoder and a style model fed to it must agree):
    sampling_rate, n_fft, hop_length, win_length, num_mel_bins, fmin, fmax (None = sampling_rate / 2), mel_log
    (`"log10"` or `"ln"`), mel_floor (magnitudes are clamped to it before the log), mel_preset (the preset the values
    came from, or None when customised).
    """

    sampling_rate: int = 22050
    n_fft: int = 1024
    hop_length: int = 256
    win_length: int = 1024
    num_mel_bins: int = 80
    fmin: float | int = 0.0
    fmax: float | int | None = None
    mel_log: str = "log10"
    mel_floor: float = 1e-5
    mel_preset: str | None = "melgan"

    @classmethod
    def from_preset(cls, preset: str, **overrides: Any) -> MelFrontEndConfig:
        """A config on a named mel preset (see `MEL_PRESETS`); `overrides` change any field."""
        if preset not in MEL_PRESETS:
            raise ValueError(f"Unknown mel preset {preset!r}; choose one of {sorted(MEL_PRESETS)}.")
        return cls(**{**MEL_PRESETS[preset], "mel_preset": preset, **overrides})

    @property
    def audio_kwargs(self) -> dict[str, Any]:
        """The mel front-end fields, as the feature extractor takes them."""
        return {key: getattr(self, key) for key in (*MEL_PRESETS["melgan"], "mel_preset")}

    def __post_init__(self, **kwargs: Any) -> None:
        super().__post_init__(**kwargs)
        self.check_fields()

    def check_fields(self) -> None:
        """Raise `ValueError` naming the bad field: fail at construction, not deep inside a forward pass."""
        owner = type(self).__name__
        for name in ("sampling_rate", "n_fft", "hop_length", "win_length", "num_mel_bins", "mel_floor"):
            _require_positive(self, name)
        if self.win_length > self.n_fft:
            raise ValueError(f"{owner}.win_length ({self.win_length}) must not exceed n_fft ({self.n_fft}).")
        if (self.n_fft - self.hop_length) % 2:
            raise ValueError(
                f"{owner}.n_fft - hop_length must be even (the signal is reflect-padded by half of it on each"
                f" side), got n_fft={self.n_fft}, hop_length={self.hop_length}."
            )
        if self.fmin < 0:
            raise ValueError(f"{owner}.fmin must be >= 0, got {self.fmin}.")
        nyquist = self.sampling_rate / 2
        if self.fmax is not None and not self.fmin < self.fmax <= nyquist:
            raise ValueError(
                f"{owner}.fmax ({self.fmax}) must be above fmin ({self.fmin}) and at most sampling_rate / 2"
                f" ({nyquist})."
            )
        if self.fmin >= nyquist:
            raise ValueError(f"{owner}.fmin ({self.fmin}) must be below sampling_rate / 2 ({nyquist}).")
        if self.mel_log not in MEL_LOG_TYPES:
            raise ValueError(f"{owner}.mel_log must be one of {MEL_LOG_TYPES}, got {self.mel_log!r}.")


@strict
class MelGANConfig(MelFrontEndConfig):
    r"""
    Configuration of a MelGAN vocoder (Kumar et al., 2019). Defaults are the paper's model on the `"melgan"` preset.

    Audio / mel front end (must match the mels the vocoder will be fed):
        sampling_rate, n_fft, hop_length, win_length, num_mel_bins, fmin, fmax (None = sampling_rate / 2),
        mel_log (`"log10"` or `"ln"`), mel_floor (magnitudes are clamped to it before the log),
        mel_preset (name of the preset the values came from, or None when customised).
    Generator:
        upsample_ratios (their product must equal hop_length), ngf (channels of the last block; the first has
        ngf * 2**len(upsample_ratios)), n_residual_layers (dilated residual blocks per scale, dilations 3**j),
        leaky_relu_slope, generator_head.
    generator_head `"waveform"` (default) is the paper's generator: transposed convs up to the sample rate.
    generator_head `"istft"` works at frame rate instead (FreeV 2024, Vocos 2023): an amplitude branch (the mel's
    pseudo-inverse plus a learned log-amplitude residual, the `MelAmplitudeRefiner` network) and a phase branch, each
    `frame_dilations` dilated convs of `frame_channels`, then `phase_iterations` fast Griffin-Lim projections
    (momentum `phase_momentum`) that make the spectrum consistent, and an inverse STFT. With `phase_advance`, the
    phase branch predicts each bin's phase relative to its centre frequency's advance per hop, so a steady tone is a
    constant output, which time-shift-equivariant convs can make (they cannot make a phase that turns frame by
    frame from a steady mel). It ignores upsample_ratios, ngf and n_residual_layers; its cost per second of audio is
    a small fraction of the waveform generator's.
    generator_head `"multiband"` is Multi-band MelGAN (Yang et al., 2020): the same stack, but it makes `num_bands`
    sub-band signals at 1/num_bands of the sample rate (upsample_ratios multiply to hop_length / num_bands), which a
    pseudo-QMF filter bank (`PQMF`, `pqmf_taps`, `pqmf_cutoff`, `pqmf_beta`: the paper's 4-band design) merges into
    the waveform.
    Multi-scale discriminator:
        num_D (scales), ndf (channels of the first layer), n_layers_D (strided grouped layers per scale),
        downsampling_factor (stride of those layers).
    """

    model_type = "melgan"

    upsample_ratios: list[int] | tuple[int, ...] = (8, 8, 2, 2)
    ngf: int = 32
    n_residual_layers: int = 3
    leaky_relu_slope: float = 0.2
    generator_head: str = "waveform"
    frame_channels: int = 256
    frame_dilations: list[int] | tuple[int, ...] = (1, 2, 4, 8, 16, 1)
    phase_iterations: int = 4
    phase_momentum: float = 0.99
    phase_advance: bool = False
    num_bands: int = 4
    pqmf_taps: int = 62
    pqmf_cutoff: float = 0.142
    pqmf_beta: float = 9.0

    num_D: int = 3
    ndf: int = 16
    n_layers_D: int = 4
    downsampling_factor: int = 4

    def check_fields(self) -> None:
        super().check_fields()
        for name in ("ngf", "num_D", "ndf", "n_layers_D", "downsampling_factor"):
            _require_positive(self, name)
        if self.n_residual_layers < 0:
            raise ValueError(f"MelGANConfig.n_residual_layers must be >= 0, got {self.n_residual_layers}.")
        if not self.upsample_ratios:
            raise ValueError("MelGANConfig.upsample_ratios must not be empty.")
        for ratio in self.upsample_ratios:
            if not isinstance(ratio, int) or ratio <= 0:
                raise ValueError(f"MelGANConfig.upsample_ratios must be a positive number each, got {ratio!r}.")
        multiband = self.generator_head == "multiband"
        if multiband:
            for name in ("num_bands", "pqmf_taps"):
                if not isinstance(getattr(self, name), int) or getattr(self, name) < 2:
                    raise ValueError(f"MelGANConfig.{name} must be an int >= 2, got {getattr(self, name)!r}.")
            if self.pqmf_taps % 2 or not 0 < self.pqmf_cutoff < 1 or self.pqmf_beta < 0:
                raise ValueError(
                    "MelGANConfig.pqmf_taps must be even, pqmf_cutoff in (0, 1) and pqmf_beta >= 0, got"
                    f" {self.pqmf_taps}, {self.pqmf_cutoff}, {self.pqmf_beta}."
                )
            if self.hop_length % self.num_bands:
                raise ValueError(
                    f"MelGANConfig.hop_length ({self.hop_length}) must be a multiple of num_bands ({self.num_bands})."
                )
        samples_per_step = self.hop_length // (self.num_bands if multiband else 1)
        if self.generator_head != "istft" and math.prod(self.upsample_ratios) != samples_per_step:
            target = "hop_length / num_bands" if multiband else "hop_length"
            raise ValueError(
                f"MelGANConfig.upsample_ratios {list(self.upsample_ratios)} multiply to"
                f" {math.prod(self.upsample_ratios)}, but must multiply to {target} ({samples_per_step}): the"
                " generator makes hop_length samples per mel frame."
            )
        if not 0 <= self.leaky_relu_slope < 1:
            raise ValueError(f"MelGANConfig.leaky_relu_slope must be in [0, 1), got {self.leaky_relu_slope}.")
        if self.generator_head not in GENERATOR_HEADS:
            raise ValueError(
                f"MelGANConfig.generator_head must be one of {GENERATOR_HEADS}, got {self.generator_head!r}."
            )
        _require_positive(self, "frame_channels")
        if not self.frame_dilations or any(not isinstance(d, int) or d < 1 for d in self.frame_dilations):
            raise ValueError(f"MelGANConfig.frame_dilations must be positive ints, got {self.frame_dilations!r}.")
        if not isinstance(self.phase_iterations, int) or self.phase_iterations < 0:
            raise ValueError(f"MelGANConfig.phase_iterations must be an int >= 0, got {self.phase_iterations!r}.")
        if not 0 <= self.phase_momentum < 1:
            raise ValueError(f"MelGANConfig.phase_momentum must be in [0, 1), got {self.phase_momentum}.")


__all__ = ["GENERATOR_HEADS", "MEL_PRESETS", "MelFrontEndConfig", "MelGANConfig"]
