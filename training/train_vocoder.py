"""Train or fine-tune a MelGAN vocoder on any folder of recordings, with Accelerate.

    accelerate launch training/train_vocoder.py --config training/configs/tiny.yaml --data DIR --output_dir OUT
    python training/train_vocoder.py ...            # one process, same options

Mixed precision, devices and the number of processes come from `accelerate launch` (or `--mixed_precision`).
Checkpoints go to OUT/checkpoints/step_N (atomically); `--resume` continues from the newest complete one with the
same step counter, optimizers, LR schedule and data order. At the end OUT is a `MelGANVocoder.from_pretrained`
folder with the discriminator in OUT/discriminator and a model card in OUT/README.md.
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import math
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from accelerate import Accelerator
from accelerate.utils import set_seed
from tqdm.auto import tqdm

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # `python training/train_vocoder.py` from anywhere

from melgan_hf import (
    MelAmplitudeRefiner,
    MelGANConfig,
    MelGANDiscriminator,
    MelGANFeatureExtractor,
    MelGANGenerator,
    MelGANVocoder,
    save_audio,
)
from melgan_hf.pipelines import load_model, require_same_front_end
from melgan_hf.shipped import resolve_model
from training.common import (
    TrainState,
    append_log,
    apply_overrides,
    budget_clock,
    dataclass_from_dict,
    describe_device,
    format_duration,
    load_yaml,
    make_accelerator,
    make_adam,
    refuse_to_overwrite,
    render_model_card,
    replica_checksums,
    save_checkpoint,
    scalar_hparams,
    write_json,
)
from training.dataset import Clip, DataReport, PrefetchingSampler, SegmentSampler, load_folder, split_by_file
from training.losses import (
    MultiResolutionSTFTLoss,
    discriminator_hinge_loss,
    feature_matching_loss,
    generator_adversarial_loss,
    mel_l1_loss,
    phase_loss,
)


@dataclass
class VocoderTrainingConfig:
    """The `training:` section of a config file. Defaults follow the MelGAN paper, plus HiFi-GAN's mel loss."""

    batch_size: int = 16  # per process
    segment_length: int = 8192  # samples per training segment
    learning_rate: float = 1e-4
    adam_betas: tuple[float, float] = (0.5, 0.9)
    lr_decay: float = 1.0  # per-step exponential decay of both learning rates
    lambda_feat: float = 10.0  # feature matching weight (paper)
    # Mel-L1 weight. HiFi-GAN uses 45 on natural-log mels; it makes the first thousands of steps far more useful
    # than the adversarial losses alone. 0 turns it off (the paper's recipe).
    lambda_mel: float = 45.0
    # Multi-resolution STFT loss weight (spectral convergence + log magnitude at three resolutions; Multi-band
    # MelGAN) and the phase loss weight (APNet's instantaneous phase, group delay and instantaneous frequency, as
    # unit phasors weighted by amplitude). 0 = off (the paper's recipe).
    lambda_stft: float = 0.0
    lambda_phase: float = 0.0
    # The STFT loss's resolutions as [n_fft, hop, window] triples; None = auraloss's ([1024, 120, 600], [2048, 240,
    # 1200], [512, 50, 240]). Hops of n_fft / 4 make the loss ~2× cheaper (cpu16k_istft.yaml).
    stft_resolutions: list[list[int]] | None = None
    # Multiband generators: the same loss on the PQMF sub-bands of the output and the recording (Multi-band MelGAN's
    # sub-band STFT loss, at its resolutions by default). 0 = off.
    lambda_subband_stft: float = 0.0
    subband_stft_resolutions: list[list[int]] | None = ((384, 30, 150), (683, 60, 300), (171, 10, 60))
    # iSTFT generators: L1 on the predicted log amplitude against the recording's (APNet, FreeV); their phase loss is
    # taken on the phase branch's prediction, before the Griffin-Lim projections. 0 = off.
    lambda_amplitude: float = 0.0
    # Generator pre-training (Multi-band MelGAN): the discriminator and the adversarial losses join at this step.
    adversarial_start_step: int = 0
    # iSTFT generators: Griffin-Lim projections in the training step; None = the model's own `phase_iterations`,
    # which validation and the saved model keep. Fewer make steps cheaper at no cost in held-out quality per step
    # (README, "Training throughput").
    phase_iterations: int | None = None
    grad_clip: float | None = 100.0  # max gradient norm per network; None disables clipping
    gradient_accumulation_steps: int = 1
    max_steps: int = 400_000
    save_every: int = 5000
    eval_every: int = 1000
    log_every: int = 50
    keep_checkpoints: int = 3
    validation_files: int = 4  # whole files held out for validation
    validation_seconds: float = 4.0  # per held-out file
    audio_samples: int = 3  # held-out files written as audio at each validation
    trim_top_db: float = 40.0
    # Each segment played at a random speed in [1 - p, 1 + p] (pitch and tempo together): more voices for unseen
    # speakers; ±0.15 lifted the amplitude refiner's held-out PESQ-wb 3.31 → 3.38 at equal CPU time. 0 = off.
    speed_perturbation: float = 0.0
    # With --prematched: the share of segments whose generator input is the kNN-rebuilt mel (the rest keep the
    # recording's own mel, so copy-synthesis stays good).
    prematched_share: float = 0.8
    seed: int = 1234

    def __post_init__(self) -> None:
        self.adam_betas = tuple(float(beta) for beta in self.adam_betas)
        for name in ("batch_size", "segment_length", "max_steps", "save_every", "eval_every", "log_every"):
            if not isinstance(getattr(self, name), int) or getattr(self, name) <= 0:
                raise ValueError(f"training.{name} must be a positive integer, got {getattr(self, name)!r}")
        if self.gradient_accumulation_steps < 1 or self.keep_checkpoints < 1:
            raise ValueError("training.gradient_accumulation_steps and training.keep_checkpoints must be >= 1")
        if self.learning_rate <= 0 or not 0 < self.lr_decay <= 1:
            raise ValueError("training.learning_rate must be > 0 and training.lr_decay in (0, 1]")
        for field in ("stft_resolutions", "subband_stft_resolutions"):
            for resolution in getattr(self, field) or ():
                if len(resolution) != 3 or not all(isinstance(value, int) and value > 0 for value in resolution):
                    raise ValueError(f"training.{field}: each entry is [n_fft, hop, window], got {resolution!r}")
                n_fft, hop, window = resolution
                if not hop <= window <= n_fft:
                    raise ValueError(f"training.{field}: {resolution} needs hop <= window <= n_fft")
        if self.phase_iterations is not None and (
            not isinstance(self.phase_iterations, int) or self.phase_iterations < 0
        ):
            raise ValueError(f"training.phase_iterations must be an int >= 0 or null, got {self.phase_iterations!r}")
        if not 0 <= self.speed_perturbation < 1:
            raise ValueError(f"training.speed_perturbation must be in [0, 1), got {self.speed_perturbation!r}")
        if not 0 <= self.prematched_share <= 1:
            raise ValueError(f"training.prematched_share must be in [0, 1], got {self.prematched_share!r}")


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument(
        "--config", required=True, help="YAML with 'model' (preset + MelGANConfig fields) and 'training'"
    )
    parser.add_argument(
        "--data", required=True, help="folder of recordings (wav/flac/ogg/mp3, any rate, searched recursively)"
    )
    parser.add_argument("--output_dir", required=True, help="where checkpoints, logs, samples and the final model go")
    parser.add_argument("--max_steps", type=int, default=None, help="total optimizer steps (overrides the config)")
    parser.add_argument("--resume", action="store_true", help="continue from the newest checkpoint in --output_dir")
    parser.add_argument(
        "--init_from", default=None, help="start from a saved model (folder or Hub id): G and, if saved, D"
    )
    parser.add_argument(
        "--init_amplitude_from",
        default=None,
        help="start an iSTFT generator's amplitude branch from a MelAmplitudeRefiner (shipped name, folder or Hub id)",
    )
    parser.add_argument(
        "--max_minutes",
        type=float,
        default=None,
        help="stop after this many CPU minutes of training in all (wall-clock minutes on a GPU; resumed runs count on"
        " from their checkpoint)",
    )
    parser.add_argument(
        "--snapshot_every_minutes",
        type=float,
        default=None,
        help="save the generator every this many CPU minutes to OUT/snapshots/cpu_minutes_N (learning curves)",
    )
    parser.add_argument(
        "--prematched",
        default=None,
        metavar="KNN_CONVERTER",
        help="kNN-VC 'prematching' (Baas et al. 2023): the generator also learns from each recording's mel as this"
        " kNN converter rebuilds it from the other recordings in --data (one speaker: the converter's target), so"
        " it renders the averaged frames that conversion makes as crisp speech",
    )
    parser.add_argument(
        "--push_to_hub", default=None, metavar="REPO_ID", help="upload the final model to this Hub repo"
    )
    parser.add_argument(
        "--mixed_precision", choices=["no", "fp16", "bf16"], default=None, help="overrides accelerate's"
    )
    parser.add_argument(
        "--set",
        nargs="+",
        default=[],
        metavar="SECTION.KEY=VALUE",
        help="override config values, e.g. --set training.batch_size=32 training.learning_rate=1e-4",
    )
    parser.add_argument("--no_progress", action="store_true", help="no progress bar (logs still go to TensorBoard)")
    return parser.parse_args(argv)


