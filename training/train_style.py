"""Train a MelGAN-VC / TraVeLGAN style-transfer model (source recordings → target style), with Accelerate.

    accelerate launch training/train_style.py --config training/configs/style_tiny.yaml \\
        --source SOURCE_DIR --target TARGET_DIR --output_dir OUT [--vocoder PATH_OR_ID] [--max_steps N] [--resume]

Without --vocoder, a vocoder is first trained on the target recordings (the config's `vocoder` section; with
--init_from, starting from that converter's vocoder), so the last stage is adversarially trained on target-domain
waveforms. OUT ends as one folder that `StyleTransferPipeline.from_pretrained(OUT)` loads: the style model, its
feature extractor and the vocoder in OUT/vocoder, with a model card.
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

import numpy as np
import torch
from accelerate import Accelerator
from accelerate.utils import set_seed
from tqdm.auto import tqdm

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # `python training/train_style.py` from anywhere

from melgan_hf import MelGANVCConfig, MelGANVCModel, MelGANVocoder, StyleTransferPipeline, save_audio
from melgan_hf.evaluation import mel_spectral_centroid, timbre_shift
from melgan_hf.pipelines import VOCODER_SUBFOLDER
from training import train_vocoder
from training.common import (
    TrainState,
    append_log,
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
from training.dataset import Clip, DataReport, SegmentSampler, load_folder, split_by_file
from training.losses import (
    discriminator_hinge_loss,
    generator_adversarial_loss,
    identity_loss,
    siamese_margin_loss,
    travel_loss,
)


@dataclass
class StyleTrainingConfig:
    """The `training:` section. Loss weights follow MelGAN-VC: L_adv + 10 (L_travel + L_margin) + λ_id L_id."""

    batch_size: int = 16  # slices per domain and process
    learning_rate: float = 1e-4
    critic_learning_rate: float = 1e-4
    adam_betas: tuple[float, float] = (0.5, 0.999)
    lambda_travel: float = 10.0
    lambda_margin: float = 10.0
    margin: float = 2.0  # minimum siamese distance between different slices
    lambda_identity: float = 0.5  # raise it (e.g. 2-5) for small data, to keep more of the source
    grad_clip: float | None = 100.0
    gradient_accumulation_steps: int = 1
    max_steps: int = 50_000
    save_every: int = 2000
    eval_every: int = 1000
    log_every: int = 50
    keep_checkpoints: int = 3
    validation_files: int = 2  # per domain
    validation_seconds: float = 6.0
    audio_samples: int = 3
    trim_top_db: float = 40.0
    normalization_percentiles: tuple[float, float] = (0.5, 99.5)
    seed: int = 1234

    def __post_init__(self) -> None:
        self.adam_betas = tuple(float(beta) for beta in self.adam_betas)
        self.normalization_percentiles = tuple(float(p) for p in self.normalization_percentiles)
        for name in ("batch_size", "max_steps", "save_every", "eval_every", "log_every", "keep_checkpoints"):
            if not isinstance(getattr(self, name), int) or getattr(self, name) <= 0:
                raise ValueError(f"training.{name} must be a positive integer, got {getattr(self, name)!r}")
        if self.batch_size < 2:
            raise ValueError("training.batch_size must be at least 2: the TraVeL loss compares pairs of slices")
        if self.learning_rate <= 0 or self.critic_learning_rate <= 0 or self.gradient_accumulation_steps < 1:
            raise ValueError("learning rates must be > 0 and gradient_accumulation_steps >= 1")


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--config", required=True, help="YAML with 'model', 'training' and 'vocoder' sections")
    parser.add_argument("--source", required=True, help="folder of source-style recordings (converted from)")
    parser.add_argument("--target", required=True, help="folder of target-style recordings (converted to)")
    parser.add_argument("--output_dir", required=True, help="where checkpoints, logs, samples and the model go")
    parser.add_argument("--vocoder", default=None, help="a MelGAN vocoder (folder or Hub id) to use as is")
    parser.add_argument("--max_steps", type=int, default=None, help="total style-model steps (overrides the config)")
    parser.add_argument("--resume", action="store_true", help="continue from the newest checkpoints in --output_dir")
    parser.add_argument("--init_from", default=None, help="start from a saved converter (folder or Hub id)")
    parser.add_argument("--push_to_hub", default=None, metavar="REPO_ID", help="upload the converter to this repo")
    parser.add_argument("--mixed_precision", choices=["no", "fp16", "bf16"], default=None)
    parser.add_argument("--no_progress", action="store_true", help="no progress bars")
    return parser.parse_args(argv)


def prepare_vocoder(args: argparse.Namespace, vocoder_section: dict[str, Any], config_path: Path) -> MelGANVocoder:
    """--vocoder as is; otherwise train one on the target recordings (resumable, skipped once finished)."""
    if args.vocoder:
        return train_vocoder.load_with_discriminator(args.vocoder)
    section = dict(vocoder_section)
    vocoder_config = config_path.parent / section.pop("config", "tiny.yaml")
    output_dir = Path(args.output_dir) / "vocoder_training"
    argv = ["--config", str(vocoder_config), "--data", args.target, "--output_dir", str(output_dir), "--resume"]
    if "max_steps" in section:
        argv += ["--max_steps", str(section.pop("max_steps"))]
    if section:
        raise ValueError(f"{config_path} vocoder: unknown key(s) {sorted(section)}; known: config, max_steps")
    if args.init_from:
        argv += ["--init_from", f"{args.init_from}/{VOCODER_SUBFOLDER}"]
    for flag in ("mixed_precision",):
        if getattr(args, flag):
            argv += [f"--{flag}", getattr(args, flag)]
    if args.no_progress:
        argv.append("--no_progress")
    print(f"vocoder: training on {args.target} into {output_dir}", flush=True)
    train_vocoder.main(argv)
    return MelGANVocoder.from_pretrained(output_dir, load_discriminator=True)


def clip_mels(clips: list[Clip], vocoder: MelGANVocoder) -> list[np.ndarray]:
    """Log-mels `(frames, mels)` of every clip, through the vocoder's own feature extractor."""
    features = vocoder.feature_extractor
    with torch.no_grad():
        return [features.mel_spectrogram(torch.from_numpy(clip.audio))[0].numpy() for clip in clips]


