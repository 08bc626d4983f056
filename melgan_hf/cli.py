"""`melgan-hf`: the command line. Every subcommand is a thin layer over the library."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
from tqdm.auto import tqdm

from .audio import AUDIO_EXTENSIONS, find_files, load_audio, require_audible, save_audio, synthetic_melody
from .configuration_melgan import MEL_PRESETS
from .shipped import ANY_VOICE_CONVERTER, DEFAULT_CONVERTER, DEFAULT_VOCODER, SHIPPED_CONVERTERS, SHIPPED_VOCODERS

GRIFFIN_LIM = "griffin-lim"
DEMO_SECONDS = 3.0


def torch_device(device: str | None) -> Any:
    """`--device` as a `torch.device`, checked to work here, so a typo or a missing GPU fails before any work."""
    if device is None:
        return None
    import torch

    try:
        parsed = torch.device(device)
        torch.empty(0, device=parsed)
    except (RuntimeError, AssertionError) as error:  # AssertionError: "Torch not compiled with CUDA enabled"
        raise ValueError(f"--device {device!r} is not usable here: {error}") from error
    return parsed


def load_vocoder(model: str, preset: str, device: str | None, precision: str = "auto", compile: bool = False):  # noqa: ANN201 - either vocoder class
    """A `MelGANVocoder` from a folder or Hub id, or the Griffin-Lim baseline for `--model griffin-lim`."""
    from .feature_extraction_melgan import MelGANFeatureExtractor
    from .pipelines import GriffinLimVocoder, MelGANVocoder

    if model == GRIFFIN_LIM:
        return GriffinLimVocoder(MelGANFeatureExtractor.from_preset(preset))
    return MelGANVocoder.from_pretrained(model, device=torch_device(device), precision=precision, compile=compile)


def load_style_pipeline(model: str, device: str | None, precision: str = "auto", compile: bool = False):  # noqa: ANN201
    """A `StyleTransferPipeline` (style model, its features and its vocoder) from a folder or Hub id."""
    from .pipelines import StyleTransferPipeline

    return StyleTransferPipeline.from_pretrained(
        model, device=torch_device(device), precision=precision, compile=compile
    )


def _output_path(source: Path, roots: list[Path], out_dir: Path, taken: set[Path]) -> Path:
    """
    Keep the layout below a named folder, so same-named files in different folders don't overwrite each other; a
    name this run already wrote (x.wav beside x.flac, two named files called x.wav) gets a numbered one instead.
    """
    target = (out_dir / source.name).with_suffix(".wav")
    for root in roots:
        if root.is_dir() and source.is_relative_to(root):
            target = (out_dir / root.name / source.relative_to(root)).with_suffix(".wav")
            break
    candidate, number = target, 1
    while candidate in taken:
        number += 1
        candidate = target.with_name(f"{target.stem}-{number}.wav")
    taken.add(candidate)
    return candidate


def invert_file(vocoder, source: Path, max_duration: float | None) -> np.ndarray:  # noqa: ANN001
    """Audio → copy-synthesis; `.npy` → decode the mel it holds."""
    if source.suffix.lower() == ".npy":
        if not source.is_file():
            raise ValueError(f"{source}: file not found.")
        try:
            mel = np.load(source, allow_pickle=False)
        except (ValueError, OSError) as error:
            raise ValueError(f"{source}: not a readable .npy array: {error}") from error
        if mel.ndim == 3 and mel.shape[0] == 1:
            mel = mel[0]
        return vocoder.decode(mel)
    audio, rate = load_audio(source, max_duration=max_duration)
    return vocoder(audio, rate)[0]


def convert_file(pipeline, source: Path, max_duration: float | None) -> np.ndarray:  # noqa: ANN001
    """Audio in any format, rate and channel count → the same audio in the model's target style."""
    audio, rate = load_audio(source, max_duration=max_duration)
    return pipeline(audio, rate)[0]