RUNTIME_MODEL_FIELDS = ("phase_iterations", "phase_momentum")


def load_with_discriminator(path_or_repo_id: str) -> MelGANVocoder:
    """A saved vocoder with its discriminator when one was saved beside it (`vocoder.discriminator` else None)."""
    try:
        return MelGANVocoder.from_pretrained(path_or_repo_id, load_discriminator=True)
    except OSError:
        return MelGANVocoder.from_pretrained(path_or_repo_id)


def build_models(
    model_section: dict[str, Any], init_from: str | None, accelerator: Accelerator
) -> tuple[MelGANGenerator, MelGANDiscriminator, MelGANFeatureExtractor]:
    if init_from:
        vocoder = load_with_discriminator(init_from)
        if vocoder.discriminator is None:
            vocoder.discriminator = MelGANDiscriminator(vocoder.config)
            accelerator.print(f"init: generator from {init_from}; no discriminator saved there, starting a new one")
        else:
            accelerator.print(f"init: generator and discriminator from {init_from}")
        discriminator = vocoder.discriminator
        # Settings that hold no weights follow the config: the projections the saved model runs, say.
        runtime = {key: model_section[key] for key in RUNTIME_MODEL_FIELDS if key in model_section}
        if runtime:
            MelGANConfig.from_dict({**vocoder.config.to_dict(), **runtime})  # validates the values
            vocoder.generator.config.update(runtime)
            accelerator.print(f"init: {runtime} from the config's 'model' section")
        if set(model_section) - set(runtime):
            accelerator.print(
                "init: the rest of the config's 'model' section is ignored; the architecture comes from --init_from"
            )
        return vocoder.generator, discriminator, vocoder.feature_extractor
    section = dict(model_section)
    config = MelGANConfig.from_preset(section.pop("preset", "melgan"), **section)
    return MelGANGenerator(config), MelGANDiscriminator(config), MelGANFeatureExtractor.from_config(config)


