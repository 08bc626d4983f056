"""
Train the amplitude refiner (log-mel → consistent STFT amplitude) behind the refined-amplitude Griffin-Lim baseline.

    python training/train_amplitude_refiner.py --data CORPUS_DIR [CORPUS_DIR ...] --output_dir OUT \
        [--preset speech16k] [--minutes 11] [--validation HELDOUT_DIR] [--init_from FOLDER]

Every audio file below the data folders is a training clip (mono, the preset's rate, silence trimmed). Loss: L1 on
the log-amplitude plus spectral convergence, against the STFT magnitude of the same frames the mel is made of. The
run stops after `--minutes` of wall-clock time (a CPU-time budget, so recipes compare at equal cost) or
`--max_steps`. Every `--save_minutes` and at the end, a `save_pretrained` folder is written beside OUT and its files
moved into OUT, so OUT never holds a half-written file; `OUT-train_log.jsonl` (step, seconds, losses) sits beside
it. A plain PyTorch loop on one process: the model is small enough that Accelerate would add nothing here.
"""

from __future__ import annotations

import argparse
import json
import math
import shutil
import sys
import time
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from melgan_hf import MelGANFeatureExtractor
from melgan_hf.configuration_amplitude_refiner import MelAmplitudeRefinerConfig
from melgan_hf.modeling_amplitude_refiner import MelAmplitudeRefiner
from training.common import append_log
from training.dataset import SegmentSampler, load_folder


def amplitude_losses(
    log_amplitude: torch.Tensor, magnitude: torch.Tensor, floor: float
) -> tuple[torch.Tensor, torch.Tensor]:
    """(L1 of the log-amplitudes, spectral convergence ‖A − Â‖ / ‖A‖) against the true STFT magnitude."""
    target = magnitude.clamp(min=floor)
    l1 = (log_amplitude - target.log()).abs().mean()
    convergence = torch.linalg.vector_norm(magnitude - log_amplitude.exp()) / torch.linalg.vector_norm(magnitude)
    return l1, convergence


def save(model: MelAmplitudeRefiner, output_dir: Path, summary: dict) -> None:
    """A complete folder or none: written beside OUT and renamed into place (the log stays where it is)."""
    partial = output_dir.with_name(output_dir.name + ".partial")
    shutil.rmtree(partial, ignore_errors=True)
    model.save_pretrained(partial)
    (partial / "training.json").write_text(json.dumps(summary, indent=2) + "\n")
    output_dir.mkdir(parents=True, exist_ok=True)
    for path in partial.iterdir():
        path.replace(output_dir / path.name)
    partial.rmdir()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", nargs="+", required=True, type=Path)
    parser.add_argument("--output_dir", required=True, type=Path)
    parser.add_argument("--preset", default="speech16k")
    parser.add_argument("--init_from", help="a refiner folder to continue from")
    parser.add_argument("--validation", type=Path, help="held-out folder: loss on its files at every save")
    parser.add_argument("--minutes", type=float, default=11.0, help="wall-clock budget (default %(default)s)")
    parser.add_argument("--max_steps", type=int, default=None)
    parser.add_argument("--save_minutes", type=float, default=2.0)
    parser.add_argument("--batch_size", type=int, default=8)
    parser.add_argument("--segment_seconds", type=float, default=1.0)
    parser.add_argument("--learning_rate", type=float, default=1e-3)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--speed_perturbation", type=float, default=0.0, help="play segments at 1 ± this speed")
    args = parser.parse_args()

    torch.manual_seed(args.seed)
    if args.init_from:
        model = MelAmplitudeRefiner.from_pretrained(args.init_from, use_safetensors=True, dtype=torch.float32)
    else:
        model = MelAmplitudeRefiner(MelAmplitudeRefinerConfig.from_preset(args.preset))
    features = MelGANFeatureExtractor.from_config(model.config)
    segment = int(args.segment_seconds * features.sampling_rate)
    clips = [
        clip.audio for folder in args.data for clip in load_folder(folder, features.sampling_rate, segment // 4)[0]
    ]
    sampler = SegmentSampler(clips, segment, args.seed, args.speed_perturbation)
    validation = None
    if args.validation:
        held = [
            clip.audio[: 4 * features.sampling_rate]
            for clip in load_folder(args.validation, features.sampling_rate, segment)[0]
        ]
        validation = [torch.from_numpy(audio) for audio in held]
    minutes = sum(len(clip) for clip in clips) / features.sampling_rate / 60
    parameters = sum(parameter.numel() for parameter in model.parameters()) / 1e6
    print(f"{len(clips)} clips, {minutes:.1f} min of audio; {parameters:.2f} M parameters")

    optimizer = torch.optim.AdamW(model.parameters(), lr=args.learning_rate, betas=(0.9, 0.99), weight_decay=0.0)
    log_file = args.output_dir.with_name(args.output_dir.name + "-train_log.jsonl")
    start, last_save, step = time.monotonic(), time.monotonic(), 0
    floor = model.config.mel_floor

    def validation_loss() -> float | None:
        if validation is None:
            return None
        model.eval()
        with torch.no_grad():
            losses = []
            for audio in validation:
                magnitude = features.magnitude_spectrogram(audio)
                log_amplitude = model(features.log_mel_from_magnitude(magnitude)).log_amplitude
                losses.append(sum(amplitude_losses(log_amplitude, magnitude, floor)).item())
        model.train()
        return float(np.mean(losses))

    def summary() -> dict:
        return {
            "steps": step,
            "seconds": round(time.monotonic() - start, 1),
            "data_minutes": round(minutes, 1),
            "data": [str(folder) for folder in args.data],
            "batch_size": args.batch_size,
            "segment_seconds": args.segment_seconds,
            "speed_perturbation": args.speed_perturbation,
            "validation_loss": validation_loss(),
        }

    while time.monotonic() - start < args.minutes * 60 and (args.max_steps is None or step < args.max_steps):
        audio = sampler.batch(step, args.batch_size)
        with torch.no_grad():
            magnitude = features.magnitude_spectrogram(audio)  # one STFT for the target and the mel
            mel = features.log_mel_from_magnitude(magnitude)
        l1, convergence = amplitude_losses(model(mel).log_amplitude, magnitude, floor)
        loss = l1 + convergence
        progress = max((time.monotonic() - start) / (args.minutes * 60), step / (args.max_steps or float("inf")))
        for group in optimizer.param_groups:  # warm-up, then cosine decay over the budget: a calm end state
            group["lr"] = args.learning_rate * min(1.0, (step + 1) / 200) * 0.5 * (1 + math.cos(math.pi * progress))
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 10.0)
        optimizer.step()
        step += 1
        if step % 25 == 0:
            record = {
                "step": step,
                "seconds": round(time.monotonic() - start, 1),
                "log_l1": l1.item(),
                "convergence": convergence.item(),
            }
            append_log(log_file, record)
            print(record, flush=True)
        if time.monotonic() - last_save > args.save_minutes * 60:
            save(model, args.output_dir, summary())
            last_save = time.monotonic()
    final = summary()
    save(model, args.output_dir, final)
    print(f"saved {args.output_dir}: {final}")


if __name__ == "__main__":
    main()
