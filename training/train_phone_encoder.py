"""Train the phone encoder (log-mel → phone posteriors, whoever speaks), with Accelerate.

    accelerate launch training/train_phone_encoder.py --data SYNTHETIC_DIR [...] --real REAL_DIR [...] \\
        --validation NAME=DIR [...] --output_dir OUT [--config YAML] [--max_minutes 60] [--resume]

Every audio file below the data folders that has phone labels beside it (`NNNN.phones.tsv`, written by
`build_synthetic_voices.py --labels` or `align_speech.py`) is a training clip; others are skipped and counted.
Synthetic voices give many speakers with exact timings but sound like no microphone; `--real` folders (forced-aligned
recordings) fill `real_share` of every batch so that real speech is never a stranger. Each segment is played at a
random speed, sometimes through a synthetic room and noise, and its spectrum warped in vocal-tract length; the
labels follow every time change. Loss: frame-wise cross-entropy (frame targets make smoother posteriors than CTC).

Every `eval_every` steps, frame accuracy on each `--validation` folder (clean, and with noise and a room added:
the microphone case) goes to the log; checkpoints resume exactly (`--resume`); the budget is steps or CPU minutes.
OUT ends as a `PhoneEncoderModel` folder with its feature extractor, `trainer_state.json` and a model card.
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
from accelerate.utils import set_seed
from tqdm.auto import tqdm
from transformers import AutoConfig

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # `python training/train_phone_encoder.py` anywhere

from melgan_hf import MelGANFeatureExtractor, StyleTransferPipeline
from melgan_hf.augment import add_noise, office_microphone, reverberate, warp_vocal_tract
from melgan_hf.configuration_phone_encoder import PhoneEncoderConfig
from melgan_hf.modeling_phone_encoder import PhoneEncoderModel
from melgan_hf.phones import PHONE_INDEX, SILENCE, frame_labels, labels_at
from melgan_hf.pipelines import load_model, resolve_model
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
from training.dataset import LabelledClip, SegmentSampler, load_labelled_folder


@dataclass
class PhoneTrainingConfig:
    """The `training:` section."""

    batch_size: int = 16  # segments per process and step
    segment_seconds: float = 2.0
    real_share: float = 0.25  # of each batch, from the --real folders (when given)
    learning_rate: float = 1e-3
    adam_betas: tuple[float, float] = (0.9, 0.99)
    warmup_steps: int = 200
    label_smoothing: float = 0.05
    speed_perturbation: float = 0.15  # tempo and pitch together, 1 ± this
    vocal_tract_range: tuple[float, float] = (0.85, 1.18)  # formant scaling α
    noise_share: float = 0.4
    noise_snr_db: tuple[float, float] = (5.0, 35.0)
    reverb_share: float = 0.3
    reverb_rt60: tuple[float, float] = (0.15, 0.8)
    grad_clip: float = 5.0
    max_steps: int = 20_000
    save_every: int = 500
    eval_every: int = 500
    log_every: int = 25
    keep_checkpoints: int = 2
    validation_files: int = 40  # per validation folder
    seed: int = 1234

    def __post_init__(self) -> None:
        for name in ("adam_betas", "vocal_tract_range", "noise_snr_db", "reverb_rt60"):
            setattr(self, name, tuple(float(value) for value in getattr(self, name)))
        for name in ("batch_size", "max_steps", "save_every", "eval_every", "log_every", "keep_checkpoints"):
            if not isinstance(getattr(self, name), int) or getattr(self, name) <= 0:
                raise ValueError(f"training.{name} must be a positive integer, got {getattr(self, name)!r}")
        for name in ("real_share", "noise_share", "reverb_share"):
            if not 0 <= getattr(self, name) <= 1:
                raise ValueError(f"training.{name} must be in [0, 1], got {getattr(self, name)!r}")
        if self.learning_rate <= 0 or self.segment_seconds <= 0:
            raise ValueError("training.learning_rate and training.segment_seconds must be > 0")


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", nargs="+", required=True, type=Path, help="labelled folders (synthetic voices)")
    parser.add_argument("--real", nargs="*", default=[], type=Path, help="labelled real recordings, in every batch")
    parser.add_argument(
        "--validation", nargs="*", default=[], metavar="NAME=DIR", help="labelled held-out folders to score"
    )
    parser.add_argument("--output_dir", required=True, type=Path)
    parser.add_argument("--config", default=None, help="YAML with 'model' (PhoneEncoderConfig) and 'training'")
    parser.add_argument("--preset", default="speech16k", help="mel front end (the vocoder's) without --config")
    parser.add_argument("--max_steps", type=int, default=None, help="total steps (overrides the config)")
    parser.add_argument(
        "--max_minutes",
        type=float,
        default=None,
        help="stop after this many CPU minutes in all (wall-clock minutes on a GPU)",
    )
    parser.add_argument("--resume", action="store_true", help="continue from the newest checkpoint in --output_dir")
    parser.add_argument("--init_from", default=None, help="a phone encoder, or a converter holding one, to start from")
    parser.add_argument("--push_to_hub", default=None, metavar="REPO_ID")
    parser.add_argument("--mixed_precision", choices=["no", "fp16", "bf16"], default=None)
    parser.add_argument("--no_progress", action="store_true")
    args = parser.parse_args(argv)
    try:
        args.validation = named_folders(args.validation, "--validation")
    except ValueError as error:
        parser.error(str(error))
    return args


def named_folders(items: list[str], flag: str) -> dict[str, Path]:
    """`NAME=DIR` command-line items → {name: folder}, naming a malformed item."""
    named = {}
    for item in items:
        name, separator, folder = item.partition("=")
        if not separator or not name or not folder:
            raise ValueError(f"{flag} takes NAME=DIR, got {item!r}")
        named[name] = Path(folder)
    return named


def load_encoder(name: str) -> PhoneEncoderModel:
    """A phone encoder, on its own or the one inside a content converter."""
    config = AutoConfig.from_pretrained(resolve_model(name))
    if isinstance(config, PhoneEncoderModel.config_class):
        return load_model(PhoneEncoderModel, name)
    converter = StyleTransferPipeline.from_pretrained(name).model
    if not isinstance(getattr(converter, "encoder", None), PhoneEncoderModel):
        raise ValueError(f"{name!r} is neither a phone encoder nor a converter that holds one.")
    return converter.encoder


def load_clips(folders: list[Path], sampling_rate: int, show: bool) -> tuple[list[LabelledClip], list[dict]]:
    clips, reports = [], []
    for folder in folders:
        found, report = load_labelled_folder(folder, sampling_rate, show_progress=show)
        print(report.summary(), flush=True)
        clips += found
        reports.append(report.to_dict())
    return clips, reports


def segment_labels(
    clips: list[LabelledClip], placements: list[tuple[int, int, float]], frames: int, hop: int, rate: int
) -> torch.Tensor:
    """The phone under each output frame's centre, mapped back through the segment's start and speed."""
    centres = (np.arange(frames) + 0.5) * hop
    rows = [labels_at(clips[index].intervals, (start + centres * speed) / rate) for index, start, speed in placements]
    return torch.from_numpy(np.stack(rows))


class Augmenter:
    """Noise, room and vocal-tract warp for one batch, drawn from a generator seeded by (seed, step, process)."""

    def __init__(self, config: PhoneTrainingConfig, features: MelGANFeatureExtractor) -> None:
        self.config, self.features = config, features

    def __call__(self, audio: torch.Tensor, step: int, process_index: int) -> torch.Tensor:
        """`(batch, samples)` audio → `(batch, frames, mels)` augmented log-mel."""
        config = self.config
        rng = np.random.default_rng([config.seed, step, process_index, 1])
        audio = reverberate(audio, rng, self.features.sampling_rate, config.reverb_rt60, config.reverb_share)
        audio = add_noise(audio, rng, config.noise_snr_db, config.noise_share)
        magnitude = self.features.magnitude_spectrogram(audio)
        factors = torch.from_numpy(rng.uniform(*config.vocal_tract_range, size=audio.shape[0]))
        return self.features.log_mel_from_magnitude(warp_vocal_tract(magnitude, factors))


def validation_sets(
    folders: dict[str, Path], features: MelGANFeatureExtractor, limit: int, seed: int, show: bool
) -> dict[str, list[tuple[torch.Tensor, torch.Tensor, torch.Tensor]]]:
    """Per folder, up to `limit` clips as (clean log-mel, noisy log-mel, frame labels); the noisy copy is
    `office_microphone`'s (a fixed room and noise level)."""
    sets = {}
    hop, rate = features.hop_length, features.sampling_rate
    for name, folder in folders.items():
        clips, _ = load_labelled_folder(folder, rate, show_progress=show)
        items = []
        for number, clip in enumerate(clips[:limit]):
            audio = torch.from_numpy(clip.audio)[None]
            noisy = torch.from_numpy(office_microphone(clip.audio, rate, [seed, number]))[None]
            clean_mel, noisy_mel = features.mel_spectrogram(audio), features.mel_spectrogram(noisy)
            labels = frame_labels(clip.intervals, clean_mel.shape[1], hop, rate)
            items.append((clean_mel, noisy_mel, torch.from_numpy(labels)))
        sets[name] = items
    return sets