def init_amplitude_branch(generator: MelGANGenerator, refiner_name: str) -> None:
    """Copy a trained `MelAmplitudeRefiner` into an iSTFT generator's amplitude branch (same network, same mels)."""
    if generator.config.generator_head != "istft":
        raise SystemExit("--init_amplitude_from needs an iSTFT generator (model.generator_head: istft).")
    try:
        refiner = load_model(MelAmplitudeRefiner, resolve_model(refiner_name))
    except OSError as error:
        raise SystemExit(f"--init_amplitude_from {refiner_name}: cannot load an amplitude refiner: {error}") from error
    require_same_front_end(("generator", generator.config.audio_kwargs), ("refiner", refiner.config.audio_kwargs))
    config, network = generator.config, refiner.config
    ours = (config.frame_channels, list(config.frame_dilations), 3, config.leaky_relu_slope)
    theirs = (network.hidden_channels, list(network.dilations), network.kernel_size, network.leaky_relu_slope)
    if ours != theirs:
        raise SystemExit(
            f"--init_amplitude_from {refiner_name}: its network (channels, dilations, kernel, leaky ReLU slope)"
            f" {theirs} differs from the generator's amplitude branch {ours}."
        )
    generator.amplitude.load_state_dict(refiner.amplitude.state_dict())