def normalization_range(mels: list[np.ndarray], percentiles: tuple[float, float]) -> tuple[list[float], list[float]]:
    """Per-bin robust low/high of the training log-mels (both domains), for the generator's [-1, 1] range."""
    stacked = np.concatenate(mels)
    low, high = np.percentile(stacked, percentiles, axis=0)
    high = np.maximum(high, low + 1e-3)
    return low.astype(float).tolist(), high.astype(float).tolist()


class StyleStep:
    """One micro-batch: a critic update (hinge), then a generator + siamese update (adversarial, TraVeL, margin,
    identity). Each prepared network sees one forward per backward, as data-parallel wrappers require."""

    def __init__(
        self,
        accelerator: Accelerator,
        model: MelGANVCModel,
        networks: tuple[torch.nn.Module, torch.nn.Module, torch.nn.Module],
        optimizers: tuple[torch.optim.Optimizer, torch.optim.Optimizer],
        config: StyleTrainingConfig,
    ) -> None:
        self.accelerator, self.model, self.config = accelerator, model, config
        self.generator, self.critic, self.siamese = networks
        self.optimizer_generator, self.optimizer_critic = optimizers

    def __call__(self, source: torch.Tensor, target: torch.Tensor) -> dict[str, float]:
        """`source`, `target`: `(batch, frames, mels)` log-mel slices on the device."""
        accelerator, config = self.accelerator, self.config
        with accelerator.accumulate(self.generator, self.critic, self.siamese):
            source, target = self.model.normalize(source), self.model.normalize(target)
            batch = source.shape[0]
            with accelerator.autocast():
                converted_all = self.generator(torch.cat([source, target]))
                converted, converted_target = converted_all[:batch], converted_all[batch:]
                scores = self.critic(torch.cat([target, converted.detach()]))
            loss_critic = discriminator_hinge_loss([scores[:batch]], [scores[batch:]])
            accelerator.backward(loss_critic)
            if accelerator.sync_gradients and config.grad_clip:
                accelerator.clip_grad_norm_(self.critic.parameters(), config.grad_clip)
            self.optimizer_critic.step()
            self.optimizer_critic.zero_grad(set_to_none=True)

            # The generator's adversarial loss goes through the plain critic with frozen weights.
            plain_critic = self.model.critic
            plain_critic.requires_grad_(False)
            with accelerator.autocast():
                loss_adversarial = generator_adversarial_loss([plain_critic(converted)])
                vectors = self.siamese(torch.cat([source, converted])).float()
            plain_critic.requires_grad_(True)
            loss_travel = travel_loss(vectors[:batch], vectors[batch:])
            loss_margin = siamese_margin_loss(vectors[:batch], config.margin)
            loss_identity = identity_loss(target, converted_target.float())
            loss_generator = (
                loss_adversarial
                + config.lambda_travel * loss_travel
                + config.lambda_margin * loss_margin
                + config.lambda_identity * loss_identity
            )
            accelerator.backward(loss_generator)
            if accelerator.sync_gradients and config.grad_clip:
                parameters = [*self.generator.parameters(), *self.siamese.parameters()]
                accelerator.clip_grad_norm_(parameters, config.grad_clip)
            self.optimizer_generator.step()
            self.optimizer_generator.zero_grad(set_to_none=True)
        return {
            "critic": loss_critic.item(),
            "generator_adversarial": loss_adversarial.item(),
            "travel": loss_travel.item(),
            "margin": loss_margin.item(),
            "identity": loss_identity.item(),
        }