@torch.no_grad()
def frame_accuracy(model: PhoneEncoderModel, sets: dict[str, list]) -> dict[str, float]:
    """Share of frames whose most likely phone is the label, and the same over speech frames only (silence is
    the easy majority), per validation folder, clean and noisy."""
    silence = PHONE_INDEX[SILENCE]
    metrics = {}
    was_training = model.training
    model.eval()
    for name, items in sets.items():
        for condition, column in (("clean", 0), ("noisy", 1)):
            correct = speech_correct = frames = speech_frames = 0
            for item in items:
                labels = item[2]
                predicted = model(item[column]).logits[0].argmax(dim=-1)
                hits = predicted == labels
                speech = labels != silence
                correct += int(hits.sum())
                frames += labels.numel()
                speech_correct += int(hits[speech].sum())
                speech_frames += int(speech.sum())
            metrics[f"{name}/{condition}_accuracy"] = correct / max(frames, 1)
            metrics[f"{name}/{condition}_speech_accuracy"] = speech_correct / max(speech_frames, 1)
    model.train(was_training)
    return metrics


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    sections = load_yaml(args.config) if args.config else {}
    train_config: PhoneTrainingConfig = dataclass_from_dict(
        PhoneTrainingConfig, sections.get("training"), f"{args.config} training"
    )
    if args.max_steps is not None:
        train_config.max_steps = args.max_steps
    output_dir = args.output_dir
    checkpoint = refuse_to_overwrite(output_dir, args.resume)
    accelerator = make_accelerator(output_dir, 1, args.mixed_precision)
    set_seed(train_config.seed)
    show = accelerator.is_main_process and not args.no_progress

    if args.init_from:
        model = load_encoder(args.init_from).train()
    else:
        model_fields = dict(sections.get("model") or {})
        preset = model_fields.pop("preset", args.preset)
        model = PhoneEncoderModel(PhoneEncoderConfig.from_preset(preset, **model_fields))
    features = MelGANFeatureExtractor.from_config(model.config)
    rate, hop = features.sampling_rate, features.hop_length
    segment = int(train_config.segment_seconds * rate) // hop * hop
    frames = segment // hop

    synthetic, synthetic_reports = load_clips(args.data, rate, show)
    real, real_reports = load_clips(args.real, rate, show) if args.real else ([], [])
    real_rows = round(train_config.batch_size * train_config.real_share) if real else 0
    samplers = [
        (
            clips,
            SegmentSampler(
                [c.audio for c in clips], segment, train_config.seed + offset, train_config.speed_perturbation
            ),
            rows,
        )
        for offset, (clips, rows) in enumerate(((synthetic, train_config.batch_size - real_rows), (real, real_rows)))
        if rows
    ]
    validation = validation_sets(args.validation, features, train_config.validation_files, train_config.seed, show)
    data_minutes = {
        "synthetic": sum(c.audio.size for c in synthetic) / rate / 60,
        "real": sum(c.audio.size for c in real) / rate / 60,
    }
    accelerator.print(
        f"{len(synthetic)} synthetic clips ({data_minutes['synthetic']:.1f} min), {len(real)} real clips"
        f" ({data_minutes['real']:.1f} min, {real_rows} of {train_config.batch_size} rows per batch);"
        f" {sum(p.numel() for p in model.parameters()) / 1e6:.2f} M parameters"
    )

    optimizer = make_adam(model.parameters(), train_config.learning_rate, train_config.adam_betas)
    prepared, optimizer = accelerator.prepare(model, optimizer)
    state = TrainState()
    accelerator.register_for_checkpointing(state)
    resumed_from = None
    if args.resume and checkpoint is not None:
        accelerator.load_state(str(checkpoint))
        resumed_from = state.step
        accelerator.print(f"resume: continuing from {checkpoint} (step {state.step})")
    hparams = {**dataclasses.asdict(train_config), "data": [str(f) for f in args.data + args.real]}
    accelerator.init_trackers("logs", config=scalar_hparams(hparams))
    augment = Augmenter(train_config, features)
    loss_fn = torch.nn.CrossEntropyLoss(label_smoothing=train_config.label_smoothing)
    log_path = output_dir / "train_log.jsonl"
    initial = frame_accuracy(model, validation) if accelerator.is_main_process and resumed_from is None else None

    def budget_used() -> float:
        return state.budget_used(train_config.max_steps, args.max_minutes)

    clock = budget_clock(accelerator.device)
    started, cpu_started = time.monotonic(), clock()
    progress = tqdm(total=train_config.max_steps, initial=state.step, desc="phones", unit="step", disable=not show)
    model.train()
    while budget_used() < 1:
        audio_parts, label_parts = [], []
        for clips, sampler, rows in samplers:
            audio, placements = sampler.draw(state.step, rows, accelerator.process_index)
            audio_parts.append(audio)
            label_parts.append(segment_labels(clips, placements, frames, hop, rate))
        with torch.no_grad():
            log_mel = augment(torch.cat(audio_parts), state.step, accelerator.process_index)
        labels = torch.cat(label_parts).to(accelerator.device)
        set_warmup_cosine_lr(
            optimizer, train_config.learning_rate, train_config.warmup_steps, state.step, budget_used()
        )
        with accelerator.autocast():
            logits = prepared(log_mel.to(accelerator.device)).logits
        loss = loss_fn(logits.float().reshape(-1, logits.shape[-1]), labels.reshape(-1))
        accelerator.backward(loss)
        accelerator.clip_grad_norm_(prepared.parameters(), train_config.grad_clip)
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)
        state.step += 1
        state.cpu_seconds += clock() - cpu_started
        progress.update(1)
        if not math.isfinite(loss.item()):
            raise SystemExit(f"The loss became non-finite at step {state.step}; resume from a checkpoint.")
        finished = budget_used() >= 1
        if state.step % train_config.log_every == 0 or finished:
            accuracy = (logits.argmax(dim=-1) == labels).float().mean().item()
            record = {"step": state.step, "cpu_minutes": round(state.cpu_seconds / 60, 2), "loss": loss.item()}
            record["train_accuracy"] = accuracy
            accelerator.log({"loss/cross_entropy": loss.item(), "train/accuracy": accuracy}, step=state.step)
            progress.set_postfix(loss=f"{loss.item():.3f}", accuracy=f"{accuracy:.2f}")
            if accelerator.is_main_process:
                append_log(log_path, record)
        if (state.step % train_config.eval_every == 0 or finished) and accelerator.is_main_process and validation:
            metrics = frame_accuracy(model, validation)
            accelerator.log(metrics, step=state.step)
            append_log(log_path, {"step": state.step, "cpu_minutes": round(state.cpu_seconds / 60, 2), **metrics})
            accelerator.print(f"step {state.step}: " + ", ".join(f"{k} {v:.3f}" for k, v in metrics.items()))
        if state.step % train_config.save_every == 0 or finished:
            save_checkpoint(accelerator, output_dir, state.step, train_config.keep_checkpoints)
        cpu_started = clock()  # evaluation and saving are not training time
    progress.close()

    accelerator.wait_for_everyone()
    if accelerator.is_main_process:
        final = frame_accuracy(model, validation)
        model.eval()
        model.save_pretrained(output_dir)
        features.save_pretrained(output_dir)
        summary = {
            "steps": state.step,
            "cpu_minutes": round(state.cpu_seconds / 60, 1),
            "resumed_from_step": resumed_from,
            "num_processes": accelerator.num_processes,
            "mixed_precision": accelerator.mixed_precision,
            "wall_time_s_this_run": round(time.monotonic() - started, 1),
            "device": describe_device(accelerator),
            "validation_initial": initial,
            "validation_final": final,
            "data_minutes": {name: round(value, 1) for name, value in data_minutes.items()},
            "synthetic_data": synthetic_reports,
            "real_data": real_reports,
            "init_from": args.init_from,
            "training": dataclasses.asdict(train_config),
        }
        write_json(output_dir / "trainer_state.json", summary)
        card = model_card(model, summary, args)
        (output_dir / "README.md").write_text(card)
        accelerator.print(
            f"done: {state.step} steps, {summary['cpu_minutes']} CPU minutes; phone encoder in {output_dir}"
        )
        if args.push_to_hub:
            accelerator.print(f"pushed to {model.push_to_hub(args.push_to_hub)}")
    accelerator.end_training()


