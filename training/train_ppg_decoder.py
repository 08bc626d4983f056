"""Train a PPG voice converter into one speaker (`PPGVCModel`), with Accelerate.

    accelerate launch training/train_ppg_decoder.py --encoder voice-to-english --target SPEAKER_DIR --output_dir OUT \\
        [--config training/configs/ppg_cpu.yaml] [--vocoder istft-vocoder-16k] [--max_minutes 30] [--resume]

The phone encoder (a `PhoneEncoderModel`, or the one inside a kNN converter such as `voice-to-english`) stays frozen;
the decoder learns to turn each frame's content, log-F0 z-score, voicing and energy back into the target's log-mel.
The encoder hears the target's audio warped in vocal-tract length, through rooms and noise, while the decoder must
still answer with the clean original: what is left of the target's timbre in the content then cannot help, so the
decoder learns to supply the timbre itself, as it must for other speakers. With `--parallel DIR` (other voices saying
the target's own prompts, `DIR/<voice>/<clip stem>.wav`, e.g. from `training/data/build_synthetic_voices.py
--keep-names`), a share of the segments takes its content from another voice's rendition of the same words, aligned
to the target's frames by DTW, so the decoder learns what the encoder makes of other voices. Loss: L1 on the log-mel,
and after `adversarial_start_step` a hinge critic on the mels (MelGAN-VC's critic) against the over-smoothing L1 alone
makes.

Every `eval_every` steps the mel L1 on held-out target files goes to the log; checkpoints resume exactly
(`--resume`); the budget is steps or CPU minutes. OUT ends as a converter folder (`StyleTransferPipeline
.from_pretrained(OUT)`: model, features and `vocoder/`), with `critic.safetensors` to continue from (`--init_from
OUT`), `trainer_state.json` and a model card.
"""

from __future__ import annotations

import argparse
import dataclasses
import math
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import librosa
import numpy as np
import torch
from accelerate.utils import set_seed
from safetensors.torch import load_file, save_file
from tqdm.auto import tqdm

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # `python training/train_ppg_decoder.py` anywhere

from melgan_hf import MelGANVCConfig, MelGANVocoder, PPGVCConfig, PPGVCModel, StyleTransferPipeline
from melgan_hf.augment import add_noise, reverberate, warp_vocal_tract, world_voices
from melgan_hf.modeling_melgan_vc import MelGANVCCritic
from melgan_hf.modeling_phone_encoder import content_features
from melgan_hf.pipelines import audio_to_mel, require_same_front_end, resolve_model, speech_features
from melgan_hf.pitch import log_f0_statistics, pitch_features
from training.common import (
    TrainState,
    append_log,
    budget_clock,
    dataclass_from_dict,
    describe_device,
    format_duration,
    load_yaml,
    make_accelerator,
    make_adam,
    refuse_to_overwrite,
    render_model_card,
    save_checkpoint,
    scalar_hparams,
    set_warmup_cosine_lr,
    write_json,
)
from training.dataset import SegmentSampler, load_folder, split_by_file
from training.losses import discriminator_hinge_loss, generator_adversarial_loss
from training.train_phone_encoder import load_encoder

CRITIC_FILE = "critic.safetensors"


