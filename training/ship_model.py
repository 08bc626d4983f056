"""
Copy a trained vocoder, converter or amplitude refiner into the package as a shipped model (`melgan_hf/models/NAME`),
in fp16 when that loses nothing measurable, so the repository carries half the bytes.

    python training/ship_model.py TRAINED_FOLDER NAME [--vocoder VOCODER_FOLDER] [--keep-discriminator]

A converter (a `StyleTransferPipeline` folder) may get another vocoder on the same mel front end with --vocoder:
the style model works on mels only, so a vocoder trained longer can replace the one it was trained beside. The
fp16 check decodes a held-out-like test signal with the fp32 and the fp16-rounded weights and compares them; the
weights stay fp32 when the outputs differ by more than `--tolerance` (log-mel L1, natural-log units; for a refiner,
the L1 of its log-amplitude).
Then score it with `melgan-hf evaluate … --model NAME --card`, which writes the scores into its model card.
"""

from __future__ import annotations

import argparse
import copy
import json
import shutil
import sys
from pathlib import Path

import numpy as np
import torch

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from melgan_hf import MelAmplitudeRefiner, MelAmplitudeRefinerConfig, MelGANVocoder, StyleTransferPipeline  # noqa: E402
from melgan_hf.audio import synthetic_melody  # noqa: E402
from melgan_hf.cli import update_model_card  # noqa: E402
from melgan_hf.feature_extraction_melgan import MelGANFeatureExtractor  # noqa: E402
from melgan_hf.shipped import SHIPPED_DIR  # noqa: E402
from training.train_ppg_decoder import CRITIC_FILE  # noqa: E402


def fp16_rounded(module: torch.nn.Module) -> torch.nn.Module:
    """A copy whose weights went through fp16 and back: what loading the fp16 file gives."""
    rounded = copy.deepcopy(module)
    with torch.no_grad():
        for tensor in [*rounded.parameters(), *rounded.buffers()]:
            if tensor.is_floating_point():
                tensor.copy_(tensor.half().float())
    return rounded


def output_difference(model: MelGANVocoder | StyleTransferPipeline, rounded: MelGANVocoder | StyleTransferPipeline):  # noqa: ANN201
    """Log-mel L1 between the outputs of the two models on a 4 s test melody, and the largest sample difference."""
    rate = model.sampling_rate
    signal = synthetic_melody(rate, 4.0)
    first, second = model(signal, rate)[0], rounded(signal, rate)[0]
    features = model.feature_extractor
    mels = [features(audio, sampling_rate=rate)["input_features"][0] for audio in (first, second)]
    return float(np.abs(mels[0] - mels[1]).mean()), float(np.abs(first - second).max())


def refiner_difference(model: MelAmplitudeRefiner, rounded: MelAmplitudeRefiner) -> tuple[float, float]:
    """Mean and largest change of the log-amplitude the two refiners give for a 4 s test melody's mel."""
    features = MelGANFeatureExtractor.from_config(model.config)
    rate = features.sampling_rate
    mel = features(synthetic_melody(rate, 4.0), sampling_rate=rate, return_tensors="pt")["input_features"]
    with torch.no_grad():
        change = (model(mel).log_amplitude - rounded(mel).log_amplitude).abs()
    return float(change.mean()), float(change.max())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("trained", help="a trained vocoder or converter folder")
    parser.add_argument("name", help="the shipped name (folder under melgan_hf/models)")
    parser.add_argument("--vocoder", default=None, help="for a converter: the vocoder to ship with it")
    parser.add_argument("--keep-discriminator", action="store_true", help="ship a vocoder's discriminator too")
    parser.add_argument("--tolerance", type=float, default=0.01, help="largest log-mel L1 change fp16 may cause")
    args = parser.parse_args()

    trained = Path(args.trained)
    is_converter = (trained / "vocoder").is_dir()
    model_type = json.loads((trained / "config.json").read_text()).get("model_type")
    if model_type == MelAmplitudeRefinerConfig.model_type:
        model = MelAmplitudeRefiner.from_pretrained(trained, use_safetensors=True, dtype=torch.float32).eval()
        rounded = fp16_rounded(model)
        mel_change, sample_change = refiner_difference(model, rounded)
    elif is_converter:
        # fp32 decoding: the comparison must see the weights' rounding, not bf16 compute's
        model = StyleTransferPipeline.from_pretrained(trained, precision="fp32")
        if args.vocoder:
            model = StyleTransferPipeline(model.model, MelGANVocoder.from_pretrained(args.vocoder, precision="fp32"))
        rounded = StyleTransferPipeline(
            fp16_rounded(model.model),
            MelGANVocoder(fp16_rounded(model.vocoder.generator), model.vocoder.feature_extractor, precision="fp32"),
            model.feature_extractor,
        )
    else:
        model = MelGANVocoder.from_pretrained(trained, load_discriminator=args.keep_discriminator, precision="fp32")
        rounded = MelGANVocoder(fp16_rounded(model.generator), model.feature_extractor, precision="fp32")
    if model_type != MelAmplitudeRefinerConfig.model_type:
        mel_change, sample_change = output_difference(model, rounded)
    half = mel_change <= args.tolerance
    measure = "log-amplitude L1" if model_type == MelAmplitudeRefinerConfig.model_type else "log-mel L1"
    print(f"fp16 weights change the output by {mel_change:.5f} {measure} (largest change {sample_change:.2e})")

    destination = SHIPPED_DIR / args.name
    # The card: the trained folder's, else the one already shipped under this name (re-shipping keeps its text).
    shipped_card = destination / "README.md"
    previous_card = shipped_card.read_text() if shipped_card.is_file() else None
    shutil.rmtree(destination, ignore_errors=True)
    if isinstance(model, MelAmplitudeRefiner):
        networks = [model]
    else:
        networks = [model.model, model.vocoder.generator] if is_converter else [model.generator]
    if isinstance(model, MelGANVocoder) and model.discriminator is not None:
        networks.append(model.discriminator)
    if half:
        for network in networks:
            network.half()
    model.save_pretrained(destination)
    if (trained / CRITIC_FILE).is_file():  # a PPG converter's critic, so training can continue from the shipped one
        shutil.copy(trained / CRITIC_FILE, destination / CRITIC_FILE)
    card = trained / "README.md"
    if card.is_file():
        shutil.copy(card, destination / "README.md")
    elif previous_card is not None:
        shipped_card.write_text(previous_card)
    size = sum(file.stat().st_size for file in destination.rglob("*.safetensors")) / 2**20
    stored = (
        f"fp16 (loaded as fp32; rounding the weights to fp16 changes the output by {mel_change:.4f} {measure})"
        if half
        else f"fp32 (fp16 would change the output by {mel_change:.4f} {measure}, over {args.tolerance})"
    )
    vocoder_note = f" The vocoder in `vocoder/` is a copy of {args.vocoder}." if is_converter and args.vocoder else ""
    update_model_card(
        destination / "README.md", "Weights", f"{size:.1f} MiB of safetensors, stored in {stored}.{vocoder_note}"
    )
    print(f"shipped {args.name} in {'fp16' if half else 'fp32'}: {size:.1f} MiB of weights in {destination}")


if __name__ == "__main__":
    main()