def model_card(model: PhoneEncoderModel, summary: dict[str, Any], args: argparse.Namespace) -> str:
    final = summary["validation_final"]
    rows = []
    for name in args.validation:
        rows.append(
            f"| {name} | {final[f'{name}/clean_accuracy']:.3f} | {final[f'{name}/clean_speech_accuracy']:.3f} |"
            f" {final[f'{name}/noisy_accuracy']:.3f} | {final[f'{name}/noisy_speech_accuracy']:.3f} |"
        )
    config = model.config
    return render_model_card(
        "phone_encoder.md",
        {
            "preset": config.mel_preset or "custom",
            "sampling_rate": config.sampling_rate,
            "phones": len(config.phones),
            "parameters": f"{sum(p.numel() for p in model.parameters()) / 1e6:.2f} M",
            "receptive_field_ms": round(
                (2 * model.receptive_field_frames + 1) * config.hop_length / config.sampling_rate * 1000
            ),
            "synthetic_minutes": summary["data_minutes"]["synthetic"],
            "real_minutes": summary["data_minutes"]["real"],
            "synthetic_folders": ", ".join(f"`{Path(r['folder']).name}`" for r in summary["synthetic_data"]) or "none",
            "real_folders": ", ".join(f"`{Path(r['folder']).name}`" for r in summary["real_data"]) or "none",
            "steps": summary["steps"],
            "cpu_minutes": summary["cpu_minutes"],
            "device": summary["device"],
            "wall_time": format_duration(summary["wall_time_s_this_run"]),
            "validation_rows": "\n".join(rows) or "| (no validation folders given) | | | | |",
        },
    )


if __name__ == "__main__":
    main()