class GANStep:
    """
    One micro-batch of MelGAN training: a discriminator update (hinge), then a generator update (adversarial +
    feature matching + mel L1, plus the optional STFT and phase losses). Before `adversarial_start_step` only the
    generator trains, on its reconstruction losses. Inside `accelerator.accumulate`, so optimizers step only on
    synchronising batches.
    """

    def __init__(
        self,
        accelerator: Accelerator,
        generator: torch.nn.Module,
        discriminator: torch.nn.Module,
        optimizer_g: torch.optim.Optimizer,
        optimizer_d: torch.optim.Optimizer,
        features: MelGANFeatureExtractor,
        config: VocoderTrainingConfig,
    ) -> None:
        self.accelerator = accelerator
        self.generator, self.discriminator = generator, discriminator
        # The generator's losses go through the plain discriminator with its weights frozen, so they neither touch
        # its gradients nor trigger its gradient synchronisation.
        self.plain_discriminator = accelerator.unwrap_model(discriminator)
        self.optimizer_g, self.optimizer_d = optimizer_g, optimizer_d
        self.features = features
        self.config = config
        self.stft_loss = None
        if config.lambda_stft:
            front_end = (features.n_fft, features.hop_length, features.win_length)
            self.stft_loss = MultiResolutionSTFTLoss(config.stft_resolutions, front_end).to(accelerator.device)
        self.pqmf, self.subband_stft_loss = None, None  # the sub-band loss splits waveforms with the generator's PQMF
        if config.lambda_subband_stft:
            self.pqmf = accelerator.unwrap_model(generator).pqmf
            self.subband_stft_loss = MultiResolutionSTFTLoss(config.subband_stft_resolutions).to(accelerator.device)

    @contextlib.contextmanager
    def training_projections(self) -> Iterator[None]:
        """The generator runs `training.phase_iterations` projections inside, its own number outside (the graph
        built in the forward pass keeps what it ran, so the backward pass needs nothing more)."""
        config = self.accelerator.unwrap_model(self.generator).config
        inference = config.phase_iterations
        if self.config.phase_iterations is not None:
            config.phase_iterations = self.config.phase_iterations
        try:
            yield
        finally:
            config.phase_iterations = inference

    def __call__(
        self,
        real: torch.Tensor,
        adversarial: bool = True,
        input_mel: torch.Tensor | None = None,
        input_rows: torch.Tensor | None = None,
    ) -> dict[str, float]:
        """`real`: `(batch, samples)` audio on the accelerator's device. `input_mel` `(batch, frames, mels)`: the
        generator's input instead of the recording's own mel in the rows where `input_rows` `(batch,)` is true
        (prematched training); the losses still compare with the recording. Returns the losses."""
        accelerator, config = self.accelerator, self.config
        losses: dict[str, torch.Tensor] = {}
        with accelerator.accumulate(self.generator, self.discriminator):
            real = real.unsqueeze(1)
            with torch.no_grad():  # one STFT of the recording: the mel input and the amplitude and phase targets
                target = self.features.complex_spectrogram(real)
                target_magnitude = target.abs()
                mel = self.features.log_mel_from_magnitude(target_magnitude)
            with accelerator.autocast(), self.training_projections():
                given = mel if input_mel is None else torch.where(input_rows[:, None, None], input_mel, mel)
                output = self.generator(given)
            fake, predicted = output.waveforms.unsqueeze(1), output.spectrum
            if adversarial:
                with accelerator.autocast():
                    # One discriminator pass over real and fake: data-parallel wrappers expect one forward per backward.
                    scores = self.discriminator(torch.cat([real, fake.detach()]))
                batch = real.shape[0]
                real_maps = [[feature[:batch] for feature in scale] for scale in scores.feature_maps]
                loss_d = discriminator_hinge_loss(
                    [maps[-1] for maps in real_maps], [logits[batch:] for logits in scores.logits]
                )
                accelerator.backward(loss_d)
                if accelerator.sync_gradients and config.grad_clip:
                    accelerator.clip_grad_norm_(self.discriminator.parameters(), config.grad_clip)
                self.optimizer_d.step()
                self.optimizer_d.zero_grad(set_to_none=True)
                losses["discriminator"] = loss_d

            fake = fake.float()
            fake_magnitude = self.features.magnitude_spectrogram(fake)
            losses["mel_l1"] = mel_l1_loss(self.features.log_mel_from_magnitude(fake_magnitude), mel)
            loss_g = config.lambda_mel * losses["mel_l1"]
            if self.stft_loss is not None:
                losses["stft"] = self.stft_loss(fake, real, shared=(fake_magnitude, target_magnitude))
                loss_g = loss_g + config.lambda_stft * losses["stft"]
            if self.subband_stft_loss is not None:
                with torch.no_grad():
                    real_bands = self.pqmf.analysis(real)
                losses["subband_stft"] = self.subband_stft_loss(self.pqmf.analysis(fake), real_bands)
                loss_g = loss_g + config.lambda_subband_stft * losses["subband_stft"]
            if predicted is not None and (config.lambda_phase or config.lambda_amplitude):
                if config.lambda_amplitude:
                    floor = self.features.mel_floor
                    log_amplitudes = [
                        amplitude.clamp(min=floor).log() for amplitude in (predicted.abs(), target_magnitude)
                    ]
                    losses["amplitude"] = torch.nn.functional.l1_loss(*log_amplitudes)
                    loss_g = loss_g + config.lambda_amplitude * losses["amplitude"]
                if config.lambda_phase:
                    losses["phase"] = phase_loss(predicted, target)
                    loss_g = loss_g + config.lambda_phase * losses["phase"]
            elif config.lambda_phase:
                losses["phase"] = phase_loss(self.features.complex_spectrogram(fake), target)
                loss_g = loss_g + config.lambda_phase * losses["phase"]
            if adversarial:
                self.plain_discriminator.requires_grad_(False)
                with accelerator.autocast():
                    fake_scores = self.plain_discriminator(fake)
                losses["generator_adversarial"] = generator_adversarial_loss(fake_scores.logits)
                losses["feature_matching"] = feature_matching_loss(real_maps, fake_scores.feature_maps)
                loss_g = loss_g + losses["generator_adversarial"] + config.lambda_feat * losses["feature_matching"]
            accelerator.backward(loss_g)
            self.plain_discriminator.requires_grad_(True)
            if accelerator.sync_gradients and config.grad_clip:
                accelerator.clip_grad_norm_(self.generator.parameters(), config.grad_clip)
            self.optimizer_g.step()
            self.optimizer_g.zero_grad(set_to_none=True)
        return {name: value.item() for name, value in losses.items()}