@torch.no_grad()
def validate(
    pipeline: StyleTransferPipeline, source_mels: list[np.ndarray], target_mels: list[np.ndarray], frames: int
) -> dict[str, float]:
    """
    Timbre of the converted held-out source (mel spectral centroid: brightness, largely independent of the notes or
    words) against the held-out source and target, the share of the way it moved toward the target, and how much
    target audio changes when passed through (identity, mean log-mel L1).
    """
    mel_log = pipeline.model.config.mel_log
    source = np.concatenate([mel[:frames] for mel in source_mels])
    target = np.concatenate([mel[:frames] for mel in target_mels])
    converted = np.concatenate([pipeline.convert_mel(mel[:frames]) for mel in source_mels])
    centroids = {name: mel_spectral_centroid(mel, mel_log) for name, mel in (("source", source), ("target", target))}
    centroids["converted"] = mel_spectral_centroid(converted, mel_log)
    identity = np.mean([np.abs(pipeline.convert_mel(mel[:frames]) - mel[:frames]).mean() for mel in target_mels])
    return {
        **{f"validation/centroid_{name}": value for name, value in centroids.items()},
        "validation/timbre_shift": timbre_shift(centroids["source"], centroids["target"], centroids["converted"]),
        "validation/identity_l1": float(identity),
    }


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    config_path = Path(args.config)
    config_file = load_yaml(config_path, sections=("model", "training", "vocoder"))
    train_config: StyleTrainingConfig = dataclass_from_dict(
        StyleTrainingConfig, config_file.get("training"), f"{args.config} training"
    )
    if args.max_steps is not None:
        train_config.max_steps = args.max_steps
    output_dir = Path(args.output_dir)
    checkpoint = refuse_to_overwrite(output_dir, args.resume)

    vocoder = prepare_vocoder(args, config_file.get("vocoder") or {}, config_path)
    accelerator = make_accelerator(output_dir, train_config.gradient_accumulation_steps, args.mixed_precision)
    set_seed(train_config.seed)
    features = vocoder.feature_extractor

    model_fields = config_file.get("model") or {}
    if args.init_from:
        model = MelGANVCModel.from_pretrained(args.init_from)
        if model.config.audio_kwargs != vocoder.config.audio_kwargs:
            raise SystemExit(f"{args.init_from} was trained on another mel front end than the vocoder's.")
        accelerator.print(f"init: style model from {args.init_from} (its normalisation statistics are kept)")
        config = model.config
    else:
        model = None
        config = MelGANVCConfig.from_vocoder_config(vocoder.config, **model_fields)  # checks the fields early

    min_samples = (config.segment_frames + 1) * features.hop_length
    show = accelerator.is_main_process and not args.no_progress
    domains = {}
    for name, folder in (("source", args.source), ("target", args.target)):
        clips, report = load_folder(folder, features.sampling_rate, min_samples, train_config.trim_top_db, show)
        train_clips, held_out = split_by_file(clips, train_config.validation_files, folder)
        accelerator.print(f"{name} {report.summary()}")
        accelerator.print(f"{name} split: {len(train_clips)} file(s) for training, {len(held_out)} held out")
        domains[name] = (report, clip_mels(train_clips, vocoder), clip_mels(held_out, vocoder), held_out)

    if model is None:
        low, high = normalization_range(
            domains["source"][1] + domains["target"][1], train_config.normalization_percentiles
        )
        model = MelGANVCModel(
            MelGANVCConfig.from_vocoder_config(vocoder.config, **model_fields, mel_low=low, mel_high=high)
        )
    model.train()
    samplers = {
        name: SegmentSampler(domains[name][1], model.config.segment_frames, train_config.seed + offset)
        for offset, name in enumerate(("source", "target"))
    }

    generator_parameters = [*model.generator.parameters(), *model.siamese.parameters()]
    optimizer_generator = make_adam(generator_parameters, train_config.learning_rate, train_config.adam_betas)
    optimizer_critic = make_adam(model.critic.parameters(), train_config.critic_learning_rate, train_config.adam_betas)
    # Each network is prepared on its own: the model's sub-networks are called separately.
    generator, critic, siamese, optimizer_generator, optimizer_critic = accelerator.prepare(
        model.generator, model.critic, model.siamese, optimizer_generator, optimizer_critic
    )
    state = TrainState()
    accelerator.register_for_checkpointing(state)
    resumed_from = None
    if args.resume and checkpoint is not None:
        accelerator.load_state(str(checkpoint))
        resumed_from = state.step
        accelerator.print(f"resume: continuing from {checkpoint} (step {state.step})")

    hparams = {**dataclasses.asdict(train_config), "source": args.source, "target": args.target}
    accelerator.init_trackers("logs", config=scalar_hparams(hparams))
    step_fn = StyleStep(
        accelerator, model, (generator, critic, siamese), (optimizer_generator, optimizer_critic), train_config
    )
    pipeline = StyleTransferPipeline(model, vocoder.to(accelerator.device))
    model.train()
    validation_frames = int(train_config.validation_seconds * features.sampling_rate) // features.hop_length

    def evaluate(step: int) -> dict[str, float]:
        model.eval()  # also freezes the spectral-norm power iterations
        metrics = validate(pipeline, domains["source"][2], domains["target"][2], validation_frames)
        accelerator.log(metrics, step=step)
        for index, clip in enumerate(domains["source"][3][: train_config.audio_samples]):
            audio = clip.audio[: validation_frames * features.hop_length]
            converted, rate = pipeline(audio, features.sampling_rate)
            save_audio(output_dir / "samples" / f"step_{step:08d}" / f"{index}.wav", converted, rate)
        model.train()
        return metrics

    initial_metrics = evaluate(0) if accelerator.is_main_process and resumed_from is None else None
    log_path = output_dir / "train_log.jsonl"
    started = time.monotonic()
    progress = tqdm(total=train_config.max_steps, initial=state.step, desc="style", unit="step", disable=not show)
    device, accumulation = accelerator.device, train_config.gradient_accumulation_steps
    while state.step < train_config.max_steps:
        for micro_step in range(accumulation):
            index = state.step * accumulation + micro_step
            source = samplers["source"].batch(index, train_config.batch_size, accelerator.process_index)
            target = samplers["target"].batch(index, train_config.batch_size, accelerator.process_index)
            losses = step_fn(source.to(device), target.to(device))
        state.step += 1
        progress.update(1)
        if not all(math.isfinite(value) for value in losses.values()):
            raise SystemExit(f"Losses became non-finite at step {state.step} ({losses}); resume from a checkpoint.")
        if state.step % train_config.log_every == 0 or state.step == train_config.max_steps:
            accelerator.log({f"loss/{name}": value for name, value in losses.items()}, step=state.step)
            progress.set_postfix(identity=f"{losses['identity']:.3f}", critic=f"{losses['critic']:.3f}")
            if accelerator.is_main_process:
                append_log(log_path, {"step": state.step, **losses})
        if state.step % train_config.eval_every == 0 and accelerator.is_main_process:
            evaluate(state.step)
        if state.step % train_config.save_every == 0 or state.step == train_config.max_steps:
            save_checkpoint(accelerator, output_dir, state.step, train_config.keep_checkpoints)
    progress.close()

    checksums = replica_checksums(accelerator, model)
    accelerator.wait_for_everyone()
    if accelerator.is_main_process:
        final_metrics = evaluate(state.step)
        model.eval()
        pipeline.save_pretrained(output_dir)
        summary = {
            "steps": state.step,
            "resumed_from_step": resumed_from,
            "num_processes": accelerator.num_processes,
            "replica_checksums": checksums,
            "mixed_precision": accelerator.mixed_precision,
            "wall_time_s_this_run": round(time.monotonic() - started, 1),
            "device": describe_device(accelerator),
            "validation_initial": initial_metrics,
            "validation_final": final_metrics,
            "source_data": domains["source"][0].to_dict(),
            "target_data": domains["target"][0].to_dict(),
            "vocoder": args.vocoder or str(output_dir / "vocoder_training"),
            "init_from": args.init_from,
            "training": dataclasses.asdict(train_config),
        }
        write_json(output_dir / "trainer_state.json", summary)
        card = model_card(pipeline, summary, domains["source"][0], domains["target"][0], train_config)
        (output_dir / "README.md").write_text(card)
        accelerator.print(
            f"done: {state.step} steps; timbre shift toward the target {final_metrics['validation/timbre_shift']:.2f}"
            f" (centroid {final_metrics['validation/centroid_source']:.2f} → "
            f"{final_metrics['validation/centroid_converted']:.2f}, target"
            f" {final_metrics['validation/centroid_target']:.2f}); converter in {output_dir}"
        )
        if args.push_to_hub:
            accelerator.print(f"pushed to {pipeline.push_to_hub(args.push_to_hub, model_card=card)}")
    accelerator.end_training()


