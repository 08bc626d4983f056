"""User-facing inference: vocoders (mel → audio, copy-synthesis) and the style-transfer pipeline (audio → audio)."""

from __future__ import annotations

import os
import tempfile
import warnings
from copy import deepcopy
from pathlib import Path
from typing import Any

import librosa
import numpy as np
import torch
from huggingface_hub import HfApi
from transformers import AutoConfig

from .audio import SILENCE_PEAK, resample, to_mono_float32
from .configuration_knn_vc import KnnVCConfig
from .configuration_melgan import MelGANConfig
from .configuration_ppg_vc import PPGVCConfig
from .feature_extraction_melgan import MelGANFeatureExtractor, samples_to_cover
from .inference import MelGANInferenceGenerator, native_bf16
from .modeling_amplitude_refiner import MelAmplitudeRefiner
from .modeling_knn_vc import KnnVCModel
from .modeling_melgan import MelGANDiscriminator, MelGANGenerator
from .modeling_melgan_vc import MelGANVCModel
from .modeling_ppg_vc import PPGVCModel
from .pitch import track_pitch
from .shipped import ANY_VOICE_CONVERTER, resolve_model

DISCRIMINATOR_SUBFOLDER = "discriminator"
VOCODER_SUBFOLDER = "vocoder"  # a style model's vocoder, inside its folder


def _as_mel_batch(mel: np.ndarray | torch.Tensor, num_mel_bins: int) -> tuple[torch.Tensor, bool]:
    """`(frames, mels)` or `(batch, frames, mels)` → float32 `(batch, frames, mels)` and whether it was batched."""
    array = mel.detach().cpu().numpy() if isinstance(mel, torch.Tensor) else np.asarray(mel)
    if not np.issubdtype(array.dtype, np.number) or np.iscomplexobj(array):
        raise ValueError(f"The mel must hold real numbers, got dtype {array.dtype}.")
    tensor = torch.from_numpy(array.astype(np.float32))
    if tensor.dim() not in (2, 3) or tensor.shape[-1] != num_mel_bins:
        hint = ""
        if tensor.dim() in (2, 3) and tensor.shape[-2] == num_mel_bins:
            hint = " It looks like (mels, frames): transpose it."
        raise ValueError(
            f"Expected a mel of shape (frames, {num_mel_bins}) or (batch, frames, {num_mel_bins}),"
            f" got {tuple(tensor.shape)}.{hint}"
        )
    if tensor.shape[-2] == 0 or tensor.shape[0] == 0:
        raise ValueError(f"The mel is empty (shape {tuple(tensor.shape)}).")
    if not torch.isfinite(tensor).all():
        raise ValueError("The mel contains NaN or infinite values.")
    batched = tensor.dim() == 3
    return (tensor if batched else tensor.unsqueeze(0)), batched


def require_same_front_end(first: tuple[str, dict[str, Any]], second: tuple[str, dict[str, Any]]) -> None:
    """Raise naming every mel front-end field (preset name aside) on which two parts of a pipeline disagree."""
    (first_name, first_fields), (second_name, second_fields) = first, second
    mismatched = {
        key: (value, second_fields[key])
        for key, value in first_fields.items()
        if key != "mel_preset" and value != second_fields[key]
    }
    if mismatched:
        details = ", ".join(f"{key}: {first_name} {a!r} vs {second_name} {b!r}" for key, (a, b) in mismatched.items())
        raise ValueError(f"The mel front end of the {first_name} differs from the {second_name}'s ({details}).")


MEL_CHUNK_FRAMES = 4096  # STFT frames computed at once for long audio (bounded memory, same mel)