@torch.no_grad()
def prematched_mels(
    converter: str,
    train_clips: list[Clip],
    validation_clips: list[Clip],
    features: MelGANFeatureExtractor,
    progress: bool = True,
) -> tuple[list[torch.Tensor], list[torch.Tensor]]:
    """
    Every clip's mel as the kNN `converter` (its encoder and settings) rebuilds it from the training clips, a clip's
    own frames excluded: `(frames, mels)` per training clip, then per validation clip (never in the matching set).
    The matching set is made from the training clips, so they should be one speaker, the converter's target.
    """
    from melgan_hf import KnnVCModel, StyleTransferPipeline
    from melgan_hf.pipelines import speech_features

    model = StyleTransferPipeline.from_pretrained(converter).model
    if not isinstance(model, KnnVCModel):
        raise SystemExit(f"--prematched needs a kNN converter; {converter!r} holds a {type(model).__name__}.")
    require_same_front_end(("--prematched converter", model.config.audio_kwargs), ("vocoder", features.audio_fields))
    rate = features.sampling_rate
    train_features = [
        speech_features(clip.audio, rate, features) for clip in tqdm(train_clips, "prematch keys", disable=not progress)
    ]
    model.set_target([mel for mel, _ in train_features], [f0 for _, f0 in train_features])
    ends = np.cumsum([mel.shape[0] for mel, _ in train_features])
    train_mels = [
        model.convert(mel, f0, exclude=(int(end - mel.shape[0]), int(end)))
        for (mel, f0), end in tqdm(list(zip(train_features, ends, strict=True)), "prematch", disable=not progress)
    ]
    validation_mels = [model.convert(*speech_features(clip.audio, rate, features)) for clip in validation_clips]
    return train_mels, validation_mels


