"""The project's one log-mel implementation: features, losses, training, evaluation and the app all call it."""

from __future__ import annotations

import math
import warnings
from collections.abc import Sequence
from typing import Any

import librosa
import numpy as np
import torch
from transformers import BatchFeature, SequenceFeatureExtractor

from .configuration_melgan import MEL_PRESETS, MelFrontEndConfig


class MelGANFeatureExtractor(SequenceFeatureExtractor):
    """
    Log-mel spectrogram as the MelGAN family computes it: the signal is reflect-padded by `(n_fft - hop_length) / 2`
    on both sides, framed without centring (so a clip of `n` samples gives `n // hop_length` frames and the vocoder
    returns exactly `frames * hop_length` samples), STFT magnitude, librosa's Slaney mel filters, then
    `log(max(mel, mel_floor))` in base 10 or e. Defaults are the `"melgan"` preset; see `from_preset`.
    """

    model_input_names = ["input_features", "padding_mask"]  # noqa: RUF012 - transformers API

    def __init__(
        self,
        feature_size: int = 80,
        sampling_rate: int = 22050,
        n_fft: int = 1024,
        hop_length: int = 256,
        win_length: int = 1024,
        fmin: float = 0.0,
        fmax: float | None = None,
        mel_log: str = "log10",
        mel_floor: float = 1e-5,
        mel_preset: str | None = "melgan",
        padding_value: float | None = None,
        **kwargs: Any,
    ) -> None:
        kwargs.pop("num_mel_bins", None)
        self.n_fft = n_fft
        self.hop_length = hop_length
        self.win_length = win_length
        self.fmin = fmin
        self.fmax = fmax
        self.mel_log = mel_log
        self.mel_floor = mel_floor
        self.mel_preset = mel_preset
        # Validates every value with the same messages as the model config.
        MelFrontEndConfig(**self._audio_fields(feature_size, sampling_rate))
        if padding_value is None:
            padding_value = float(self.log_scale(np.float64(mel_floor)))
        super().__init__(feature_size=feature_size, sampling_rate=sampling_rate, padding_value=padding_value, **kwargs)
        self.mel_filters = librosa.filters.mel(
            sr=sampling_rate, n_fft=n_fft, n_mels=feature_size, fmin=fmin, fmax=fmax, htk=False, norm="slaney"
        ).astype(np.float32)
        self._torch_cache: dict[tuple, Any] = {}  # window and filters, pseudo-inverse, per device and dtype

    def _audio_fields(self, feature_size: int, sampling_rate: int) -> dict[str, Any]:
        return {
            "sampling_rate": sampling_rate,
            "num_mel_bins": feature_size,
            "n_fft": self.n_fft,
            "hop_length": self.hop_length,
            "win_length": self.win_length,
            "fmin": self.fmin,
            "fmax": self.fmax,
            "mel_log": self.mel_log,
            "mel_floor": self.mel_floor,
            "mel_preset": self.mel_preset,
        }

    @property
    def num_mel_bins(self) -> int:
        return self.feature_size

    @property
    def audio_fields(self) -> dict[str, Any]:
        """This front end as `MelGANConfig` fields, so a model and its features can be checked against each other."""
        return self._audio_fields(self.feature_size, self.sampling_rate)

    @classmethod
    def from_preset(cls, preset: str, **overrides: Any) -> MelGANFeatureExtractor:
        """`"melgan"` (original), `"hifigan"` (Tacotron 2 / HiFi-GAN compatible) or `"speech16k"`."""
        return cls.from_config(MelFrontEndConfig.from_preset(preset, **overrides))

    @classmethod
    def from_config(cls, config: MelFrontEndConfig) -> MelGANFeatureExtractor:
        fields = config.audio_kwargs
        return cls(feature_size=fields.pop("num_mel_bins"), **fields)

    def to_dict(self) -> dict[str, Any]:
        output = super().to_dict()
        for key in ("mel_filters", "_torch_cache"):
            output.pop(key, None)
        return output

    def log_scale(self, magnitude: Any) -> Any:
        """Clamp to `mel_floor`, then take the preset's log (works on numpy arrays and torch tensors)."""
        lib = torch if isinstance(magnitude, torch.Tensor) else np
        clamped = lib.clip(magnitude, self.mel_floor, None) if lib is np else magnitude.clamp(min=self.mel_floor)
        return lib.log10(clamped) if self.mel_log == "log10" else lib.log(clamped)

    def inverse_log_scale(self, log_mel: np.ndarray) -> np.ndarray:
        """Back from the log scale to linear mel magnitudes (for Griffin-Lim)."""
        return np.power(10.0, log_mel) if self.mel_log == "log10" else np.exp(log_mel)

    def to_decibels(self, log_mel: np.ndarray) -> np.ndarray:
        """This preset's log-mel as dB (`20 log10` of the mel magnitude), whatever its log base: for plots."""
        return log_mel * (20.0 if self.mel_log == "log10" else 20.0 / np.log(10.0))

    @property
    def mel_frequencies(self) -> np.ndarray:
        """Centre frequency in Hz of each mel bin (the filters' Slaney scale), for labelling a frequency axis."""
        fmax = self.fmax if self.fmax is not None else self.sampling_rate / 2
        return librosa.mel_frequencies(self.feature_size + 2, fmin=self.fmin, fmax=fmax, htk=False)[1:-1]

    def _cached(self, key: tuple, make: Any) -> Any:
        """`make()` once per key (window, filters, bases per device and dtype). Not while exporting: tensors
        made under tracing are the tracer's and would poison every later call."""
        if _exporting():
            return make()
        if key not in self._torch_cache:
            self._torch_cache[key] = make()
        return self._torch_cache[key]

    def _window_and_filters(self, device: torch.device, dtype: torch.dtype) -> tuple[torch.Tensor, torch.Tensor]:
        return self._cached(
            (device, dtype),
            lambda: (
                torch.hann_window(self.win_length, device=device, dtype=dtype),
                torch.from_numpy(self.mel_filters).to(device=device, dtype=dtype),
            ),
        )

    def mel_spectrogram(self, waveforms: torch.Tensor, chunk_frames: int | None = None) -> torch.Tensor:
        """
        Differentiable log-mel of `(batch, samples)` or `(samples,)` audio on any device → `(batch, frames,
        num_mel_bins)` with `frames = samples // hop_length`. Clips must be at least one hop long. With
        `chunk_frames`, the STFT runs on that many frames at a time (same result, bounded memory for long audio).
        """
        return self._framewise(waveforms, chunk_frames, self._log_mel_of_padded)

    def magnitude_spectrogram(self, waveforms: torch.Tensor) -> torch.Tensor:
        """
        The STFT magnitudes the mel is made of: `(batch, frames, n_fft // 2 + 1)`, the same frames as
        `mel_spectrogram` (targets for models that predict amplitudes from the mel).
        """
        return self._framewise(waveforms, None, lambda padded: self._magnitude_of_padded(padded).transpose(1, 2))

    def log_mel_from_magnitude(self, magnitude: torch.Tensor) -> torch.Tensor:
        """`(batch, frames, n_fft // 2 + 1)` STFT magnitude → `(batch, frames, num_mel_bins)` log-mel, as
        `mel_spectrogram` makes it: for code that needs both without running the STFT twice."""
        _, filters = self._window_and_filters(magnitude.device, magnitude.dtype)
        return self.log_scale(torch.matmul(filters, magnitude.transpose(1, 2))).transpose(1, 2)

    def complex_spectrogram(self, waveforms: torch.Tensor) -> torch.Tensor:
        """The complex STFT behind the mel: `(batch, frames, n_fft // 2 + 1)`, the same frames as `mel_spectrogram`."""
        return self._framewise(waveforms, None, lambda padded: self._stft_of_padded(padded).transpose(1, 2))

    def inverse_spectrogram(self, spectrum: torch.Tensor) -> torch.Tensor:
        """
        `(batch, frames, n_fft // 2 + 1)` complex STFT in this front end's framing → `(batch, frames * hop_length)`
        audio: the exact inverse of `complex_spectrogram` (differentiable). See `inverse_spectrogram_parts`.
        """
        return self.inverse_spectrogram_parts(spectrum.real.transpose(1, 2), spectrum.imag.transpose(1, 2))

    def spectrogram_parts(self, waveforms: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """
        `(batch, samples)` audio → real and imaginary STFT parts, each `(batch, n_fft // 2 + 1, frames)` (the
        frames of `mel_spectrogram`), channels-first as frame-rate convs use them. Real tensors in and out: under
        ONNX export it runs as a strided conv with the windowed DFT basis (ONNX graphs hold no complex numbers);
        otherwise as an FFT, ~20× faster on the CPU.
        """
        return self._framewise(waveforms, None, self._parts_of_padded)

    def _parts_of_padded(self, padded: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        if not _exporting():
            spectrum = self._stft_of_padded(padded)
            return spectrum.real, spectrum.imag
        forward_basis, _ = self._dft_bases(padded.device, padded.dtype)
        return torch.nn.functional.conv1d(padded.unsqueeze(1), forward_basis, stride=self.hop_length).chunk(2, dim=1)

    def inverse_spectrogram_parts(self, real: torch.Tensor, imaginary: torch.Tensor) -> torch.Tensor:
        """
        Real and imaginary STFT parts `(batch, n_fft // 2 + 1, frames)` → `(batch, frames * hop_length)` audio:
        inverse DFT, window, overlap-add, divided by the summed squared window, then the front end's padding cut
        off. Inverts `spectrogram_parts` exactly; what an iSTFT vocoder head runs (a transposed conv with the
        inverse DFT basis under ONNX export, an inverse FFT and `_overlap_add` otherwise).
        """
        count, hop, pad = real.shape[-1], self.hop_length, (self.n_fft - self.hop_length) // 2
        window = self._padded_window(real.device, real.dtype)
        if _exporting():
            _, inverse_basis = self._dft_bases(real.device, real.dtype)
            parts = torch.cat([real, imaginary], dim=1)
            signal = torch.nn.functional.conv_transpose1d(parts, inverse_basis, stride=hop)[:, 0]
        else:
            spectrum = torch.complex(real, imaginary).transpose(1, 2)
            signal = self._overlap_add(torch.fft.irfft(spectrum, n=self.n_fft, dim=-1) * window)
        norm = self._overlap_add((window**2).expand(1, count, -1))
        return (signal / norm.clamp(min=1e-8))[:, pad : pad + count * hop]

    def _overlap_add(self, frames: torch.Tensor) -> torch.Tensor:
        """`(batch, frames, n_fft)` → `(batch, (frames - 1) * hop + n_fft)`: frame t added at sample t * hop. When
        hop divides n_fft, as a few shifted sums of hop-long pieces (5x faster than `fold` on the CPU)."""
        batch, count, hop = frames.shape[0], frames.shape[1], self.hop_length
        if self.n_fft % hop:
            length = (count - 1) * hop + self.n_fft
            return torch.nn.functional.fold(frames.transpose(1, 2), (1, length), (1, self.n_fft), stride=(1, hop))[
                :, 0, 0
            ]
        pieces = self.n_fft // hop
        chunks = frames.reshape(batch, count, pieces, hop)
        signal = frames.new_zeros(batch, count + pieces - 1, hop)
        for piece in range(pieces):
            signal[:, piece : piece + count] += chunks[:, :, piece]
        return signal.reshape(batch, -1)

    def _padded_window(self, device: torch.device, dtype: torch.dtype) -> torch.Tensor:
        """The analysis window centred in `n_fft` samples, as `torch.stft` applies it."""
        window, _ = self._window_and_filters(device, dtype)
        return torch.nn.functional.pad(window, ((self.n_fft - self.win_length) // 2,) * 2)

    def _dft_bases(self, device: torch.device, dtype: torch.dtype) -> tuple[torch.Tensor, torch.Tensor]:
        """Conv weights `(2 * bins, 1, n_fft)`: the windowed forward DFT (cos, -sin) and the windowed inverse rDFT."""
        return self._cached(("dft", device, dtype), lambda: self._make_dft_bases(device, dtype))

    def _make_dft_bases(self, device: torch.device, dtype: torch.dtype) -> tuple[torch.Tensor, torch.Tensor]:
        window = self._padded_window(torch.device("cpu"), torch.float64)
        bins = torch.arange(self.n_fft // 2 + 1, dtype=torch.float64)
        angle = 2 * math.pi * bins[:, None] * torch.arange(self.n_fft, dtype=torch.float64) / self.n_fft
        forward = torch.cat([angle.cos(), -angle.sin()]) * window
        # irfft: bins 1 … n_fft/2 - 1 count twice (their conjugate mirror), DC and Nyquist once
        weight = torch.full_like(bins, 2.0)
        weight[0] = 1.0
        if self.n_fft % 2 == 0:
            weight[-1] = 1.0
        inverse = torch.cat([angle.cos(), -angle.sin()]) * (weight.repeat(2)[:, None] / self.n_fft) * window
        return tuple(basis.unsqueeze(1).to(device=device, dtype=dtype) for basis in (forward, inverse))

    def pseudo_inverse_amplitude(self, log_mel: torch.Tensor) -> torch.Tensor:
        """
        `(..., frames, mels)` log-mel → `(..., frames, n_fft // 2 + 1)` STFT amplitude by the filter bank's
        pseudo-inverse, floored at `mel_floor`: the amplitude prior that FreeV-style vocoders refine.
        """
        inverse = self._cached(
            ("pinv", log_mel.device, log_mel.dtype),
            lambda: torch.from_numpy(np.linalg.pinv(self.mel_filters.astype(np.float64)).T.astype(np.float32)).to(
                device=log_mel.device, dtype=log_mel.dtype
            ),  # (mels, bins)
        )
        linear = 10.0**log_mel if self.mel_log == "log10" else torch.exp(log_mel)
        return torch.matmul(linear, inverse).clamp(min=self.mel_floor)

    def _framewise(self, waveforms: torch.Tensor, chunk_frames: int | None, transform: Any) -> torch.Tensor:
        """Pad as the MelGAN front end does and apply `transform` to the padded signal (in chunks of frames)."""
        if waveforms.dim() == 1:
            waveforms = waveforms.unsqueeze(0)
        if waveforms.dim() == 3 and waveforms.shape[1] == 1:
            waveforms = waveforms.squeeze(1)
        if waveforms.dim() != 2:
            raise ValueError(f"waveforms must be (batch, samples) or (samples,), got shape {tuple(waveforms.shape)}.")
        num_samples = waveforms.shape[-1]
        if num_samples < self.hop_length:
            raise ValueError(
                f"Audio of {num_samples} samples is shorter than one hop ({self.hop_length} samples,"
                f" {self.hop_length / self.sampling_rate * 1000:.0f} ms): too short for a single mel frame."
            )
        compute_dtype = torch.float32 if waveforms.dtype in (torch.float16, torch.bfloat16) else waveforms.dtype
        waveforms = waveforms.to(compute_dtype)
        pad = (self.n_fft - self.hop_length) // 2
        # Reflection needs more samples than the pad; very short clips fall back to zero padding.
        mode = "reflect" if num_samples > pad else "constant"
        padded = torch.nn.functional.pad(waveforms.unsqueeze(1), (pad, pad), mode=mode).squeeze(1)
        frames = num_samples // self.hop_length
        if chunk_frames is None or frames <= chunk_frames:
            return transform(padded)
        # Frame i reads padded samples [i * hop, i * hop + n_fft): slicing there gives exactly the same frames.
        hop, chunks = self.hop_length, []
        for start in range(0, frames, chunk_frames):
            stop = min(start + chunk_frames, frames)
            chunks.append(transform(padded[:, start * hop : (stop - 1) * hop + self.n_fft]))
        return torch.cat(chunks, dim=1)

    def _magnitude_of_padded(self, padded: torch.Tensor) -> torch.Tensor:
        """`(batch, bins, frames)` STFT magnitude of an already padded signal."""
        return self._stft_of_padded(padded).abs()

    def _stft_of_padded(self, padded: torch.Tensor) -> torch.Tensor:
        """`(batch, bins, frames)` complex STFT of an already padded signal (frames not centred)."""
        window, _ = self._window_and_filters(padded.device, padded.dtype)
        return torch.stft(
            padded,
            n_fft=self.n_fft,
            hop_length=self.hop_length,
            win_length=self.win_length,
            window=window,
            center=False,
            return_complex=True,
        )

    def _log_mel_of_padded(self, padded: torch.Tensor) -> torch.Tensor:
        return self.log_mel_from_magnitude(self._magnitude_of_padded(padded).transpose(1, 2))

    def __call__(
        self,
        raw_audio: np.ndarray | torch.Tensor | Sequence[np.ndarray] | Sequence[float],
        sampling_rate: int | None = None,
        padding: bool | str = True,
        max_length: int | None = None,
        return_tensors: str | None = None,
        return_padding_mask: bool = True,
        device: str | torch.device = "cpu",
    ) -> BatchFeature:
        """
        Log-mels of one clip (1-D) or a batch (2-D array or list of 1-D clips of any lengths) of mono float audio.

        Returns `input_features` `(batch, frames, num_mel_bins)` padded with `padding_value` (the log of the floor,
        i.e. silence) and `padding_mask` `(batch, frames)`, 1 on real frames; its row sums are the frame counts.
        """
        if sampling_rate is None:
            warnings.warn(
                f"No sampling_rate passed to {type(self).__name__}; assuming {self.sampling_rate} Hz. Pass it to"
                " catch audio at the wrong rate, which silently gives wrong mels.",
                UserWarning,
                stacklevel=2,
            )
        elif sampling_rate != self.sampling_rate:
            raise ValueError(
                f"Audio at {sampling_rate} Hz given to a feature extractor for {self.sampling_rate} Hz; resample it"
                " first (melgan_hf.load_audio(path, sampling_rate=...) does)."
            )
        clips = self._as_clips(raw_audio)
        features = []
        with torch.no_grad():
            for clip in clips:
                mel = self.mel_spectrogram(torch.as_tensor(clip, dtype=torch.float32, device=device))
                features.append(mel[0].cpu().numpy())
        batch = BatchFeature({"input_features": features})
        padded = self.pad(
            batch,
            padding=padding,
            max_length=max_length,
            return_attention_mask=return_padding_mask,
            return_tensors=return_tensors,
        )
        if return_padding_mask:
            padded["padding_mask"] = padded.pop("attention_mask")
        return padded

    @staticmethod
    def _as_clips(raw_audio: Any) -> list[np.ndarray]:
        if isinstance(raw_audio, torch.Tensor):
            raw_audio = raw_audio.detach().cpu().numpy()
        if isinstance(raw_audio, np.ndarray):
            if raw_audio.ndim == 1:
                clips = [raw_audio]
            elif raw_audio.ndim == 2:
                clips = list(raw_audio)
            else:
                raise ValueError(f"Audio must be 1-D (samples) or 2-D (batch, samples), got shape {raw_audio.shape}.")
        elif isinstance(raw_audio, (list, tuple)) and raw_audio and np.ndim(raw_audio[0]) == 0:
            clips = [np.asarray(raw_audio)]
        elif isinstance(raw_audio, (list, tuple)):
            clips = [np.asarray(clip.detach().cpu() if isinstance(clip, torch.Tensor) else clip) for clip in raw_audio]
        else:
            raise ValueError(f"Audio must be a numpy array, torch tensor or list of them, got {type(raw_audio)}.")
        if not clips:
            raise ValueError("No audio given: the batch is empty.")
        for index, clip in enumerate(clips):
            if clip.ndim != 1:
                raise ValueError(f"Clip {index} must be mono 1-D audio, got shape {clip.shape}; mix it down first.")
            if clip.size == 0:
                raise ValueError(f"Clip {index} is empty (0 samples).")
            if not np.issubdtype(clip.dtype, np.number) or not np.all(np.isfinite(clip)):
                raise ValueError(f"Clip {index} contains NaN, infinite or non-numeric samples.")
        return [clip.astype(np.float32, copy=False) for clip in clips]


def _exporting() -> bool:
    """Whether the code runs under ONNX or `torch.export` tracing (where complex tensors cannot go)."""
    return torch.onnx.is_in_onnx_export() or torch.compiler.is_exporting()


def batched_log_mel(input_features: torch.Tensor, num_mel_bins: int) -> torch.Tensor:
    """A model's `input_features`, `(batch, frames, num_mel_bins)` or one unbatched `(frames, num_mel_bins)`, as a
    batch; ValueError naming the expected and the given shape for anything else, empty clips included."""
    if input_features.dim() == 2:
        input_features = input_features.unsqueeze(0)
    if input_features.dim() != 3 or input_features.shape[-1] != num_mel_bins or not input_features.shape[1]:
        raise ValueError(
            f"input_features must be (batch, frames, {num_mel_bins}) or (frames, {num_mel_bins}) with frames > 0,"
            f" got shape {tuple(input_features.shape)}."
        )
    return input_features


def samples_to_cover(num_samples: int, hop_length: int) -> int:
    """Length to pad a clip to so that its frames cover every sample: the next multiple of `hop_length`."""
    return max(1, math.ceil(num_samples / hop_length)) * hop_length


__all__ = ["MEL_PRESETS", "MelGANFeatureExtractor", "batched_log_mel"]