def audio_at_rate(audio: np.ndarray, sampling_rate: int, target_rate: int) -> np.ndarray:
    """Mono or `(samples, channels)` audio at any rate → mono float32 at `target_rate` (ValueError for a bad rate)."""
    is_number = isinstance(sampling_rate, (int, float, np.number)) and not isinstance(sampling_rate, bool)
    if not (is_number and np.isfinite(sampling_rate) and sampling_rate > 0):
        raise ValueError(f"sampling_rate must be a positive number of samples per second, got {sampling_rate!r}.")
    return resample(to_mono_float32(audio), sampling_rate, target_rate)


def audio_to_mel(
    audio: np.ndarray, sampling_rate: int, feature_extractor: MelGANFeatureExtractor
) -> tuple[torch.Tensor, int]:
    """
    Mono or `(samples, channels)` audio at any rate → `(frames, mels)` log-mel at the extractor's rate, and the
    length of the resampled audio. The audio is padded to whole frames, so a vocoder reproduces every sample.
    """
    audio = audio_at_rate(audio, sampling_rate, feature_extractor.sampling_rate)
    padded = np.pad(audio, (0, samples_to_cover(audio.size, feature_extractor.hop_length) - audio.size))
    with torch.no_grad():
        mel = feature_extractor.mel_spectrogram(torch.from_numpy(padded), chunk_frames=MEL_CHUNK_FRAMES)
    return mel[0], audio.size


def speech_features(
    audio: np.ndarray, sampling_rate: int, feature_extractor: MelGANFeatureExtractor
) -> tuple[torch.Tensor, np.ndarray]:
    """Audio at `sampling_rate` → its `(frames, mels)` log-mel and F0 per frame (Hz, 0 unvoiced): what a kNN
    converter matches on, for sources and target references alike."""
    mel, _ = audio_to_mel(audio, sampling_rate, feature_extractor)
    audio = audio_at_rate(audio, sampling_rate, feature_extractor.sampling_rate)
    return mel, track_pitch(audio, feature_extractor.sampling_rate, feature_extractor.hop_length, mel.shape[0])


class _Vocoder:
    """Copy-synthesis shared by every vocoder: audio → this vocoder's mel → `decode`."""

    feature_extractor: MelGANFeatureExtractor

    @property
    def sampling_rate(self) -> int:
        return self.feature_extractor.sampling_rate

    def decode(self, mel: np.ndarray | torch.Tensor) -> np.ndarray:
        raise NotImplementedError

    def __call__(self, audio: np.ndarray, sampling_rate: int) -> tuple[np.ndarray, int]:
        """
        Copy-synthesis of mono or `(samples, channels)` audio at any rate: resampled to the vocoder's rate, then
        mel → audio. Returns `(float32 samples, rate)`, exactly as long as the resampled input.
        """
        mel, num_samples = audio_to_mel(audio, sampling_rate, self.feature_extractor)
        return self.decode(mel)[:num_samples], self.sampling_rate


