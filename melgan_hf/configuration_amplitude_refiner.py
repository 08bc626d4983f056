"""Configuration of the amplitude refiner: log-mel → STFT log-amplitude, a residual over the mel's pseudo-inverse."""

from __future__ import annotations

from huggingface_hub.dataclasses import strict

from .configuration_melgan import MelFrontEndConfig, _require_positive


@strict
class MelAmplitudeRefinerConfig(MelFrontEndConfig):
    r"""
    A small frame-rate network that turns a log-mel into a consistent STFT amplitude: it predicts a log-amplitude
    residual over the filter bank's pseudo-inverse (FreeV, 2024), so an untrained one returns the pseudo-inverse.
    Griffin-Lim on its output is the "refined-amplitude Griffin-Lim" baseline every vocoder is scored against.

    Mel front end (must equal the vocoder's): sampling_rate, n_fft, hop_length, win_length, num_mel_bins, fmin, fmax,
    mel_log, mel_floor, mel_preset (`MelFrontEndConfig`).
    Network: hidden_channels, dilations (one residual dilated conv per entry, kernel_size wide), leaky_relu_slope.
    """

    model_type = "melgan_amplitude_refiner"

    hidden_channels: int = 256
    dilations: list[int] | tuple[int, ...] = (1, 2, 4, 8, 16, 1)
    kernel_size: int = 3
    leaky_relu_slope: float = 0.1

    def check_fields(self) -> None:
        super().check_fields()
        _require_positive(self, "hidden_channels")
        if not isinstance(self.kernel_size, int) or self.kernel_size < 1 or self.kernel_size % 2 == 0:
            raise ValueError(
                f"MelAmplitudeRefinerConfig.kernel_size must be an odd positive int, got {self.kernel_size!r}."
            )
        if not self.dilations or any(not isinstance(d, int) or d < 1 for d in self.dilations):
            raise ValueError(f"MelAmplitudeRefinerConfig.dilations must be positive ints, got {self.dilations!r}.")
        if not 0 <= self.leaky_relu_slope < 1:
            raise ValueError(
                f"MelAmplitudeRefinerConfig.leaky_relu_slope must be in [0, 1), got {self.leaky_relu_slope}."
            )


__all__ = ["MelAmplitudeRefinerConfig"]