@dataclass
class PPGTrainingConfig:
    """The `training:` section."""

    batch_size: int = 16  # segments per process and step
    segment_frames: int = 128
    learning_rate: float = 1e-3
    critic_learning_rate: float = 2e-4
    adam_betas: tuple[float, float] = (0.8, 0.99)
    warmup_steps: int = 200
    lambda_mel: float = 10.0
    lambda_adversarial: float = 1.0  # 0: L1 only, no critic
    adversarial_start_step: int = 1000
    critic_channels: int = 64
    vocal_tract_range: tuple[float, float] = (0.88, 1.14)  # formant scaling α of the encoder's input
    noise_share: float = 0.3
    noise_snr_db: tuple[float, float] = (10.0, 40.0)
    reverb_share: float = 0.2
    reverb_rt60: tuple[float, float] = (0.15, 0.6)
    voice_copies: int = 0  # WORLD copies of each clip in other registers (`world_voices`), made once before training
    copy_share: float = 0.5  # of the segments the encoder hears from one of those copies
    copy_f0_range: tuple[float, float] = (0.5, 1.4)  # pitch scale of a copy, drawn log-uniformly
    copy_formant_range: tuple[float, float] = (0.8, 1.15)  # its formant scale, drawn log-uniformly
    parallel_share: float = 0.5  # of the segments whose content comes from another voice's rendition (`--parallel`)
    grad_clip: float = 5.0
    max_steps: int = 20_000
    save_every: int = 500
    eval_every: int = 500
    log_every: int = 25
    keep_checkpoints: int = 2
    validation_files: int = 12
    seed: int = 1234

    def __post_init__(self) -> None:
        for name in (
            "adam_betas",
            "vocal_tract_range",
            "noise_snr_db",
            "reverb_rt60",
            "copy_f0_range",
            "copy_formant_range",
        ):
            setattr(self, name, tuple(float(value) for value in getattr(self, name)))
        positive = ("batch_size", "segment_frames", "max_steps", "save_every", "eval_every", "log_every")
        for name in (*positive, "keep_checkpoints", "critic_channels"):
            if not isinstance(getattr(self, name), int) or getattr(self, name) <= 0:
                raise ValueError(f"training.{name} must be a positive integer, got {getattr(self, name)!r}")
        if not isinstance(self.voice_copies, int) or self.voice_copies < 0:
            raise ValueError(f"training.voice_copies must be a non-negative integer, got {self.voice_copies!r}")
        for name in ("copy_f0_range", "copy_formant_range"):
            low, high = getattr(self, name)
            if not 0 < low <= high:
                raise ValueError(f"training.{name} must be (low, high) with 0 < low <= high, got {getattr(self, name)}")
        for name in ("noise_share", "reverb_share", "copy_share", "parallel_share"):
            if not 0 <= getattr(self, name) <= 1:
                raise ValueError(f"training.{name} must be in [0, 1], got {getattr(self, name)!r}")
        if min(self.learning_rate, self.critic_learning_rate, self.lambda_mel) <= 0 or self.lambda_adversarial < 0:
            raise ValueError("training: learning rates and lambda_mel must be > 0, lambda_adversarial >= 0")


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--encoder", default=None, help="PhoneEncoderModel or kNN converter (folder, Hub id, shipped)")
    parser.add_argument("--target", required=True, type=Path, help="folder of the target speaker's recordings")
    parser.add_argument("--output_dir", required=True, type=Path)
    parser.add_argument("--vocoder", default="istft-vocoder-16k", help="vocoder folder, Hub id or shipped name")
    parser.add_argument("--target_name", default=None, help="whose voice this is (default: the folder's name)")
    parser.add_argument(
        "--parallel", type=Path, default=None, help="other voices saying the target's prompts: DIR/<voice>/<stem>.wav"
    )
    parser.add_argument("--config", default=None, help="YAML with 'model' (PPGVCConfig fields) and 'training'")
    parser.add_argument("--init_from", default=None, help="continue from a PPG converter folder (and its critic)")
    parser.add_argument("--max_steps", type=int, default=None, help="total steps (overrides the config)")
    parser.add_argument(
        "--max_minutes",
        type=float,
        default=None,
        help="stop after this many CPU minutes in all (wall-clock minutes on a GPU)",
    )
    parser.add_argument("--resume", action="store_true", help="continue from the newest checkpoint in --output_dir")
    parser.add_argument("--push_to_hub", default=None, metavar="REPO_ID")
    parser.add_argument("--mixed_precision", choices=["no", "fp16", "bf16"], default=None)
    parser.add_argument("--no_progress", action="store_true")
    args = parser.parse_args(argv)
    if not args.encoder and not args.init_from:
        parser.error("give --encoder (a phone encoder or a kNN converter) or --init_from (a PPG converter)")
    return args


def build_model(args: argparse.Namespace, fields: dict[str, Any], mean_mel: torch.Tensor) -> PPGVCModel:
    if args.init_from:
        return StyleTransferPipeline.from_pretrained(args.init_from).model
    encoder = load_encoder(args.encoder)
    config = PPGVCConfig(**encoder.config.audio_kwargs, encoder=encoder.config.to_dict(), **fields)
    model = PPGVCModel(config)
    model.encoder.load_state_dict(encoder.state_dict())
    with torch.no_grad():
        model.decoder.conv_post.bias.copy_(mean_mel)  # start at the target's average frame
    return model


