"""Held-out PESQ-wb and STOI of vocoder recipes against the CPU minutes they trained, beside both Griffin-Lim baselines.

    python benchmarks/learning_curves.py --run melgan=RUN_DIR --run istft=RUN_DIR[+24] \
        --data HELDOUT_SPEAKER_DIR ... --max-files 3 --out docs/learning_curves.png --json curves.json

Each RUN_DIR is a `train_vocoder.py --snapshot_every_minutes M` output: `snapshots.jsonl` lists generators saved
every M CPU minutes of training (from the first step, across resumes). `+24` adds CPU minutes spent before the run
(a pre-trained amplitude refiner the run started from, say). All snapshots and both baselines (plain and
refined-amplitude Griffin-Lim, 32 iterations) are scored on the same files in this one run. With `--json` naming
an earlier run's output on the same files, its points are reused, and its curves for runs not given again (their
snapshots may be long gone) are kept in the plot as they were scored.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from melgan_hf import GriffinLimVocoder, MelGANVocoder  # noqa: E402
from melgan_hf.cli import read_recordings  # noqa: E402
from melgan_hf.evaluation import pesq_wideband, stoi  # noqa: E402
from melgan_hf.shipped import shipped_refiner_for  # noqa: E402

MEASURES = {"pesq_wb": ("PESQ-wb", pesq_wideband), "stoi": ("STOI", stoi)}


def scores(vocoder: MelGANVocoder | GriffinLimVocoder, recordings: dict[str, tuple[np.ndarray, int]]) -> dict:
    """Mean PESQ-wb and STOI of copy-synthesis over the recordings (NaN scores left out)."""
    per_measure: dict[str, list[float]] = {name: [] for name in MEASURES}
    for audio, rate in recordings.values():
        output, output_rate = vocoder(audio, rate)
        if output_rate != rate:
            raise SystemExit(f"recordings must be at the vocoder's rate ({output_rate} Hz), got {rate} Hz")
        for name, (_, measure) in MEASURES.items():
            per_measure[name].append(measure(audio, output, rate))
    return {name: float(np.nanmean(values)) for name, values in per_measure.items()}


def parse_run(text: str) -> tuple[str, Path, float]:
    name, _, rest = text.partition("=")
    folder, _, offset = rest.partition("+")
    if not name or not folder:
        raise argparse.ArgumentTypeError(f"--run takes NAME=RUN_DIR[+MINUTES], got {text!r}")
    return name, Path(folder), float(offset or 0)


def plot(curves: dict, baselines: dict, path: Path, title: str) -> None:
    import matplotlib

    matplotlib.use("Agg")
    from matplotlib import pyplot

    figure, axes = pyplot.subplots(1, len(MEASURES), figsize=(11, 5.6))
    for axis, (measure, (label, _)) in zip(axes, MEASURES.items(), strict=True):
        for name, points in curves.items():
            axis.plot([p["cpu_minutes"] for p in points], [p[measure] for p in points], marker="o", label=name)
        for (name, values), style in zip(baselines.items(), ("--", ":"), strict=False):
            axis.axhline(values[measure], color="grey", linestyle=style, label=name)
        axis.set_xlabel("training CPU minutes (1 thread)")
        axis.set_ylabel(label)
        axis.grid(alpha=0.3)
    figure.suptitle(title, fontsize=10)
    figure.tight_layout(rect=(0, 0.22, 1, 1))
    figure.legend(*axes[0].get_legend_handles_labels(), loc="lower center", ncol=2, fontsize=8, frameon=False)
    path.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(path, dpi=110)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--run", type=parse_run, action="append", required=True, help="NAME=RUN_DIR[+MINUTES]")
    parser.add_argument("--data", nargs="+", required=True, help="held-out speakers' folders (or files)")
    parser.add_argument("--max-files", type=int, default=3, help="first files of each --data folder")
    parser.add_argument("--out", type=Path, required=True, help="PNG to write")
    parser.add_argument("--json", type=Path, default=None, help="also write the points here")
    args = parser.parse_args()

    recordings = read_recordings(args.data, args.max_files, None)
    # Points already scored on the same files (an earlier run of this script with --json) are reused.
    earlier = json.loads(args.json.read_text()) if args.json and args.json.is_file() else {}
    known = {}
    if earlier.get("files") == list(recordings):
        known = {point["path"]: point for points in earlier["curves"].values() for point in points}
    named = {name for name, _, _ in args.run}
    curves: dict[str, list[dict]] = {
        name: points for name, points in earlier.get("curves", {}).items() if known and name not in named
    }
    features = None
    for name, folder, offset in args.run:
        log = folder / "snapshots.jsonl"
        if not log.is_file():
            raise SystemExit(f"{log} not found: train with --snapshot_every_minutes")
        curves[name] = []
        for line in log.read_text().splitlines():
            entry = json.loads(line)
            vocoder = MelGANVocoder.from_pretrained(entry["path"])
            features = features or vocoder.feature_extractor
            point = {"cpu_minutes": round(entry["cpu_minutes"] + offset, 2), "step": entry["step"]}
            point["path"] = entry["path"]
            if entry["path"] in known:
                point.update({name: known[entry["path"]][name] for name in MEASURES})
            else:
                point.update(scores(vocoder, recordings))
            curves[name].append(point)
            print(name, json.dumps(point), flush=True)
    baselines = {"Griffin-Lim (32 it.)": scores(GriffinLimVocoder(features), recordings)}
    refiner = shipped_refiner_for(features.audio_fields)
    if refiner is not None:
        refined = GriffinLimVocoder.refined(refiner, features)
        baselines["Griffin-Lim, refined amplitude (32 it.)"] = scores(refined, recordings)
    print(json.dumps(baselines))
    title = f"copy-synthesis of {len(recordings)} files by {len(args.data)} held-out speakers"
    plot(curves, baselines, args.out, title)
    if args.json:
        points = {"files": list(recordings), "curves": curves, "baselines": baselines}
        args.json.write_text(json.dumps(points, indent=1))
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