def model_card(
    pipeline: StyleTransferPipeline,
    summary: dict[str, Any],
    source: DataReport,
    target: DataReport,
    train_config: StyleTrainingConfig,
) -> str:
    config, final = pipeline.model.config, summary["validation_final"]
    return render_model_card(
        "style_transfer.md",
        {
            "preset": config.mel_preset or "custom",
            "sampling_rate": config.sampling_rate,
            "num_mel_bins": config.num_mel_bins,
            "parameters": f"{sum(p.numel() for p in pipeline.model.generator.parameters()):,}",
            "segment_frames": config.segment_frames,
            "source_files": len(source.used),
            "source_minutes": f"{source.total_seconds / 60:.1f}",
            "target_files": len(target.used),
            "target_minutes": f"{target.total_seconds / 60:.1f}",
            "steps": summary["steps"],
            "batch_size": train_config.batch_size * summary["num_processes"] * train_config.gradient_accumulation_steps,
            "lambda_identity": train_config.lambda_identity,
            "device": summary["device"],
            "mixed_precision": summary["mixed_precision"],
            "wall_time": format_duration(summary["wall_time_s_this_run"]),
            "vocoder": summary["vocoder"],
            "init_from": summary["init_from"] or "random initialisation",
            "centroid_source": f"{final['validation/centroid_source']:.2f}",
            "centroid_target": f"{final['validation/centroid_target']:.2f}",
            "centroid_converted": f"{final['validation/centroid_converted']:.2f}",
            "timbre_shift": f"{final['validation/timbre_shift']:.2f}",
            "identity": f"{final['validation/identity_l1']:.4f}",
        },
    )


if __name__ == "__main__":
    main()