def process_files(
    args: argparse.Namespace,
    *,
    task: str,
    extensions: tuple[str, ...],
    what: str,
    load: Callable[[], Any],
    process: Callable[[Any, Path], np.ndarray],
) -> int:
    """
    The loop every batch subcommand shares: find the inputs (folders recursively), load the model once, then per
    file `process(model, path)` → wav in `args.out` (same layout as the inputs) under a progress bar. A file that
    fails is reported by name and skipped; a summary line follows. Exit status: 2 if there is nothing to do or the
    model cannot be loaded, 1 if a file failed and `--strict` was given, else 0.
    """
    inputs = [Path(item) for item in args.inputs]
    files = find_files(inputs, extensions)
    if not files:
        print(f"error: no {what} found in {', '.join(map(str, inputs))}", file=sys.stderr)
        return 2
    try:
        model = load()
    except (OSError, ValueError) as error:
        print(f"error: cannot load model {args.model!r}: {error}", file=sys.stderr)
        return 2
    out_dir = Path(args.out)
    failures: list[tuple[Path, str]] = []
    written, taken = 0, set()
    for source in tqdm(files, desc=task, unit="file", disable=args.quiet):
        try:
            waveform = process(model, source)
            save_audio(_output_path(source, inputs, out_dir, taken), waveform, model.sampling_rate)
            written += 1
        except (ValueError, OSError) as error:
            failures.append((source, str(error)))
            tqdm.write(f"skipped {source}: {error}", file=sys.stderr)
    print(f"wrote {written} file(s) to {out_dir}; {len(failures)} failed")
    for source, reason in failures:
        print(f"  failed: {source}: {reason}", file=sys.stderr)
    return 1 if failures and args.strict else 0


def cmd_invert(args: argparse.Namespace) -> int:
    return process_files(
        args,
        task="invert",
        extensions=(*AUDIO_EXTENSIONS, ".npy"),
        what="audio or .npy files",
        load=lambda: load_vocoder(args.model, args.preset, args.device, args.precision, args.compile),
        process=lambda vocoder, source: invert_file(vocoder, source, args.max_duration),
    )


def load_converter(args: argparse.Namespace) -> Any:
    """The converter, pointed at `--target-voice` recordings when given (any-to-any converters only)."""
    pipeline = load_style_pipeline(args.model, args.device, args.precision, args.compile)
    if args.target_voice:
        references = read_recordings(args.target_voice, None, args.max_duration)
        if not references:
            raise ValueError(f"no readable audio files in --target-voice {' '.join(args.target_voice)}")
        pipeline.set_target(list(references.values()), name=", ".join(args.target_voice))
    return pipeline


def cmd_convert(args: argparse.Namespace) -> int:
    args.model = args.model or (ANY_VOICE_CONVERTER if args.target_voice else DEFAULT_CONVERTER)
    return process_files(
        args,
        task="convert",
        extensions=AUDIO_EXTENSIONS,
        what="audio files",
        load=lambda: load_converter(args),
        process=lambda pipeline, source: convert_file(pipeline, source, args.max_duration),
    )


def read_recordings(
    inputs: list[str], max_files: int | None, max_duration: float | None
) -> dict[str, tuple[np.ndarray, int]]:
    """`path → (audio, rate)` for the audio files named or found in folders, the first `max_files` of each input;
    unreadable and silent files (whose scores would mean nothing and skew the means) are reported and left out."""
    recordings = {}
    paths = [path for item in inputs for path in find_files(item, AUDIO_EXTENSIONS)[:max_files]]
    for path in paths:
        try:
            audio, rate = load_audio(path, max_duration=max_duration)
            recordings[str(path)] = require_audible(audio, "the recording"), rate
        except ValueError as error:
            print(f"skipped {path}: {error}", file=sys.stderr)
    return recordings


