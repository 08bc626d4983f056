"""Frame accuracy of a phone encoder on labelled folders: voices it trained on beside voices it never heard.

    python benchmarks/phone_accuracy.py --encoder voice-to-any --data heard=DIR unseen=DIR [--max-files 40]

Each DIR holds clips with their phone timings beside them (`build_synthetic_voices.py --labels`, or
`align_speech.py`). Prints, per folder, the share of frames and of speech frames whose most likely phone is the
label, clean and through `office_microphone`'s room and noise. The gap between heard and unseen voices is how much
content a new speaker loses before any converter's decoder sees it. `--encoder` takes a phone encoder or a converter
that holds one (`voice-to-any`, `voice-to-english`, a folder, a Hub id).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from melgan_hf import MelGANFeatureExtractor  # noqa: E402
from training.train_phone_encoder import frame_accuracy, load_encoder, named_folders, validation_sets  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--encoder", default="voice-to-any")
    parser.add_argument("--data", nargs="+", required=True, metavar="NAME=DIR", help="labelled folders to score")
    parser.add_argument("--max-files", type=int, default=40, help="clips per folder")
    args = parser.parse_args()
    try:
        folders = named_folders(args.data, "--data")
    except ValueError as error:
        raise SystemExit(str(error)) from error
    for name, folder in folders.items():
        if not folder.is_dir():
            raise SystemExit(f"--data {name}={folder}: no such folder")
    encoder = load_encoder(args.encoder).float()
    features = MelGANFeatureExtractor.from_config(encoder.config)
    metrics = frame_accuracy(encoder, validation_sets(folders, features, args.max_files, seed=0, show=False))
    print(f"phone frame accuracy of {args.encoder} (speech frames only in brackets)")
    print("| voices | clean | room + noise |\n|---|---|---|")
    for name in folders:
        clean, noisy = (
            f"{metrics[f'{name}/{condition}_accuracy']:.3f} ({metrics[f'{name}/{condition}_speech_accuracy']:.3f})"
            for condition in ("clean", "noisy")
        )
        print(f"| {name} | {clean} | {noisy} |")


if __name__ == "__main__":
    main()