def audio_with_mel(audio: np.ndarray, mel: torch.Tensor, hop_length: int) -> np.ndarray:
    """A clip's samples cut into frames beside their mel, `(frames, hop + mels)`: one array that `SegmentSampler`
    crops, so audio and mel segments stay aligned frame for frame (frame t ↔ samples t·hop … (t+1)·hop)."""
    frames = min(mel.shape[0], audio.size // hop_length)
    return np.concatenate([audio[: frames * hop_length].reshape(frames, hop_length), mel[:frames].numpy()], axis=1)


@torch.no_grad()
def validate(
    generator: MelGANGenerator,
    features: MelGANFeatureExtractor,
    clips: list[Clip],
    seconds: float,
    device: torch.device,
    input_mels: list[torch.Tensor] | None = None,
) -> tuple[float, list[np.ndarray]]:
    """Mean log-mel L1 of copy-synthesis on held-out clips (from `input_mels`, `(frames, mels)` each, when given:
    prematched), and the synthesised audio."""
    generator.eval()
    limit = int(seconds * features.sampling_rate) // features.hop_length * features.hop_length
    distances, outputs = [], []
    for number, clip in enumerate(clips):
        audio = torch.from_numpy(clip.audio[:limit]).to(device)
        mel = features.mel_spectrogram(audio)
        given = None if input_mels is None else input_mels[number][None, : mel.shape[1]].to(device)
        synthesised = generator(mel if given is None else given).waveforms
        distances.append(mel_l1_loss(features.mel_spectrogram(synthesised), mel).item())
        outputs.append(synthesised[0].float().cpu().numpy())
    generator.train()
    return float(np.mean(distances)), outputs


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    config_file = load_yaml(args.config)
    try:
        config_file = apply_overrides(config_file, args.set, ("model", "training"))
    except ValueError as error:
        raise SystemExit(str(error)) from error
    train_config: VocoderTrainingConfig = dataclass_from_dict(
        VocoderTrainingConfig, config_file.get("training"), f"{args.config} training"
    )
    if args.max_steps is not None:
        train_config.max_steps = args.max_steps
    output_dir = Path(args.output_dir)

    accelerator = make_accelerator(output_dir, train_config.gradient_accumulation_steps, args.mixed_precision)
    set_seed(train_config.seed)
    checkpoint = refuse_to_overwrite(output_dir, args.resume)

    generator, discriminator, features = build_models(config_file.get("model") or {}, args.init_from, accelerator)
    if args.init_amplitude_from:
        init_amplitude_branch(generator, args.init_amplitude_from)
        accelerator.print(f"init: amplitude branch from {args.init_amplitude_from}")
    if train_config.phase_iterations is not None and generator.config.generator_head != "istft":
        raise SystemExit("training.phase_iterations needs an iSTFT generator (model.generator_head: istft).")
    if train_config.lambda_subband_stft and generator.config.generator_head != "multiband":
        raise SystemExit("training.lambda_subband_stft needs a multiband generator (model.generator_head: multiband).")
    if train_config.segment_length % features.hop_length:
        raise SystemExit(f"training.segment_length must be a multiple of hop_length ({features.hop_length}).")

    clips, report = load_folder(
        args.data,
        features.sampling_rate,
        min_samples=train_config.segment_length,
        trim_top_db=train_config.trim_top_db,
        show_progress=accelerator.is_main_process and not args.no_progress,
    )
    train_clips, validation_clips = split_by_file(clips, train_config.validation_files, args.data)
    accelerator.print(report.summary())
    accelerator.print(f"split: {len(train_clips)} file(s) for training, {len(validation_clips)} held out")
    if len(clips) < 2:
        accelerator.print("warning: one usable file only, so validation uses a training file")
    hop = features.hop_length
    validation_inputs = None
    if args.prematched:
        if train_config.speed_perturbation:
            raise SystemExit("--prematched takes no training.speed_perturbation (the mels are made beforehand).")
        train_inputs, validation_inputs = prematched_mels(
            args.prematched,
            train_clips,
            validation_clips,
            features,
            accelerator.is_main_process and not args.no_progress,
        )
        sequences = [audio_with_mel(c.audio, mel, hop) for c, mel in zip(train_clips, train_inputs, strict=True)]
        sampler = SegmentSampler(sequences, train_config.segment_length // hop, train_config.seed)
    else:
        sampler = SegmentSampler(
            [clip.audio for clip in train_clips],
            train_config.segment_length,
            train_config.seed,
            train_config.speed_perturbation,
        )

    optimizer_g = make_adam(generator.parameters(), train_config.learning_rate, train_config.adam_betas)
    optimizer_d = make_adam(discriminator.parameters(), train_config.learning_rate, train_config.adam_betas)
    scheduler_g = torch.optim.lr_scheduler.ExponentialLR(optimizer_g, gamma=train_config.lr_decay)
    scheduler_d = torch.optim.lr_scheduler.ExponentialLR(optimizer_d, gamma=train_config.lr_decay)
    # The schedulers stay unprepared: Accelerate would step them once per process, and these decay per step.
    generator, discriminator, optimizer_g, optimizer_d = accelerator.prepare(
        generator, discriminator, optimizer_g, optimizer_d
    )
    state = TrainState()
    accelerator.register_for_checkpointing(state, scheduler_g, scheduler_d)
    resumed_from = None
    if args.resume:
        if checkpoint is None:
            accelerator.print(f"resume: no checkpoint in {output_dir}, starting from step 0")
        else:
            accelerator.load_state(str(checkpoint))
            resumed_from = state.step
            accelerator.print(f"resume: continuing from {checkpoint} (step {state.step})")

    hparams = {**dataclasses.asdict(train_config), "data": args.data, "init_from": args.init_from}
    hparams["prematched"] = args.prematched
    accelerator.init_trackers("logs", config=scalar_hparams(hparams))
    plain_discriminator = accelerator.unwrap_model(discriminator)
    device = accelerator.device
    generator.train()
    discriminator.train()

    def evaluate(step: int) -> float:
        distance, outputs = validate(
            accelerator.unwrap_model(generator),
            features,
            validation_clips,
            train_config.validation_seconds,
            device,
            validation_inputs,
        )
        accelerator.log({"validation/mel_l1": distance}, step=step)
        for index, audio in enumerate(outputs[: train_config.audio_samples]):
            save_audio(output_dir / "samples" / f"step_{step:08d}" / f"{index}.wav", audio, features.sampling_rate)
        return distance

    initial_distance = None
    if accelerator.is_main_process and resumed_from is None:
        initial_distance = evaluate(0)
    log_path = output_dir / "train_log.jsonl"
    clock = budget_clock(accelerator.device)
    started, cpu_started = time.monotonic(), clock()
    every = args.snapshot_every_minutes
    next_snapshot = (state.cpu_seconds / 60 // every + 1) * every if every else 0.0
    progress = tqdm(
        total=train_config.max_steps,
        initial=state.step,
        desc="train",
        unit="step",
        disable=not accelerator.is_main_process or args.no_progress,
    )
    accumulation = train_config.gradient_accumulation_steps
    gan_step = GANStep(accelerator, generator, discriminator, optimizer_g, optimizer_d, features, train_config)
    # on a CPU a background thread would only take a core from the training step
    draw = PrefetchingSampler(sampler, train_config.batch_size, accelerator.process_index, device.type != "cpu").batch
    while state.step < train_config.max_steps:
        for micro_step in range(accumulation):
            batch_step = state.step * accumulation + micro_step
            real = draw(batch_step)
            matched = rows = None
            if args.prematched:
                real, matched = real[..., :hop].flatten(1), real[..., hop:].to(device)
                rng = np.random.default_rng([train_config.seed, batch_step, accelerator.process_index, 2])
                rows = torch.from_numpy(rng.random(real.shape[0]) < train_config.prematched_share).to(device)
            adversarial = state.step >= train_config.adversarial_start_step
            losses = gan_step(real.to(device), adversarial, matched, rows)
        if state.step >= train_config.adversarial_start_step:
            scheduler_d.step()
        scheduler_g.step()
        state.step += 1
        progress.update(1)
        if not all(math.isfinite(value) for value in losses.values()):
            raise SystemExit(
                f"Losses became non-finite at step {state.step} ({losses}). Lower training.learning_rate or set"
                " training.grad_clip, then continue from the last checkpoint with --resume."
            )
        if state.step % train_config.log_every == 0 or state.step == train_config.max_steps:
            values = {**{f"loss/{name}": value for name, value in losses.items()}, "lr": scheduler_g.get_last_lr()[0]}
            accelerator.log(values, step=state.step)
            progress.set_postfix(mel=f"{losses['mel_l1']:.3f}", d=f"{losses.get('discriminator', math.nan):.3f}")
            if accelerator.is_main_process:
                append_log(log_path, {"step": state.step, **losses})
        if state.step % train_config.eval_every == 0 and accelerator.is_main_process:
            evaluate(state.step)
        state.cpu_seconds += clock() - cpu_started
        cpu_started = clock()
        cpu_minutes = state.cpu_seconds / 60
        out_of_time = args.max_minutes is not None and cpu_minutes >= args.max_minutes
        if every and (cpu_minutes >= next_snapshot or out_of_time) and accelerator.is_main_process:
            snapshot = output_dir / "snapshots" / f"cpu_minutes_{cpu_minutes:06.1f}"
            MelGANVocoder(accelerator.unwrap_model(generator), features).save_pretrained(snapshot)
            append_log(
                output_dir / "snapshots.jsonl", {"step": state.step, "cpu_minutes": cpu_minutes, "path": str(snapshot)}
            )
            next_snapshot += every
        if out_of_time:
            train_config.max_steps = state.step  # the final checkpoint, evaluation and save below
        if state.step % train_config.save_every == 0 or state.step == train_config.max_steps:
            save_checkpoint(accelerator, output_dir, state.step, train_config.keep_checkpoints)
    progress.close()

    checksums = replica_checksums(accelerator, accelerator.unwrap_model(generator), plain_discriminator)
    accelerator.wait_for_everyone()
    if accelerator.is_main_process:
        final_distance = evaluate(state.step)
        vocoder = MelGANVocoder(accelerator.unwrap_model(generator), features, plain_discriminator)
        vocoder.save_pretrained(output_dir)
        summary = {
            "steps": state.step,
            "resumed_from_step": resumed_from,
            "num_processes": accelerator.num_processes,
            "replica_checksums": checksums,
            "mixed_precision": accelerator.mixed_precision,
            "wall_time_s_this_run": round(time.monotonic() - started, 1),
            "device": describe_device(accelerator),
            "validation_mel_l1_initial": initial_distance,
            "validation_mel_l1_final": final_distance,
            "data": report.to_dict(),
            "init_from": args.init_from,
            "prematched": args.prematched,
            "overrides": args.set,
            "training": dataclasses.asdict(train_config),
        }
        write_json(output_dir / "trainer_state.json", summary)
        card = model_card(vocoder, summary, report, train_config)
        (output_dir / "README.md").write_text(card)
        accelerator.print(f"done: {state.step} steps; validation mel-L1 {final_distance:.4f}; model in {output_dir}")
        if args.push_to_hub:
            url = vocoder.push_to_hub(args.push_to_hub, model_card=card)
            accelerator.print(f"pushed to {url}")
    accelerator.end_training()


def generator_description(config: MelGANConfig, train_config: VocoderTrainingConfig) -> str:
    if config.generator_head == "istft":
        advance = ", phase relative to each bin's centre-frequency advance" if config.phase_advance else ""
        trained = train_config.phase_iterations
        while_training = f" ({trained} while training)" if trained not in (None, config.phase_iterations) else ""
        return (
            f"iSTFT head: amplitude (mel pseudo-inverse + learned residual) and phase branches of"
            f" {config.frame_channels} channels, dilations {list(config.frame_dilations)}{advance},"
            f" {config.phase_iterations} fast Griffin-Lim projections{while_training}, inverse STFT"
        )
    stack = f"upsampling ratios {list(config.upsample_ratios)}, ngf {config.ngf}"
    if config.generator_head == "multiband":
        return f"Multi-band MelGAN: {stack}, {config.num_bands} PQMF sub-bands ({config.pqmf_taps} taps)"
    return stack


def losses_description(train_config: VocoderTrainingConfig) -> str:
    terms = [f"mel L1 ×{train_config.lambda_mel}"]
    if train_config.lambda_stft:
        terms.append(f"multi-resolution STFT ×{train_config.lambda_stft}")
    if train_config.lambda_subband_stft:
        terms.append(f"sub-band multi-resolution STFT ×{train_config.lambda_subband_stft}")
    if train_config.lambda_amplitude:
        terms.append(f"log-amplitude L1 ×{train_config.lambda_amplitude}")
    if train_config.lambda_phase:
        terms.append(f"phase ×{train_config.lambda_phase}")
    adversarial = f"hinge adversarial + feature matching ×{train_config.lambda_feat}"
    if train_config.adversarial_start_step:
        adversarial += f" from step {train_config.adversarial_start_step}"
    return " + ".join([adversarial, *terms])


def model_card(
    vocoder: MelGANVocoder, summary: dict[str, Any], report: DataReport, train_config: VocoderTrainingConfig
) -> str:
    config = vocoder.config
    initial = summary["validation_mel_l1_initial"]
    return render_model_card(
        "vocoder.md",
        {
            "preset": config.mel_preset or "custom",
            "sampling_rate": config.sampling_rate,
            "num_mel_bins": config.num_mel_bins,
            "n_fft": config.n_fft,
            "hop_length": config.hop_length,
            "win_length": config.win_length,
            "fmin": config.fmin,
            "fmax": config.fmax if config.fmax is not None else config.sampling_rate / 2,
            "mel_log": config.mel_log,
            "mel_floor": config.mel_floor,
            "parameters": f"{sum(p.numel() for p in vocoder.generator.parameters()):,}",
            "generator": generator_description(config, train_config),
            "losses": losses_description(train_config),
            "data_files": len(report.used),
            "data_minutes": f"{report.total_seconds / 60:.1f}",
            "data_skipped": len(report.skipped),
            "clipped_share": f"{report.clipped_share:.3%}",
            "steps": summary["steps"],
            "batch_size": train_config.batch_size * summary["num_processes"] * train_config.gradient_accumulation_steps,
            "segment_length": train_config.segment_length,
            "lambda_mel": train_config.lambda_mel,
            "wall_time": format_duration(summary["wall_time_s_this_run"]),
            "device": summary["device"],
            "mixed_precision": summary["mixed_precision"],
            "init_from": summary["init_from"] or "random initialisation",
            "mel_l1_final": f"{summary['validation_mel_l1_final']:.4f}",
            "mel_l1_initial": f"{initial:.4f}" if initial is not None else "n/a (resumed run)",
        },
    )


if __name__ == "__main__":
    main()