def read_transcripts(paths: list[str]) -> dict[str, str]:
    """`path → known words` for the recordings with a transcript beside them (`clip.txt` next to `clip.wav`)."""
    texts = {}
    for path in paths:
        text_file = Path(path).with_suffix(".txt")
        if text_file.is_file():
            texts[path] = text_file.read_text(encoding="utf-8", errors="replace").strip()
    return texts


def cmd_evaluate_vocoder(args: argparse.Namespace) -> int:
    """Copy-synthesis scores of the model (and the Griffin-Lim baseline) on a folder of recordings."""
    from .evaluation import evaluate_copy_synthesis
    from .pipelines import GriffinLimVocoder
    from .shipped import shipped_refiner_for

    recordings = read_recordings(args.data, args.max_files, args.max_duration)
    if not recordings:
        print(f"error: no readable audio files in {', '.join(args.data)}", file=sys.stderr)
        return 2
    try:
        vocoder = load_vocoder(args.model, args.preset, args.device, args.precision, args.compile)
    except (OSError, ValueError) as error:
        print(f"error: cannot load model {args.model!r}: {error}", file=sys.stderr)
        return 2
    systems = {args.model: vocoder}
    iterations = args.griffin_lim_iterations
    if not args.no_baseline and args.model != GRIFFIN_LIM:
        systems[f"{GRIFFIN_LIM} ({iterations} it.)"] = GriffinLimVocoder(vocoder.feature_extractor, n_iter=iterations)
    refiner = shipped_refiner_for(vocoder.feature_extractor.audio_fields) if args.refiner == "auto" else args.refiner
    if not args.no_baseline and refiner not in (None, "none"):
        try:
            refined = GriffinLimVocoder.refined(refiner, vocoder.feature_extractor, n_iter=iterations)
        except (OSError, ValueError) as error:
            print(f"error: cannot load amplitude refiner {refiner!r}: {error}", file=sys.stderr)
            return 2
        systems[f"{GRIFFIN_LIM}, refined amplitude ({iterations} it.)"] = refined
    table = evaluate_copy_synthesis(
        systems,
        recordings,
        vocoder.feature_extractor,
        progress=lambda items, **kw: tqdm(items, disable=args.quiet, **kw),
    )
    description = (
        f"Copy-synthesis of {len(recordings)} held-out file(s) ({', '.join(args.data)}), each scored against the"
        " original. PESQ-wb and STOI: higher is better; the rest: lower is better."
    )
    return _report(table, args, "Objective evaluation: copy-synthesis", description)


def cmd_evaluate_convert(args: argparse.Namespace) -> int:
    """Speaker similarity, WER change, DNSMOS and F0 correlation of a converter on a folder of source recordings."""
    from .augment import OFFICE_RT60, OFFICE_SNR_DB
    from .evaluation import CEILING, NOISY_INPUT, evaluate_conversion

    sources = read_recordings(args.source, args.max_files, args.max_duration)
    references = read_recordings(args.target_reference, args.max_files, args.max_duration)
    if not sources or not references:
        missing = "--source" if not sources else "--target-reference"
        print(f"error: no readable audio files in {missing}", file=sys.stderr)
        return 2
    systems = {}
    for model in [args.model, *args.compare]:
        try:
            systems[model] = load_style_pipeline(model, args.device, args.precision, args.compile)
        except (OSError, ValueError) as error:
            print(f"error: cannot load model {model!r}: {error}", file=sys.stderr)
            return 2
    ceiling = None if args.no_ceiling else getattr(systems[args.model], "vocoder", None)
    if not args.no_baseline:
        systems["source (not converted)"] = lambda audio, rate: (audio, rate)
    transcripts = read_transcripts([*sources, *references])
    table = evaluate_conversion(
        systems,
        sources,
        references,
        progress=lambda items, **kw: tqdm(items, disable=args.quiet, **kw),
        transcripts=transcripts,
        ceiling=ceiling,
        noisy=not args.clean_only,
    )
    known = sum(name in transcripts for name in sources)
    description = (
        f"Conversion of {len(sources)} held-out source file(s) ({', '.join(args.source)}); the target voice is the"
        f" mean of {len(references)} reference recording(s) ({', '.join(args.target_reference)}). Similarity"
        " (resemblyzer cosine), DNSMOS and F0 correlation: higher is better; the WERs (pocketsphinx en-us): lower is"
        f" better. `wer` and `wer_change` (converted minus source) are against the known words of the {known}"
        " source(s) with a transcript beside them; `wer_vs_source` is against the source's own transcript. Mean"
        " WERs are pooled: all errors over all reference words."
        + (
            f' Rows ending "{NOISY_INPUT}" convert the sources after a room (RT60 {OFFICE_RT60} s) and noise at'
            f" {OFFICE_SNR_DB:.0f} dB SNR, scored against the clean source."
            if not args.clean_only
            else ""
        )
        + (
            f' "{CEILING}": each held-out reference copy-synthesised by {args.model}\'s vocoder, compared with the'
            " other references: the best this vocoder allows."
            if CEILING in table.rows
            else ""
        )
    )
    return _report(table, args, "Objective evaluation: conversion", description)