class MelGANVocoder(_Vocoder):
    """
    A MelGAN generator with its feature extractor. `from_pretrained` loads a folder or Hub repo saved by
    `save_pretrained`; `decode` runs the generator with weight norm folded (same outputs, less work).
    """

    def __init__(
        self,
        generator: MelGANGenerator,
        feature_extractor: MelGANFeatureExtractor | None = None,
        discriminator: MelGANDiscriminator | None = None,
        precision: str = "auto",
        compile: bool = False,
    ) -> None:
        self.generator = generator
        self.feature_extractor = feature_extractor or MelGANFeatureExtractor.from_config(generator.config)
        self.discriminator = discriminator
        require_same_front_end(
            ("features", self.feature_extractor.audio_fields), ("model", generator.config.audio_kwargs)
        )
        self._inference_generator: MelGANGenerator | None = None
        self._fast_generator: tuple[tuple, torch.nn.Module] | None = None
        self.precision = precision  # "auto", "fp32", "mixed" or "bf16": what `decode` computes in (`block_dtypes`)
        self.compile = compile  # torch.compile the fast generator (see `fast_generator`)
        # Mel frames decoded at once (~24 s at 22 kHz): bounds memory on long inputs (tens of MB per chunk; the fast
        # generator tiles the signal itself, so longer chunks only save the context decoded twice).
        self.chunk_frames = 2048

    @property
    def config(self) -> MelGANConfig:
        return self.generator.config

    @property
    def context_frames(self) -> int:
        """Extra mel decoded on each side of a chunk and discarded: the generator's receptive field as its config
        now has it (more `phase_iterations`, more reach), so chunked decoding equals one-shot decoding."""
        return self.generator.receptive_field_frames + 1

    @property
    def device(self) -> torch.device:
        return self.generator.device

    @classmethod
    def from_pretrained(
        cls,
        path_or_repo_id: str | os.PathLike,
        *,
        device: str | torch.device | None = None,
        load_discriminator: bool = False,
        precision: str = "auto",
        compile: bool = False,
        **hub_kwargs: Any,
    ) -> MelGANVocoder:
        """
        Load generator and feature extractor (and the discriminator saved beside them, for fine-tuning) from a local
        folder, a Hub repo id or a shipped model's name (`melgan_hf.shipped`). Only safetensors weights are read.
        `precision` and `compile` choose how `decode` computes (`block_dtypes`, `fast_generator`). `hub_kwargs` go
        to transformers (`revision`, `token`, `cache_dir`, `local_files_only`, …).
        """
        path_or_repo_id = resolve_model(path_or_repo_id)
        try:
            generator = load_model(MelGANGenerator, path_or_repo_id, **hub_kwargs)
            feature_extractor = MelGANFeatureExtractor.from_pretrained(path_or_repo_id, **hub_kwargs)
            discriminator = None
            if load_discriminator:
                subfolder = "/".join(filter(None, [hub_kwargs.pop("subfolder", None), DISCRIMINATOR_SUBFOLDER]))
                discriminator = load_model(MelGANDiscriminator, path_or_repo_id, subfolder=subfolder, **hub_kwargs)
        except OSError as error:
            # transformers' messages do not always say which repo failed (offline misses, for one).
            raise OSError(f"Could not load a MelGAN vocoder from {str(path_or_repo_id)!r}: {error}") from error
        vocoder = cls(generator, feature_extractor, discriminator, precision, compile)
        return vocoder.to(device) if device is not None else vocoder

    def to(self, device: str | torch.device) -> MelGANVocoder:
        self.generator.to(device)
        if self.discriminator is not None:
            self.discriminator.to(device)
        self.refresh()
        return self

    def save_pretrained(self, save_directory: str | os.PathLike, **kwargs: Any) -> None:
        """Generator (`config.json`, `model.safetensors`), `preprocessor_config.json`, and `discriminator/`."""
        self.generator.save_pretrained(save_directory, **kwargs)
        self.feature_extractor.save_pretrained(save_directory, **kwargs)
        if self.discriminator is not None:
            self.discriminator.save_pretrained(Path(save_directory) / DISCRIMINATOR_SUBFOLDER, **kwargs)

    def push_to_hub(self, repo_id: str, *, model_card: str | None = None, **kwargs: Any) -> str:
        """Upload what `save_pretrained` writes (and `model_card` as README.md) in one commit; returns its URL."""
        return _push_folder(self.save_pretrained, repo_id, "Upload MelGAN vocoder", model_card, **kwargs)

    @property
    def resolved_precision(self) -> str:
        """`precision` with "auto" resolved for this device (see `block_dtypes`)."""
        choices = ("auto", "fp32", "mixed", "bf16")
        if self.precision not in choices:
            raise ValueError(f"precision must be one of {', '.join(map(repr, choices))}, got {self.precision!r}.")
        if self.precision == "auto":
            return "mixed" if native_bf16(self.device) else "fp32"
        return self.precision

    @property
    def block_dtypes(self) -> tuple[torch.dtype, ...]:
        """
        The dtype each upsampling block of the generator computes in, from `precision`:

        - "fp32": fp32 throughout; equals the generator up to summation order (relative L2 ~1e-7).
        - "mixed": bf16 in the first half of the upsampling blocks (wide channels, most of the FLOPs, where bf16
          runs ~2× faster than fp32), fp32 in the rest and the first and last convs. The later blocks stay fp32
          because their rounding shows as a noise floor in quiet passages. Against the trained generator, on 22
          held-out files (speech, piano, strings) through the shipped vocoder-16k: relative L2 ≤ 9.9e-3 (mean
          7.4e-3), log-mel L1 ≤ 0.012 (mean 0.009), PESQ-wb ≥ 4.62 (benchmarks/bench_fidelity.py).
        - "bf16": bf16 in every block: fastest, but noisier in quiet passages (same files: relative L2 up to
          1.9e-2, log-mel L1 up to 0.15, PESQ-wb down to 4.27).
        - "auto" (default): "mixed" on CPUs that compute bf16 in hardware (AVX512-BF16 or AMX), else "fp32".
        """
        blocks = len(self.config.upsample_ratios)
        bf16_blocks = {"fp32": 0, "mixed": blocks // 2, "bf16": blocks}[self.resolved_precision]
        return (torch.bfloat16,) * bf16_blocks + (torch.float32,) * (blocks - bf16_blocks)

    def inference_generator(self) -> MelGANGenerator:
        """
        A copy of the generator with weight norm folded, in eval mode and fp32, built on first use (export and
        `fast_generator` start from it). The trained generator is left untouched; call `refresh()` after changing
        its weights.
        """
        if self._inference_generator is None:
            folded = MelGANGenerator(self.generator.config)
            folded.load_state_dict(self.generator.state_dict())
            folded.remove_weight_norm()
            self._inference_generator = folded.to(self.generator.device).eval().requires_grad_(False)
        return self._inference_generator

    def fast_generator(self) -> torch.nn.Module:
        """
        What `decode` runs: the folded generator in the fast layout (`MelGANInferenceGenerator`) with
        `block_dtypes`. With `compile=True` its two stages go through `torch.compile` (inductor with weight
        freezing, dynamic length), which fuses the elementwise ops: meant for GPUs, where the convs run as
        standard ops. On the CPU the eager path already runs fused oneDNN ops, and compiling (10-30 s per process)
        was no faster in benchmarks/bench_inference.py. Rebuilt when the settings change.
        """
        key = (self.block_dtypes, self.compile, self.device)
        if self._fast_generator is None or self._fast_generator[0] != key:
            if self.config.generator_head != "waveform":  # iSTFT: frame rate, cheap as it is; multiband: as trained
                generator = self.inference_generator()
                self._fast_generator = (key, lambda mel: generator(mel, return_dict=False)[0])
                return self._fast_generator[1]
            module = MelGANInferenceGenerator(self.inference_generator(), self.block_dtypes).to(self.device)
            if self.compile:
                options = {"dynamic": True, "options": {"freezing": True}}
                module.head, module.tail = (torch.compile(stage, **options) for stage in (module.head, module.tail))
            self._fast_generator = (key, module)
        return self._fast_generator[1]

    def refresh(self) -> None:
        """Forget the folded inference copies (after training or editing `self.generator`)."""
        self._inference_generator = None
        self._fast_generator = None

    def decode(self, mel: np.ndarray | torch.Tensor) -> np.ndarray:
        """
        Log-mel in this vocoder's preset, `(frames, mels)` or `(batch, frames, mels)`, numpy or torch →
        float32 waveform `(frames * hop_length,)` or `(batch, frames * hop_length)`.

        Long mels are decoded in chunks of `chunk_frames` with `context_frames` of extra mel on each side whose
        audio is discarded: the context covers the generator's receptive field, so the result equals one-shot
        decoding (no seams) while memory stays bounded by the chunk size.
        """
        batch, batched = _as_mel_batch(mel, self.config.num_mel_bins)
        hop, frames = self.config.hop_length, batch.shape[1]
        waveforms = np.empty((batch.shape[0], frames * hop), dtype=np.float32)
        generator = self.fast_generator()
        period = self.generator.frame_period  # chunks start on its multiples (see `MelGANGenerator.frame_period`)
        chunk_frames, context_frames = (
            -(-count // period) * period for count in (self.chunk_frames, self.context_frames)
        )
        with torch.inference_mode():
            for start in range(0, frames, chunk_frames):
                end = min(frames, start + chunk_frames)
                left, right = max(0, start - context_frames), min(frames, end + context_frames)
                chunk = batch[:, left:right].to(self.device)
                try:
                    piece = generator(chunk)
                except Exception as error:  # inputs are checked above: only compiling (no C++ compiler, say) can fail
                    if not self.compile:
                        raise
                    message = f"compile=True failed, decoding uncompiled ({type(error).__name__}: {error})"
                    warnings.warn(message, stacklevel=2)
                    self.compile = False
                    generator = self.fast_generator()
                    piece = generator(chunk)
                piece = piece.cpu().numpy()
                waveforms[:, start * hop : end * hop] = piece[:, (start - left) * hop : (end - left) * hop]
        return waveforms if batched else waveforms[0]


class GriffinLimVocoder(_Vocoder):
    """
    The classic phase-reconstruction baseline (librosa) with the same `decode(mel)` call as `MelGANVocoder`. The
    amplitude comes from the mel by non-negative least squares, or, with a `refiner`, from a small trained network
    (`MelAmplitudeRefiner`): a consistent amplitude lifts Griffin-Lim a long way, so it is the second baseline.
    """

    def __init__(
        self,
        feature_extractor: MelGANFeatureExtractor | None = None,
        n_iter: int = 32,
        refiner: MelAmplitudeRefiner | None = None,
    ) -> None:
        self.feature_extractor = feature_extractor or (
            MelGANFeatureExtractor.from_config(refiner.config) if refiner is not None else MelGANFeatureExtractor()
        )
        self.n_iter = n_iter
        self.refiner = refiner.eval() if refiner is not None else None
        if refiner is not None:
            require_same_front_end(
                ("features", self.feature_extractor.audio_fields), ("amplitude refiner", refiner.config.audio_kwargs)
            )

    @classmethod
    def refined(
        cls, refiner: str | os.PathLike, feature_extractor: MelGANFeatureExtractor | None = None, n_iter: int = 32
    ) -> GriffinLimVocoder:
        """Griffin-Lim on the amplitude of a refiner: a shipped name (`amplitude-refiner-16k`), folder or Hub id."""
        return cls(feature_extractor, n_iter, load_model(MelAmplitudeRefiner, resolve_model(refiner)))

    def decode(self, mel: np.ndarray | torch.Tensor) -> np.ndarray:
        batch, batched = _as_mel_batch(mel, self.feature_extractor.num_mel_bins)
        waveforms = np.stack([self._decode_one(item.numpy()) for item in batch])
        return waveforms if batched else waveforms[0]

    def _decode_one(self, log_mel: np.ndarray) -> np.ndarray:
        fe = self.feature_extractor
        if self.refiner is not None:
            with torch.inference_mode():
                log_amplitude = self.refiner(torch.from_numpy(log_mel)).log_amplitude[0]
            magnitude = np.exp(log_amplitude.numpy().T.astype(np.float64))
        else:
            magnitude = librosa.feature.inverse.mel_to_stft(
                fe.inverse_log_scale(log_mel.T.astype(np.float64)),
                sr=fe.sampling_rate,
                n_fft=fe.n_fft,
                power=1.0,
                fmin=fe.fmin,
                fmax=fe.fmax,
                htk=False,
                norm="slaney",
            )
        audio = librosa.griffinlim(
            magnitude,
            n_iter=self.n_iter,
            hop_length=fe.hop_length,
            win_length=fe.win_length,
            center=True,
            random_state=0,
        )
        # librosa centres frame t at t * hop; MelGAN features centre it at t * hop + hop / 2.
        shift = fe.hop_length // 2
        audio = np.pad(audio, (shift, 0))
        target = log_mel.shape[0] * fe.hop_length
        audio = np.pad(audio, (0, max(0, target - audio.size)))[:target]
        return np.clip(audio, -1.0, 1.0).astype(np.float32)


def _push_folder(save: Any, repo_id: str, default_message: str, model_card: str | None, **kwargs: Any) -> str:
    """`save(folder)`, add the model card, and upload the folder as one commit."""
    api = HfApi(token=kwargs.pop("token", None))
    api.create_repo(repo_id, exist_ok=True, private=kwargs.pop("private", None))
    kwargs.setdefault("commit_message", default_message)
    with tempfile.TemporaryDirectory() as folder:
        save(folder)
        if model_card is not None:
            Path(folder, "README.md").write_text(model_card)
        commit = api.upload_folder(repo_id=repo_id, folder_path=folder, **kwargs)
    return commit.commit_url


def load_model(model_class: type, path_or_repo_id: str | os.PathLike, **kwargs: Any) -> Any:
    """`from_pretrained` that reads safetensors only and refuses a checkpoint missing weights instead of
    silently initialising them at random."""
    # fp32 whatever the stored dtype: weights may ship in fp16 to halve their size, but the CPU computes in fp32.
    kwargs.setdefault("dtype", torch.float32)
    model, info = model_class.from_pretrained(path_or_repo_id, use_safetensors=True, output_loading_info=True, **kwargs)
    problems = {name: sorted(keys) for name, keys in info.items() if name != "error_msgs" and keys}
    if problems or info.get("error_msgs"):
        where = f"{path_or_repo_id}" + (f"/{kwargs['subfolder']}" if kwargs.get("subfolder") else "")
        raise ValueError(f"{where}: weights do not match {model_class.__name__}: {problems or info['error_msgs']}")
    return model.eval()


__all__ = [
    "GriffinLimVocoder",
    "MelGANVocoder",
    "StyleTransferPipeline",
    "audio_at_rate",
    "audio_to_mel",
    "load_model",
]


MIN_REFERENCE_SECONDS = 30.0  # of a target voice for kNN conversion; a few minutes sound much better


class StyleTransferPipeline:
    """
    Audio in one style → audio in another, then the vocoder saved with the converter. Three kinds of converter:
    a MelGAN-VC model (log-mel → log-mel on overlapping chunks, crossfaded: timbre transfer), a kNN voice converter
    (`KnnVCModel`: each frame replaced by the target speaker's nearest frames in phone content and pitch, any-to-any
    with `set_target`) or a PPG converter (`PPGVCModel`: content and pitch through a decoder trained on the target).
    Any length and input rate; the output is as long as the input.
    """

    def __init__(
        self,
        model: MelGANVCModel | KnnVCModel | PPGVCModel,
        vocoder: MelGANVocoder,
        feature_extractor: MelGANFeatureExtractor | None = None,
        batch_size: int = 8,
    ) -> None:
        self.model = model.eval()
        self.vocoder = vocoder
        self.feature_extractor = feature_extractor or vocoder.feature_extractor
        self.batch_size = batch_size
        reference = "feature extractor" if feature_extractor is not None else "vocoder"  # whose features are used
        for name, config in (("style model", model.config), ("vocoder", vocoder.config)):
            require_same_front_end((name, config.audio_kwargs), (reference, self.feature_extractor.audio_fields))

    @property
    def sampling_rate(self) -> int:
        return self.feature_extractor.sampling_rate

    @property
    def any_to_any(self) -> bool:
        """Whether `set_target` can point this converter at another voice."""
        return isinstance(self.model, KnnVCModel)

    def _require_any_to_any(self) -> None:
        if not self.any_to_any:
            kind = "PPG decoder" if isinstance(self.model, PPGVCModel) else "MelGAN-VC"
            raise ValueError(
                f"This converter was trained for one target ({kind}); it cannot take a reference voice. A kNN"
                f" converter can, such as the shipped {ANY_VOICE_CONVERTER!r}."
            )

    @classmethod
    def from_pretrained(
        cls,
        path_or_repo_id: str | os.PathLike,
        *,
        device: str | torch.device | None = None,
        precision: str = "auto",
        compile: bool = False,
        **hub_kwargs: Any,
    ) -> StyleTransferPipeline:
        """The style model (whichever kind its config names), its feature extractor and the vocoder in `vocoder/`,
        from a folder, a Hub repo or a shipped model's name (`melgan_hf.shipped`). `precision` and `compile` are
        the vocoder's (`MelGANVocoder`)."""
        path_or_repo_id = resolve_model(path_or_repo_id)
        base = hub_kwargs.pop("subfolder", None) or ""
        try:
            config = AutoConfig.from_pretrained(path_or_repo_id, subfolder=base, **hub_kwargs)
            kinds = ((KnnVCConfig, KnnVCModel), (PPGVCConfig, PPGVCModel))
            model_class = next((model for kind, model in kinds if isinstance(config, kind)), MelGANVCModel)
            model = load_model(model_class, path_or_repo_id, subfolder=base, **hub_kwargs)
            feature_extractor = MelGANFeatureExtractor.from_pretrained(path_or_repo_id, subfolder=base, **hub_kwargs)
        except (OSError, ValueError) as error:
            raise OSError(f"Could not load a style-transfer model from {str(path_or_repo_id)!r}: {error}") from error
        vocoder_folder = "/".join(filter(None, [base, VOCODER_SUBFOLDER]))
        vocoder = MelGANVocoder.from_pretrained(
            path_or_repo_id, subfolder=vocoder_folder, device=device, precision=precision, compile=compile, **hub_kwargs
        )
        if device is not None:
            model.to(device)
        return cls(model, vocoder, feature_extractor)

    def save_pretrained(self, save_directory: str | os.PathLike, **kwargs: Any) -> None:
        self.model.save_pretrained(save_directory, **kwargs)
        self.feature_extractor.save_pretrained(save_directory, **kwargs)
        self.vocoder.save_pretrained(Path(save_directory) / VOCODER_SUBFOLDER, **kwargs)

    def push_to_hub(self, repo_id: str, *, model_card: str | None = None, **kwargs: Any) -> str:
        """Upload the whole converter (model, features, vocoder, card) in one commit; returns its URL."""
        return _push_folder(self.save_pretrained, repo_id, "Upload melgan-hf style transfer", model_card, **kwargs)

    def set_target(self, references: list[tuple[np.ndarray, int]], name: str | None = None) -> None:
        """
        Convert into another voice from now on: `references` are `(audio, rate)` recordings of it (at least
        `MIN_REFERENCE_SECONDS` of speech in all; kNN conversion sounds much better with several minutes). Only for
        any-to-any converters; use only voices whose owners have agreed.
        """
        self._require_any_to_any()
        rate, mels, pitches, seconds = self.sampling_rate, [], [], 0.0
        for audio, audio_rate in references:
            audio = audio_at_rate(audio, audio_rate, rate)
            silent = not audio.size or np.max(np.abs(audio)) < SILENCE_PEAK
            if audio.size < self.feature_extractor.n_fft or not np.isfinite(audio).all() or silent:
                continue
            trimmed, _ = librosa.effects.trim(audio, top_db=40)
            if trimmed.size < self.feature_extractor.n_fft:
                continue
            mel, f0 = speech_features(trimmed, rate, self.feature_extractor)
            mels.append(mel)
            pitches.append(f0)
            seconds += trimmed.size / rate
        if seconds < MIN_REFERENCE_SECONDS:
            raise ValueError(
                f"The target-voice reference holds {seconds:.1f} s of sound; kNN conversion needs at least"
                f" {MIN_REFERENCE_SECONDS:.0f} s of speech (several minutes sound much better)."
            )
        self.model.set_target(mels, pitches, name)

    def with_target(self, references: list[tuple[np.ndarray, int]], name: str | None = None) -> StyleTransferPipeline:
        """A copy converting into the voice of `references` (see `set_target`); this pipeline is left as it was, so a
        server can share one loaded converter between users who each bring a voice."""
        self._require_any_to_any()
        copy = StyleTransferPipeline(deepcopy(self.model), self.vocoder, self.feature_extractor, self.batch_size)
        copy.set_target(references, name)
        return copy

    def convert_mel(self, mel: np.ndarray | torch.Tensor, f0: np.ndarray | None = None) -> np.ndarray:
        """
        `(frames, mels)` log-mel → converted log-mel of the same shape. A kNN converter matches each frame (with
        `f0`, the source's F0 per frame in Hz, on pitch too); a PPG converter decodes the whole utterance. A MelGAN-VC
        model runs on chunks of `segment_frames` (what it was trained on) overlapping by `chunk_overlap_frames`,
        batched, and crossfaded back together, so memory is bounded by the chunk and batch size.
        """
        batch, batched = _as_mel_batch(mel, self.model.config.num_mel_bins)
        if batched:
            return np.stack([self.convert_mel(item) for item in batch.numpy()])
        if isinstance(self.model, (KnnVCModel, PPGVCModel)):
            return self.model.convert(batch[0].to(self.model.device), f0).cpu().numpy()
        config, device = self.model.config, self.model.device
        frames, length, overlap = batch.shape[1], config.segment_frames, config.chunk_overlap_frames
        if frames <= length:
            starts = [0]
        else:
            starts = [*range(0, frames - length, length - overlap), frames - length]
        # Weights ramp up and down over the overlap; dividing by their sum makes the crossfade exact.
        ramp = np.minimum(1.0, np.minimum(np.arange(1, length + 1), np.arange(length, 0, -1)) / (overlap + 1))
        converted = np.zeros((frames, config.num_mel_bins), dtype=np.float64)
        total_weight = np.zeros((frames, 1), dtype=np.float64)
        with torch.inference_mode():
            for first in range(0, len(starts), self.batch_size):
                group = starts[first : first + self.batch_size]
                chunks = torch.cat([batch[:, start : start + length] for start in group]).to(device)
                output = self.model(chunks).converted_features.float().cpu().numpy()
                for start, chunk in zip(group, output, strict=True):
                    weight = ramp[: chunk.shape[0], None]
                    converted[start : start + chunk.shape[0]] += weight * chunk
                    total_weight[start : start + chunk.shape[0]] += weight
        return (converted / total_weight).astype(np.float32)

    def __call__(self, audio: np.ndarray, sampling_rate: int) -> tuple[np.ndarray, int]:
        """Mono or `(samples, channels)` audio at any rate → `(converted float32 audio, rate)`, same duration."""
        audio = audio_at_rate(audio, sampling_rate, self.sampling_rate)
        mel, num_samples = audio_to_mel(audio, self.sampling_rate, self.feature_extractor)
        f0 = None
        if isinstance(self.model, PPGVCModel) or (
            isinstance(self.model, KnnVCModel) and self.model.config.pitch_weight
        ):
            f0 = track_pitch(audio, self.sampling_rate, self.feature_extractor.hop_length, mel.shape[0])
        return self.vocoder.decode(self.convert_mel(mel, f0))[:num_samples], self.sampling_rate
