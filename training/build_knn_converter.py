"""Make a kNN voice converter into one speaker: a trained phone encoder, that speaker's recordings, a vocoder.

    python training/build_knn_converter.py --encoder PHONE_ENCODER --target SPEAKER_DIR --output_dir OUT \\
        [--vocoder istft-vocoder-16k] [--target_name "Allison (Asterisk English prompts)"] [--heldout_every 10]

Nothing is trained: the target's mel frames (silence trimmed), their phone-encoder content and their pitch become
the matching set stored in the model, so OUT is one folder that `StyleTransferPipeline.from_pretrained(OUT)` loads.
With `--heldout_every N`, every Nth file (sorted) stays out of the matching set and is listed in `heldout.txt`:
target references for judging similarity that the converter never copied from.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from melgan_hf import KnnVCConfig, KnnVCModel, MelGANVocoder, PhoneEncoderModel, StyleTransferPipeline
from melgan_hf.audio import AUDIO_EXTENSIONS, find_files
from melgan_hf.pipelines import load_model, require_same_front_end, speech_features
from training.common import render_model_card
from training.dataset import load_folder


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--encoder", required=True, help="a PhoneEncoderModel folder (train_phone_encoder.py)")
    parser.add_argument("--target", required=True, type=Path, help="folder of the target speaker's recordings")
    parser.add_argument("--output_dir", required=True, type=Path)
    parser.add_argument("--vocoder", default="istft-vocoder-16k", help="vocoder folder, Hub id or shipped name")
    parser.add_argument("--target_name", default=None, help="whose voice this is (default: the folder's name)")
    parser.add_argument("--heldout_every", type=int, default=10, help="keep every Nth file out (0: use all)")
    parser.add_argument("--content", choices=["bottleneck", "posteriors"], default="bottleneck")
    parser.add_argument("--k", type=int, default=16)
    parser.add_argument("--pitch_weight", type=float, default=3.0)
    parser.add_argument("--context_frames", type=int, default=4)
    parser.add_argument("--content_shortlist", type=int, default=0, help="N: pick among the N nearest in content")
    parser.add_argument("--frame_stride", type=int, default=1, help="keep every Nth target frame (a smaller model)")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    encoder = load_model(PhoneEncoderModel, args.encoder)
    vocoder = MelGANVocoder.from_pretrained(args.vocoder)
    require_same_front_end(("phone encoder", encoder.config.audio_kwargs), ("vocoder", vocoder.config.audio_kwargs))
    features = vocoder.feature_extractor
    clips, report = load_folder(args.target, features.sampling_rate, features.n_fft)
    files = find_files([args.target], AUDIO_EXTENSIONS)  # sorted: the held-out choice ignores skipped files
    held_out = set(files[:: args.heldout_every]) if args.heldout_every else set()
    matching = sorted((clip for clip in clips if clip.path not in held_out), key=lambda clip: clip.path)
    print(report.summary())
    print(f"matching set: {len(matching)} files; held out: {len(held_out)}")

    mels, pitches = [], []
    for clip in matching:
        mel, f0 = speech_features(clip.audio, features.sampling_rate, features)
        mels.append(mel[:: args.frame_stride])
        pitches.append(f0[:: args.frame_stride])
    name = args.target_name or args.target.name
    config = KnnVCConfig(
        **encoder.config.audio_kwargs,
        encoder=encoder.config.to_dict(),
        content=args.content,
        k=args.k,
        pitch_weight=args.pitch_weight,
        context_frames=args.context_frames,
        content_shortlist=args.content_shortlist,
    )
    model = KnnVCModel(config).eval()
    model.encoder.load_state_dict(encoder.state_dict())
    with torch.no_grad():
        model.set_target(mels, pitches, name)
    pipeline = StyleTransferPipeline(model, vocoder)
    args.output_dir.mkdir(parents=True, exist_ok=True)
    pipeline.save_pretrained(args.output_dir)
    (args.output_dir / "heldout.txt").write_text(
        "".join(f"{path.relative_to(args.target)}\n" for path in sorted(held_out))
    )
    minutes = sum(mel.shape[0] for mel in mels) * args.frame_stride * features.hop_length / features.sampling_rate / 60
    card = render_model_card(
        "knn_vc.md",
        {
            "target_name": name,
            "sampling_rate": features.sampling_rate,
            "matching_minutes": f"{minutes:.1f}",
            "matching_frames": model.config.matching_frames,
            "content": args.content,
            "k": args.k,
            "pitch_weight": args.pitch_weight,
            "context_frames": args.context_frames,
            "encoder": args.encoder,
            "vocoder": args.vocoder,
        },
    )
    (args.output_dir / "README.md").write_text(card)
    print(f"converter into {name}: {model.config.matching_frames} frames ({minutes:.1f} min) in {args.output_dir}")
    print("score it: melgan-hf evaluate convert --model OUT --source VOICES --target-reference HELD_OUT --card")


if __name__ == "__main__":
    main()