def _report(table: Any, args: argparse.Namespace, heading: str, description: str) -> int:
    """Print the table; with --json write the scores, with --card put them in the model folder's README.md."""
    import json

    print(description)
    print(table.format())
    if args.json:
        Path(args.json).parent.mkdir(parents=True, exist_ok=True)
        Path(args.json).write_text(json.dumps(table.to_dict(), indent=2) + "\n")
        print(f"wrote {args.json}")
    if args.card is not None:
        from .shipped import resolve_model

        folder = Path(resolve_model(args.model))
        if not args.card and not folder.is_dir():
            raise SystemExit(f"error: --card without a file needs a local model folder; {args.model!r} is not one")
        card = update_model_card(Path(args.card) if args.card else folder / "README.md", heading, description, table)
        print(f"wrote the scores into {card}")
    return 0


def update_model_card(card: Path, heading: str, description: str, table: Any = "") -> Path:
    """Replace (or append) the `## heading` section of a model card with the description and the table (if any)."""
    table_text = table if isinstance(table, str) else table.format()
    body = f"{description}\n\n{table_text}\n" if table_text else f"{description}\n"
    text = card.read_text() if card.is_file() else ""
    section = f"## {heading}\n\n{body}"
    start = text.find(f"## {heading}\n")
    if start == -1:
        text = text.rstrip("\n") + ("\n\n" if text else "") + section
    else:
        following = text.find("\n## ", start + 1)
        text = text[:start] + section + ("\n" + text[following + 1 :] if following != -1 else "")
    card.write_text(text)
    return card


def cmd_export(args: argparse.Namespace) -> int:
    """The vocoder's generator as an ONNX file with dynamic batch and length."""
    from .export import export_onnx

    if args.model == GRIFFIN_LIM:
        print("error: Griffin-Lim has no network to export", file=sys.stderr)
        return 2
    try:
        vocoder = load_vocoder(args.model, "melgan", None)
    except (OSError, ValueError) as error:
        print(f"error: cannot load model {args.model!r}: {error}", file=sys.stderr)
        return 2
    path = export_onnx(vocoder, args.out, opset_version=args.opset)
    config = vocoder.config
    print(
        f"wrote {path} ({path.stat().st_size / 2**20:.1f} MiB): input 'mel' float32 (batch, frames,"
        f" {config.num_mel_bins}) in the {config.mel_preset} preset at {config.sampling_rate} Hz, output 'waveform'"
        f" (batch, frames * {config.hop_length})"
    )
    return 0