class EncoderAugmenter:
    """The encoder's view of a batch: a share of the segments swapped for the same stretch of a WORLD copy in another
    register (`copies[clip]`, made by `make_voice_copies`), then room, noise and vocal-tract warp, all drawn from a
    generator seeded by (seed, step, process); the decoder's target stays the clean log-mel of the original."""

    def __init__(self, config: PPGTrainingConfig, features: Any, copies: list[list[np.ndarray]]) -> None:
        self.config, self.features, self.copies = config, features, copies

    def __call__(
        self, audio: torch.Tensor, placements: list[tuple[int, int, float]], step: int, process_index: int
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """`(batch, samples)` and where each row came from → (augmented log-mel for the encoder, clean target)."""
        config, features = self.config, self.features
        rng = np.random.default_rng([config.seed, step, process_index, 2])
        clean = features.log_mel_from_magnitude(features.magnitude_spectrogram(audio))
        heard = audio.clone()
        for row, (index, start, _) in enumerate(placements):
            if self.copies and rng.random() < config.copy_share:
                piece = self.copies[index][rng.integers(len(self.copies[index]))][start : start + audio.shape[1]]
                heard[row] = torch.from_numpy(np.pad(piece, (0, audio.shape[1] - piece.size)))
        heard = reverberate(heard, rng, features.sampling_rate, config.reverb_rt60, config.reverb_share)
        heard = add_noise(heard, rng, config.noise_snr_db, config.noise_share)
        factors = torch.from_numpy(rng.uniform(*config.vocal_tract_range, size=audio.shape[0]))
        return features.log_mel_from_magnitude(warp_vocal_tract(features.magnitude_spectrogram(heard), factors)), clean


def make_voice_copies(
    clips: list[np.ndarray], sampling_rate: int, config: PPGTrainingConfig, show_progress: bool
) -> list[list[np.ndarray]]:
    """`config.voice_copies` WORLD copies of each clip, each at its own pitch and formant scale (log-uniform over the
    configured ranges, from the seed): the target's words in the registers of the voices it will be asked to convert,
    so the decoder learns to answer what the encoder makes of a man's or a child's voice, not only of the target's."""
    if config.voice_copies == 0:
        return []
    rng = np.random.default_rng([config.seed, 3])
    copies = []
    for audio in tqdm(clips, desc="voice copies", unit="clip", disable=not show_progress):
        scales = np.exp(
            rng.uniform(*np.log([config.copy_f0_range, config.copy_formant_range]).T, size=(config.voice_copies, 2))
        )
        copies.append(world_voices(audio, sampling_rate, [tuple(pair) for pair in scales]))
    return copies


def align_parallel_content(
    model: PPGVCModel, features: Any, clips: list[Any], mels: list[np.ndarray], folder: Path, show_progress: bool
) -> list[list[np.ndarray]]:
    """
    For each training clip, the content of every other voice's rendition of its words (`folder/<voice>/<stem>.*`,
    loaded and trimmed like the target's clips), time-aligned to the clip's own content frames by DTW on the cosine
    distance of the content (speaker-independent, so it lines up words, not voices): each of the clip's frames gets
    the mean of the rendition's frames matched to it. Made once before training, outside the CPU budget.
    """
    voices = sorted(path for path in folder.iterdir() if path.is_dir()) if folder.is_dir() else []
    if not voices:
        raise SystemExit(f"--parallel {folder}: expected one folder per voice, found none.")
    rate, content = features.sampling_rate, model.config.content
    renditions: dict[str, list[Any]] = {}
    for voice in voices:
        loaded, _ = load_folder(voice, rate, features.n_fft, show_progress=False)
        for rendition in loaded:
            renditions.setdefault(rendition.path.stem, []).append(rendition)
    aligned = []
    progress = tqdm(zip(clips, mels, strict=True), total=len(clips), desc="parallel voices", disable=not show_progress)
    for clip, mel in progress:
        own = content_features(model.encoder, torch.as_tensor(mel)[None].float(), content)[0].numpy()
        versions = []
        for rendition in renditions.get(clip.path.stem, []):
            their_mel, _ = audio_to_mel(rendition.audio, rate, features)
            theirs = content_features(model.encoder, their_mel[None].float(), content)[0].numpy()
            _, path = librosa.sequence.dtw(C=1.0 - own @ theirs.T)
            summed, counts = np.zeros_like(own), np.zeros(len(own))
            np.add.at(summed, path[:, 0], theirs[path[:, 1]])
            np.add.at(counts, path[:, 0], 1)
            mean = summed / counts[:, None]
            versions.append((mean / np.linalg.norm(mean, axis=1, keepdims=True).clip(1e-8)).astype(np.float32))
        aligned.append(versions)
    if not any(aligned):
        raise SystemExit(f"{folder}: no rendition is named after a target clip (<voice>/<clip stem>.wav).")
    return aligned


def with_parallel_content(
    inputs: torch.Tensor,
    aligned: list[list[np.ndarray]],
    placements: list[tuple[int, int, float]],
    hop: int,
    config: PPGTrainingConfig,
    step: int,
    process_index: int,
) -> torch.Tensor:
    """`(batch, frames, width + 3)` decoder inputs with the content of `parallel_share` of the segments (those whose
    clip has renditions) replaced by a rendition's aligned content over the same frames; pitch, voicing and energy
    stay the target's own, so they match the clean mel the decoder must answer with."""
    rng = np.random.default_rng([config.seed, step, process_index, 4])
    inputs = inputs.clone()
    for row, (index, start, _) in enumerate(placements):
        if not aligned[index] or rng.random() >= config.parallel_share:
            continue
        version = aligned[index][rng.integers(len(aligned[index]))]
        first = round(start / hop)
        piece = torch.from_numpy(version[first : first + inputs.shape[1]])
        inputs[row, : len(piece), : piece.shape[1]] = piece.to(inputs)
    return inputs


def segment_pitch(
    pitches: list[np.ndarray], placements: list[tuple[int, int, float]], frames: int, hop: int
) -> torch.Tensor:
    """The `pitch_features` rows under each drawn segment (its start rounded to the nearest frame)."""
    rows = []
    for index, start, _ in placements:
        first = round(start / hop)
        piece = pitches[index][first : first + frames]
        rows.append(np.pad(piece, ((0, frames - len(piece)), (0, 0))))
    return torch.from_numpy(np.stack(rows))


@torch.no_grad()
def validation_l1(model: PPGVCModel, items: list[tuple[torch.Tensor, np.ndarray]]) -> float:
    """Mean log-mel L1 of held-out target files rebuilt from their own content and pitch (clean input)."""
    was_training = model.training
    model.eval()
    errors = [float((model.convert(mel, f0) - mel).abs().mean()) for mel, f0 in items]
    model.train(was_training)
    return float(np.mean(errors)) if errors else math.nan


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    sections = load_yaml(args.config) if args.config else {}
    train_config: PPGTrainingConfig = dataclass_from_dict(
        PPGTrainingConfig, sections.get("training"), f"{args.config} training"
    )
    if args.max_steps is not None:
        train_config.max_steps = args.max_steps
    output_dir = args.output_dir
    checkpoint = refuse_to_overwrite(output_dir, args.resume)
    accelerator = make_accelerator(output_dir, 1, args.mixed_precision)
    set_seed(train_config.seed)
    show = accelerator.is_main_process and not args.no_progress

    vocoder = MelGANVocoder.from_pretrained(args.vocoder)
    features = vocoder.feature_extractor
    rate, hop, frames = features.sampling_rate, features.hop_length, train_config.segment_frames
    clips, report = load_folder(args.target, rate, features.n_fft, show_progress=show)  # short ones are padded
    print(report.summary(), flush=True)
    training_clips, held_out = split_by_file(clips, train_config.validation_files, args.target)
    analysed = [speech_features(clip.audio, rate, features) for clip in training_clips]
    statistics = log_f0_statistics(np.concatenate([f0 for _, f0 in analysed]))
    if statistics is None:
        raise SystemExit(f"{args.target}: almost no voiced frames; the target recordings hold no usable speech.")
    pitches = [pitch_features(f0, mel.shape[0], statistics) for mel, f0 in analysed]
    all_frames = torch.cat([torch.as_tensor(mel) for mel, _ in analysed]).float()
    mean_mel = all_frames.mean(dim=0)
    validation = [speech_features(clip.audio, rate, features) for clip in held_out]
    validation = [(torch.as_tensor(mel).float(), f0) for mel, f0 in validation]

    model = build_model(args, dict(sections.get("model") or {}), mean_mel)
    require_same_front_end(("converter", model.config.audio_kwargs), ("vocoder", vocoder.config.audio_kwargs))
    model.config.target_log_f0 = list(statistics)
    if args.target_name or not args.init_from:
        model.config.target_name = args.target_name or args.target.name
    model.encoder.requires_grad_(False)
    critic = MelGANVCCritic(MelGANVCConfig(**features.audio_fields, critic_channels=train_config.critic_channels))
    saved_critic = Path(resolve_model(args.init_from)) / CRITIC_FILE if args.init_from else None
    if saved_critic is not None and saved_critic.is_file():
        critic.load_state_dict(load_file(saved_critic))
    mel_scale = (mean_mel, all_frames.std(dim=0) + 1e-3)
    del all_frames

    data_minutes = sum(c.audio.size for c in training_clips) / rate / 60
    decoder_parameters = list(model.decoder.parameters())
    accelerator.print(
        f"{len(training_clips)} target clips ({data_minutes:.1f} min), {len(held_out)} held out;"
        f" decoder {sum(p.numel() for p in decoder_parameters) / 1e6:.2f} M parameters"
    )
    optimizer = make_adam(decoder_parameters, train_config.learning_rate, train_config.adam_betas)
    critic_optimizer = make_adam(critic.parameters(), train_config.critic_learning_rate, train_config.adam_betas)
    model.to(accelerator.device)  # the frozen encoder; the decoder and the critic are prepared on their own
    decoder, critic, optimizer, critic_optimizer = accelerator.prepare(
        model.decoder, critic, optimizer, critic_optimizer
    )
    state = TrainState()
    accelerator.register_for_checkpointing(state)
    resumed_from = None
    if args.resume and checkpoint is not None:
        accelerator.load_state(str(checkpoint))
        resumed_from = state.step
        accelerator.print(f"resume: continuing from {checkpoint} (step {state.step})")
    hparams = {**dataclasses.asdict(train_config), "target": str(args.target)}
    accelerator.init_trackers("logs", config=scalar_hparams(hparams))
    training_audio = [clip.audio for clip in training_clips]
    sampler = SegmentSampler(training_audio, frames * hop, train_config.seed)
    augment = EncoderAugmenter(train_config, features, make_voice_copies(training_audio, rate, train_config, show))
    parallel = []
    if args.parallel is not None:
        mels = [mel for mel, _ in analysed]
        parallel = align_parallel_content(model, features, training_clips, mels, args.parallel, show)
        accelerator.print(
            f"parallel voices: {sum(map(len, parallel))} renditions of {sum(map(bool, parallel))} target clips"
        )
    log_path = output_dir / "train_log.jsonl"
    initial = validation_l1(model, validation) if accelerator.is_main_process and resumed_from is None else None
    device = accelerator.device
    mel_mean, mel_std = (t.to(device) for t in mel_scale)

    def budget_used() -> float:
        return state.budget_used(train_config.max_steps, args.max_minutes)

    def critic_view(mel: torch.Tensor) -> torch.Tensor:
        return ((mel - mel_mean) / mel_std).transpose(1, 2)

    clock = budget_clock(accelerator.device)
    started, cpu_started = time.monotonic(), clock()
    progress = tqdm(total=train_config.max_steps, initial=state.step, desc="ppg", unit="step", disable=not show)
    model.train()
    while budget_used() < 1:
        audio, placements = sampler.draw(state.step, train_config.batch_size, accelerator.process_index)
        with torch.no_grad():
            heard, clean = augment(audio, placements, state.step, accelerator.process_index)
            pitch = segment_pitch(pitches, placements, heard.shape[1], hop)
            inputs = model.decoder_inputs(heard.to(device), pitch.to(device), temperature=1.0, vtln_factors=())
            if parallel:
                inputs = with_parallel_content(
                    inputs, parallel, placements, hop, train_config, state.step, accelerator.process_index
                )
        clean = clean.to(device)
        adversarial = train_config.lambda_adversarial > 0 and state.step >= train_config.adversarial_start_step
        set_warmup_cosine_lr(
            optimizer, train_config.learning_rate, train_config.warmup_steps, state.step, budget_used()
        )
        with accelerator.autocast():
            predicted = decoder(inputs).float()
        losses = {"mel_l1": (predicted - clean).abs().mean()}
        if adversarial:
            with accelerator.autocast():
                real_logits, fake_logits = critic(critic_view(clean)), critic(critic_view(predicted.detach()))
            losses["critic"] = discriminator_hinge_loss([real_logits.float()], [fake_logits.float()])
            accelerator.backward(losses["critic"])
            critic_optimizer.step()
            critic_optimizer.zero_grad(set_to_none=True)
            with accelerator.autocast():
                losses["adversarial"] = generator_adversarial_loss([critic(critic_view(predicted)).float()])
        generator_loss = train_config.lambda_mel * losses["mel_l1"]
        if adversarial:
            generator_loss = generator_loss + train_config.lambda_adversarial * losses["adversarial"]
        accelerator.backward(generator_loss)
        accelerator.clip_grad_norm_(decoder_parameters, train_config.grad_clip)
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)
        critic_optimizer.zero_grad(set_to_none=True)  # the generator's pass left gradients in the critic
        state.step += 1
        state.cpu_seconds += clock() - cpu_started
        progress.update(1)
        if not math.isfinite(generator_loss.item()):
            raise SystemExit(f"The loss became non-finite at step {state.step}; resume from a checkpoint.")
        finished = budget_used() >= 1
        if state.step % train_config.log_every == 0 or finished:
            values = {name: value.item() for name, value in losses.items()}
            record = {"step": state.step, "cpu_minutes": round(state.cpu_seconds / 60, 2), **values}
            accelerator.log({f"loss/{name}": value for name, value in values.items()}, step=state.step)
            progress.set_postfix(mel=f"{values['mel_l1']:.3f}")
            if accelerator.is_main_process:
                append_log(log_path, record)
        if (state.step % train_config.eval_every == 0 or finished) and accelerator.is_main_process and validation:
            error = validation_l1(model, validation)
            accelerator.log({"validation/mel_l1": error}, step=state.step)
            append_log(
                log_path, {"step": state.step, "cpu_minutes": round(state.cpu_seconds / 60, 2), "val_mel_l1": error}
            )
            accelerator.print(f"step {state.step}: validation mel L1 {error:.4f}")
        if state.step % train_config.save_every == 0 or finished:
            save_checkpoint(accelerator, output_dir, state.step, train_config.keep_checkpoints)
        cpu_started = clock()  # evaluation and saving are not training time
    progress.close()

    accelerator.wait_for_everyone()
    if accelerator.is_main_process:
        final = validation_l1(model, validation)
        model.eval()
        StyleTransferPipeline(model, vocoder, features).save_pretrained(output_dir)
        save_file(
            {k: v.contiguous() for k, v in accelerator.unwrap_model(critic).state_dict().items()},
            output_dir / CRITIC_FILE,
        )
        summary = {
            "steps": state.step,
            "cpu_minutes": round(state.cpu_seconds / 60, 1),
            "resumed_from_step": resumed_from,
            "num_processes": accelerator.num_processes,
            "mixed_precision": accelerator.mixed_precision,
            "wall_time_s_this_run": round(time.monotonic() - started, 1),
            "device": describe_device(accelerator),
            "validation_mel_l1_initial": initial,
            "validation_mel_l1_final": final,
            "data_minutes": round(data_minutes, 1),
            "data": report.to_dict(),
            "encoder": args.encoder,
            "init_from": args.init_from,
            "parallel": str(args.parallel) if args.parallel else None,
            "vocoder": args.vocoder,
            "training": dataclasses.asdict(train_config),
        }
        write_json(output_dir / "trainer_state.json", summary)
        (output_dir / "README.md").write_text(model_card(model, summary))
        accelerator.print(
            f"done: {state.step} steps, {summary['cpu_minutes']} CPU minutes, validation mel L1 {final:.4f};"
            f" converter in {output_dir}"
        )
        if args.push_to_hub:
            pipeline = StyleTransferPipeline.from_pretrained(output_dir)
            accelerator.print(
                f"pushed to {pipeline.push_to_hub(args.push_to_hub, model_card=model_card(model, summary))}"
            )
    accelerator.end_training()


def model_card(model: PPGVCModel, summary: dict[str, Any]) -> str:
    config = model.config
    return render_model_card(
        "ppg_vc.md",
        {
            "target_name": config.target_name,
            "sampling_rate": config.sampling_rate,
            "content": config.content,
            "parameters": f"{sum(p.numel() for p in model.parameters()) / 1e6:.2f} M",
            "data_minutes": summary["data_minutes"],
            "encoder": summary["encoder"] or summary["init_from"],
            "vocoder": summary["vocoder"],
            "steps": summary["steps"],
            "cpu_minutes": summary["cpu_minutes"],
            "device": summary["device"],
            "wall_time": format_duration(summary["wall_time_s_this_run"]),
            "validation_initial": "n/a"
            if summary["validation_mel_l1_initial"] is None
            else f"{summary['validation_mel_l1_initial']:.4f}",
            "validation_final": f"{summary['validation_mel_l1_final']:.4f}",
        },
    )


if __name__ == "__main__":
    main()