def cmd_demo(args: argparse.Namespace) -> int:
    vocoder = load_vocoder(args.model, args.preset, args.device, args.precision, args.compile)
    source = synthetic_melody(vocoder.sampling_rate, DEMO_SECONDS)
    output, rate = vocoder(source, vocoder.sampling_rate)
    out_dir = Path(args.out)
    save_audio(out_dir / "demo_input.wav", source, rate)
    save_audio(out_dir / "demo_output.wav", output, rate)
    features = vocoder.feature_extractor
    mel_in = features(source, sampling_rate=rate)["input_features"][0]
    mel_out = features(output, sampling_rate=rate)["input_features"][0]
    print(f"model: {args.model}; wrote {out_dir / 'demo_input.wav'} and {out_dir / 'demo_output.wav'} ({rate} Hz)")
    print(f"log-mel L1 distance, input vs output: {np.abs(mel_in - mel_out).mean():.3f}")
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="melgan-hf",
        description="MelGAN vocoding and MelGAN-VC style transfer on the Hugging Face stack. Vocoders are folders or"
        " Hub ids saved with MelGANVocoder.save_pretrained ('griffin-lim' is the classic baseline); style-transfer"
        " models are saved with StyleTransferPipeline.save_pretrained.",
    )
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    def add_device_option(command: argparse.ArgumentParser) -> None:
        command.add_argument("--device", default=None, help="torch device, e.g. cuda or cpu (default: cpu)")
        command.add_argument(
            "--precision",
            choices=["auto", "fp32", "mixed", "bf16"],
            default="auto",
            help="what the vocoder computes in (MelGANVocoder.block_dtypes): 'auto' is 'mixed' (bf16 where it is"
            " fast and harmless) on CPUs with native bf16, else 'fp32' (default: %(default)s)",
        )
        command.add_argument(
            "--compile",
            action="store_true",
            help="torch.compile the vocoder (a one-off compile of 10-30 s): for GPUs; on the CPU the default"
            " path is as fast",
        )

    def add_model_options(command: argparse.ArgumentParser, model_required: bool) -> None:
        command.add_argument(
            "--model",
            required=model_required,
            default=None if model_required else DEFAULT_VOCODER,
            help="local folder or Hub id of a MelGAN vocoder, a shipped one"
            f" ({', '.join(SHIPPED_VOCODERS)}), or '{GRIFFIN_LIM}' for the baseline"
            + ("" if model_required else " (default: %(default)s)"),
        )
        command.add_argument(
            "--preset",
            default="melgan",
            choices=sorted(MEL_PRESETS),
            help=f"mel preset for --model {GRIFFIN_LIM} (a MelGAN model brings its own): %(choices)s",
        )
        add_device_option(command)

    def add_batch_options(command: argparse.ArgumentParser) -> None:
        command.add_argument("--out", required=True, help="output folder (created if missing)")
        command.add_argument("--strict", action="store_true", help="exit with status 1 if any input failed")
        command.add_argument("--max-duration", type=float, default=None, help="skip audio files longer than this (s)")
        command.add_argument("--quiet", action="store_true", help="no progress bar")

    invert = commands.add_parser(
        "invert",
        help="turn audio files (copy-synthesis) or .npy mels into audio",
        description="Audio files (wav/flac/ogg/mp3, any rate, any channels) are converted to the model's mel and"
        " back (copy-synthesis); .npy files must hold a log-mel of shape (frames, num_mel_bins) in the model's"
        " preset. Folders are searched recursively. Outputs are wav files in --out, one per input; a file that"
        " fails is reported by name and skipped.",
    )
    invert.add_argument("inputs", nargs="+", metavar="INPUT", help="audio files, .npy mel files, or folders of them")
    add_model_options(invert, model_required=False)
    add_batch_options(invert)
    invert.set_defaults(handler=cmd_invert)

    convert = commands.add_parser(
        "convert",
        help="convert audio files into another voice or style (kNN voice conversion, MelGAN-VC style transfer)",
        description="Converts audio files (wav/flac/ogg/mp3, any rate, any channels; folders are searched"
        " recursively) with a style-transfer model: log-mel, the style model on overlapping chunks, then the"
        " model's own MelGAN vocoder. Any length works and memory stays bounded. Outputs are wav files at the"
        " model's sampling rate in --out, one per input, as long as the input, keeping the layout below named"
        " folders; a file that fails is reported by name and skipped. Exit status: 0 done, 1 some input failed"
        " and --strict was given, 2 no inputs found or the model cannot be loaded.",
    )
    convert.add_argument("inputs", nargs="+", metavar="INPUT", help="audio files or folders of them")
    convert.add_argument(
        "--model",
        default=None,
        help="local folder or Hub id of a style-transfer model saved with StyleTransferPipeline.save_pretrained"
        f" (style model and preprocessor at the top, its vocoder in vocoder/), or a shipped one:"
        f" {', '.join(SHIPPED_CONVERTERS)} (default: {DEFAULT_CONVERTER}; {ANY_VOICE_CONVERTER} with --target-voice)",
    )
    convert.add_argument(
        "--target-voice",
        nargs="+",
        default=None,
        metavar="REFERENCE",
        help="recordings (files or folders, 30 s of speech at least, minutes are better) of the voice to convert"
        " into, for any-to-any converters (kNN); use only voices whose owners agreed",
    )
    add_device_option(convert)
    add_batch_options(convert)
    convert.set_defaults(handler=cmd_convert)

    evaluate = commands.add_parser(
        "evaluate",
        help="objective scores of a model on held-out recordings",
        description="Objective evaluation. 'vocoder': copy-synthesis of every recording, scored against it."
        " 'convert': style transfer of every source recording, scored against the source and the target.",
    )
    evaluate_modes = evaluate.add_subparsers(dest="mode", required=True, metavar="MODE")
    evaluate_vocoder = evaluate_modes.add_parser(
        "vocoder",
        help="copy-synthesis scores of a vocoder, with Griffin-Lim as the baseline row",
        description="Per file and on average: wide-band PESQ, STOI, multi-resolution STFT distance, log-mel L1, mel"
        " cepstral distortion (DTW, dB), F0 gross pitch error and voicing decision error (WORLD). Needs the [eval]"
        " extra. Griffin-Lim (32 iterations) on the model's own mel is scored alongside as the baseline, and"
        " Griffin-Lim on a trained amplitude refiner's amplitude (refined-amplitude Griffin-Lim) where one fits.",
    )
    evaluate_vocoder.add_argument("--data", nargs="+", required=True, help="audio files or folders (recursive)")
    add_model_options(evaluate_vocoder, model_required=True)
    evaluate_vocoder.add_argument("--json", default=None, help="also write per-file and mean scores to this file")
    evaluate_vocoder.add_argument(
        "--card",
        nargs="?",
        const="",
        default=None,
        metavar="README",
        help="also write the mean scores into this model card (default: the model folder's README.md)",
    )
    evaluate_vocoder.add_argument("--no-baseline", action="store_true", help="skip the Griffin-Lim rows")
    evaluate_vocoder.add_argument(
        "--refiner",
        default="auto",
        help="amplitude refiner for the refined-amplitude Griffin-Lim row: a folder or Hub id, 'none', or 'auto' (the"
        " shipped one for the model's mel front end, if there is one; default)",
    )
    evaluate_vocoder.add_argument("--griffin-lim-iterations", type=int, default=32, help="default: %(default)s")
    evaluate_vocoder.add_argument(
        "--max-files", type=int, default=None, help="use only the first N files of each --data entry"
    )
    evaluate_vocoder.add_argument("--max-duration", type=float, default=None, help="skip files longer than this (s)")
    evaluate_vocoder.add_argument("--quiet", action="store_true", help="no progress bar")
    evaluate_vocoder.set_defaults(handler=cmd_evaluate_vocoder)

    evaluate_convert = evaluate_modes.add_parser(
        "convert",
        help="how well a style-transfer model converts: speaker similarity, WER change, DNSMOS, F0 correlation",
        description="Converts every --source file and scores it: speaker similarity (resemblyzer cosine) to the"
        " target (mean of the --target-reference recordings, which must be held out of the converter's training and"
        " matching set) and to its source; pocketsphinx WER against the known words where a transcript sits beside"
        " the audio (clip.txt next to clip.wav), and its change from the source's own WER; DNSMOS OVRL/SIG/BAK; F0"
        " correlation with the source. Rows: each model, the unconverted sources (baseline), each of them again on"
        " noisy microphone-like input, and a ceiling (the references through the model's vocoder). Needs the [eval]"
        " extra.",
    )
    evaluate_convert.add_argument("--source", nargs="+", required=True, help="recordings to convert (files/folders)")
    evaluate_convert.add_argument(
        "--target-reference", nargs="+", required=True, help="recordings of the target voice or style (files/folders)"
    )
    evaluate_convert.add_argument(
        "--model",
        required=True,
        help=f"style-transfer model folder, Hub id or shipped name ({', '.join(SHIPPED_CONVERTERS)})",
    )
    add_device_option(evaluate_convert)
    evaluate_convert.add_argument("--json", default=None, help="also write per-file and mean scores to this file")
    evaluate_convert.add_argument(
        "--card",
        nargs="?",
        const="",
        default=None,
        metavar="README",
        help="also write the mean scores into this model card (default: the model folder's README.md)",
    )
    evaluate_convert.add_argument(
        "--compare", nargs="+", default=[], metavar="MODEL", help="more converters scored in the same run, as rows"
    )
    evaluate_convert.add_argument("--no-baseline", action="store_true", help="skip the unconverted-source row")
    evaluate_convert.add_argument(
        "--no-ceiling", action="store_true", help="skip the ceiling row (references through the vocoder)"
    )
    evaluate_convert.add_argument("--clean-only", action="store_true", help="skip the noisy-input rows (half the time)")
    evaluate_convert.add_argument(
        "--max-files", type=int, default=None, help="use only the first N files of each entry"
    )
    evaluate_convert.add_argument("--max-duration", type=float, default=None, help="skip files longer than this (s)")
    evaluate_convert.add_argument("--quiet", action="store_true", help="no progress bar")
    evaluate_convert.set_defaults(handler=cmd_evaluate_convert)

    export = commands.add_parser(
        "export",
        help="export a vocoder's generator to ONNX",
        description="Writes the generator (weight norm folded, fp32) as ONNX with dynamic batch and length: input"
        " 'mel' (batch, frames, num_mel_bins) log-mel in the model's preset, output 'waveform' (batch, frames *"
        " hop_length). The mel front end is stored in the file's metadata. Needs the [export] extra.",
    )
    export.add_argument("--format", choices=["onnx"], default="onnx", help="only onnx for now")
    export.add_argument(
        "--model", default=DEFAULT_VOCODER, help="vocoder folder, Hub id or shipped name (default: %(default)s)"
    )
    export.add_argument("--out", required=True, help="the .onnx file to write")
    export.add_argument("--opset", type=int, default=18, help="ONNX opset (default: %(default)s)")
    export.set_defaults(handler=cmd_export)

    demo = commands.add_parser(
        "demo",
        help="synthesise a test melody, vocode it, and write both",
        description="Writes demo_input.wav (a synthetic melody) and demo_output.wav (its copy-synthesis by --model)"
        " to --out and prints their log-mel distance.",
    )
    add_model_options(demo, model_required=False)
    demo.add_argument("--out", default="outputs/demo", help="output folder (default: %(default)s)")
    demo.set_defaults(handler=cmd_demo)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    return args.handler(args)


if __name__ == "__main__":
    sys.exit(main())
