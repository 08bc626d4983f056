"""
melgan-hf in the browser: record or upload a clip and hear it in another voice or timbre; turn mels into audio.

    python app.py [--model FOLDER ...] [--host 127.0.0.1]      # port: $GRADIO_SERVER_PORT, else 7860

Runs offline on the CPU with the models shipped in the package. `--model` offers more local folders in the choosers
(converters and vocoders alike); users may also type a Hub id. A typed name is never read as a local path, so the
server reads only the shipped models, the folders its operator named, and its own upload area.
API for `gradio_client`: `/convert` and `/invert` (README.md, "The app").
"""

from __future__ import annotations

import argparse
import os
import re
import time
from collections.abc import Callable
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")  # before gradio is imported

import gradio as gr
import numpy as np
from huggingface_hub import constants as hub_constants
from matplotlib import colormaps

from melgan_hf import GriffinLimVocoder, MelGANVocoder, StyleTransferPipeline, load_audio
from melgan_hf.audio import AudioError, require_audible, synthetic_melody
from melgan_hf.feature_extraction_melgan import MelGANFeatureExtractor
from melgan_hf.pipelines import audio_to_mel
from melgan_hf.shipped import (
    DEFAULT_CONVERTER,
    DEFAULT_VOCODER,
    SHIPPED_CONVERTERS,
    SHIPPED_VOCODERS,
)


@dataclass(frozen=True)
class Limits:
    """Every limit the app enforces, in one place (documented in README.md)."""

    max_seconds: float = 30.0  # per clip or mel, both tabs
    max_upload_mb: int = 10  # per uploaded file; 30 s of 48 kHz stereo 16-bit wav is 5.8 MB
    concurrency: int = 2  # requests processed at once; the rest wait in the queue
    queue_size: int = 16  # requests waiting beyond this are refused
    cached_models: int = 4  # loaded models kept in memory


LIMITS = Limits()
HUB_ID = re.compile(r"^[A-Za-z0-9][\w.-]*/[\w.-]+$")
SPECTROGRAM_HEIGHT = 3  # pixels per mel bin in the plots
SPECTROGRAM_RANGE = 8.0  # natural-log units shown below each plot's peak (≈ 70 dB)


@lru_cache(maxsize=LIMITS.cached_models)
def _load(kind: str, name: str) -> MelGANVocoder | StyleTransferPipeline:
    loader = StyleTransferPipeline if kind == "converter" else MelGANVocoder
    return loader.from_pretrained(name)


def load_model(kind: str, name: str, shipped: dict[str, str], local_folders: list[str]) -> Any:
    """A shipped model, an operator-named folder or a Hub id → the loaded model, or a `gr.Error` saying why not."""
    name = (name or "").strip()
    if not name:
        raise gr.Error(f"Choose a {kind} or type a Hub id (owner/name).")
    allowed = name in shipped or name in local_folders
    if not allowed and not HUB_ID.match(name):
        raise gr.Error(f"{name!r} is neither one of the listed models nor a Hub id of the form owner/name.")
    if not allowed and Path(name).exists():
        raise gr.Error(f"{name!r} is a local path; the app's operator can offer it with `python app.py --model PATH`.")
    try:
        return _load(kind, name)
    except (OSError, ValueError) as error:
        if allowed:
            raise gr.Error(f"Could not load {name!r}: {error}") from error
        reason = (
            "this server is offline (HF_HUB_OFFLINE), so only the listed models work"
            if hub_constants.HF_HUB_OFFLINE
            else "the Hub cannot be reached, or the repository does not exist, is private, or holds no melgan-hf"
            f" {kind}"
        )
        raise gr.Error(f"Could not load {name!r} from the Hub: {reason}.") from error


def read_clip(path: str | None, what: str) -> tuple[np.ndarray, int]:
    """An uploaded or recorded file → mono float32 and its rate, or a `gr.Error` that says what to do."""
    if not path:
        raise gr.Error(f"No {what}: record with the microphone or upload an audio file first.")
    try:
        audio, rate = load_audio(path, max_duration=LIMITS.max_seconds)
        require_audible(audio, what)
    except AudioError as error:
        detail = str(error).replace(str(path), what)  # the temp path means nothing to the user
        raise gr.Error(f"{detail} Use a {LIMITS.max_seconds:.0f} s or shorter wav/flac/ogg/mp3 with sound.") from error
    if len(audio) < rate * 0.1:
        raise gr.Error(f"The {what} is only {len(audio) / rate * 1000:.0f} ms long; use at least 0.1 s.")
    return audio, rate


def read_mel(path: str, features: MelGANFeatureExtractor) -> np.ndarray:
    """A `.npy` log-mel `(frames, mels)` (or `(1, frames, mels)`) in the vocoder's preset, checked before decoding."""
    try:
        mel = np.load(path, allow_pickle=False)
    except (ValueError, OSError) as error:
        raise gr.Error(f"Not a readable .npy array (pickled objects are refused): {error}") from error
    if not isinstance(mel, np.ndarray) or not np.issubdtype(mel.dtype, np.floating):
        raise gr.Error(f"The mel must be a float array; this one holds {getattr(mel, 'dtype', type(mel))}.")
    if mel.ndim == 3 and mel.shape[0] == 1:
        mel = mel[0]
    bins = features.feature_size
    if mel.ndim != 2 or mel.shape[1] != bins:
        hint = " It looks like (mels, frames): transpose it." if mel.ndim == 2 and mel.shape[0] == bins else ""
        raise gr.Error(f"The mel must have shape (frames, {bins}); got {mel.shape}.{hint}")
    max_frames = int(LIMITS.max_seconds * features.sampling_rate / features.hop_length)
    if not 0 < mel.shape[0] <= max_frames:
        raise gr.Error(f"The mel has {mel.shape[0]} frames; use 1 to {max_frames} ({LIMITS.max_seconds:.0f} s).")
    if not np.all(np.isfinite(mel)):
        raise gr.Error("The mel contains NaN or infinite values.")
    return mel.astype(np.float32)


def to_int16(audio: np.ndarray, rate: int) -> tuple[int, np.ndarray]:
    """Gradio peak-normalises float audio; int16 reaches the listener at the level the model produced."""
    return rate, (np.clip(audio, -1.0, 1.0) * 32767).astype(np.int16)


def spectrogram(mel: np.ndarray) -> np.ndarray:
    """`(frames, mels)` log-mel → RGB image, low frequencies at the bottom, the top 8 ln units (≈ 70 dB) shown."""
    image = mel.T[::-1]
    image = np.clip((image - image.max() + SPECTROGRAM_RANGE) / SPECTROGRAM_RANGE, 0.0, 1.0)
    rgb = (colormaps["magma"](image)[..., :3] * 255).astype(np.uint8)
    return np.repeat(rgb, SPECTROGRAM_HEIGHT, axis=0)


def mel_of(audio: np.ndarray, rate: int, features: MelGANFeatureExtractor) -> np.ndarray:
    return audio_to_mel(audio, rate, features)[0].numpy()


def mel_distance(reference: np.ndarray, other: np.ndarray) -> float:
    frames = min(len(reference), len(other))
    return float(np.abs(reference[:frames] - other[:frames]).mean())


def convert(
    audio_path: str | None, model_name: str, *, local_folders: list[str]
) -> tuple[tuple[int, np.ndarray], np.ndarray, np.ndarray, str]:
    """Recording → converted audio, spectrograms of input and output, and timings."""
    audio, rate = read_clip(audio_path, "recording")
    pipeline = load_model("converter", model_name, SHIPPED_CONVERTERS, local_folders)
    start = time.perf_counter()
    output, output_rate = pipeline(audio, rate)
    elapsed = time.perf_counter() - start
    features = pipeline.feature_extractor
    seconds = len(audio) / rate
    details = (
        f"{seconds:.2f} s in at {rate} Hz → {len(output) / output_rate:.2f} s out at {output_rate} Hz;"
        f" converted in {elapsed:.2f} s ({seconds / elapsed:.1f}× real time) by {model_name}."
    )
    return (
        to_int16(output, output_rate),
        spectrogram(mel_of(audio, rate, features)),
        spectrogram(mel_of(output, output_rate, features)),
        details,
    )


def invert(
    audio_path: str | None, mel_path: str | None, model_name: str, *, local_folders: list[str]
) -> tuple[tuple[int, np.ndarray], tuple[int, np.ndarray], np.ndarray, np.ndarray, np.ndarray, str]:
    """Audio (copy-synthesis) or a `.npy` mel → MelGAN and Griffin-Lim audio, their spectrograms and mel distances."""
    if audio_path and mel_path:
        raise gr.Error("Give either an audio file or a .npy mel, not both: clear one of them.")
    if not audio_path and not mel_path:
        raise gr.Error("Upload an audio file (copy-synthesis) or a .npy mel first.")
    vocoder = load_model("vocoder", model_name, SHIPPED_VOCODERS, local_folders)
    features, rate = vocoder.feature_extractor, vocoder.sampling_rate
    if mel_path:
        mel = read_mel(mel_path, features)
    else:
        audio, audio_rate = read_clip(audio_path, "audio file")
        mel = mel_of(audio, audio_rate, features)
    start = time.perf_counter()
    melgan = vocoder.decode(mel)
    elapsed = time.perf_counter() - start
    griffin_lim = GriffinLimVocoder(features).decode(mel)
    melgan_mel, griffin_lim_mel = mel_of(melgan, rate, features), mel_of(griffin_lim, rate, features)
    seconds = len(melgan) / rate
    details = (
        f"{len(mel)} frames → {seconds:.2f} s at {rate} Hz; MelGAN ({model_name}) took {elapsed:.2f} s"
        f" ({seconds / elapsed:.1f}× real time). Log-mel L1 distance to the input mel (lower is closer):"
        f" MelGAN {mel_distance(mel, melgan_mel):.3f}, Griffin-Lim (32 iterations)"
        f" {mel_distance(mel, griffin_lim_mel):.3f}."
    )
    return (
        to_int16(melgan, rate),
        to_int16(griffin_lim, rate),
        spectrogram(mel),
        spectrogram(melgan_mel),
        spectrogram(griffin_lim_mel),
        details,
    )


def build_app(local_folders: list[str] | None = None) -> gr.Blocks:
    """The two tabs; `local_folders` are extra model folders the operator offers in both choosers."""
    local_folders = [str(Path(folder)) for folder in local_folders or []]

    def bind(function: Callable[..., Any]) -> Callable[..., Any]:
        """The operator's folders passed in, and the library's own input errors shown to the user as they are."""

        def handler(*inputs: Any) -> Any:
            try:
                return function(*inputs, local_folders=local_folders)
            except ValueError as error:  # AudioError and the pipelines' checks; they name the problem
                raise gr.Error(str(error)) from error

        handler.__doc__ = function.__doc__
        return handler

    mel_help = (
        "A `.npy` log-mel of shape (frames, mels) in the vocoder's preset: natural-log (or log10 for the `melgan`"
        " preset) mel magnitudes, e.g. `vocoder.feature_extractor(audio, sampling_rate=rate)['input_features'][0]`."
    )
    with gr.Blocks(title="melgan-hf", analytics_enabled=False) as app:
        gr.Markdown(
            "# melgan-hf\nMelGAN vocoding and MelGAN-VC style transfer. Clips up to"
            f" {LIMITS.max_seconds:.0f} s, uploads up to {LIMITS.max_upload_mb} MB."
        )
        with gr.Tab("Convert"):
            with gr.Row():
                with gr.Column():
                    source = gr.Audio(
                        sources=["microphone", "upload"], type="filepath", label="Your recording", elem_id="recording"
                    )
                    converter = gr.Dropdown(
                        [*SHIPPED_CONVERTERS, *local_folders],
                        value=DEFAULT_CONVERTER,
                        allow_custom_value=True,
                        label="Converter (or type a Hub id: owner/name)",
                        info="; ".join(f"{name}: {text}" for name, text in SHIPPED_CONVERTERS.items()),
                    )
                    convert_button = gr.Button("Convert", variant="primary")
                with gr.Column():
                    converted = gr.Audio(label="Converted", type="numpy", interactive=False, elem_id="converted")
                    convert_details = gr.Markdown()
            with gr.Row():
                source_spectrogram = gr.Image(label="Input log-mel", interactive=False)
                converted_spectrogram = gr.Image(label="Converted log-mel", interactive=False)
            convert_button.click(
                bind(convert),
                [source, converter],
                [converted, source_spectrogram, converted_spectrogram, convert_details],
                api_name="convert",
            )
        with gr.Tab("Mel inversion"):
            with gr.Row():
                with gr.Column():
                    inversion_audio = gr.Audio(sources=["upload"], type="filepath", label="Audio (copy-synthesis)")
                    inversion_mel = gr.File(file_types=[".npy"], label="…or a .npy mel")
                    gr.Markdown(mel_help)
                    vocoder = gr.Dropdown(
                        [*SHIPPED_VOCODERS, *local_folders],
                        value=DEFAULT_VOCODER,
                        allow_custom_value=True,
                        label="Vocoder (or type a Hub id: owner/name)",
                        info="; ".join(f"{name}: {text}" for name, text in SHIPPED_VOCODERS.items()),
                    )
                    invert_button = gr.Button("Invert", variant="primary")
                with gr.Column():
                    melgan_audio = gr.Audio(label="MelGAN", type="numpy", interactive=False, elem_id="melgan")
                    griffin_lim_audio = gr.Audio(label="Griffin-Lim (32 iterations)", type="numpy", interactive=False)
                    invert_details = gr.Markdown()
            with gr.Row():
                input_spectrogram = gr.Image(label="Input log-mel", interactive=False)
                melgan_spectrogram = gr.Image(label="MelGAN output", interactive=False)
                griffin_lim_spectrogram = gr.Image(label="Griffin-Lim output", interactive=False)
            invert_button.click(
                bind(invert),
                [inversion_audio, inversion_mel, vocoder],
                [
                    melgan_audio,
                    griffin_lim_audio,
                    input_spectrogram,
                    melgan_spectrogram,
                    griffin_lim_spectrogram,
                    invert_details,
                ],
                api_name="invert",
            )
    return app.queue(default_concurrency_limit=LIMITS.concurrency, max_size=LIMITS.queue_size)


def warm_up() -> None:
    """Load the default models and run each once, so the first user does not wait for loading and lazy setup."""
    melody = synthetic_melody(22050, 1.0)
    _load("converter", DEFAULT_CONVERTER)(melody, 22050)
    _load("vocoder", DEFAULT_VOCODER)(melody, 22050)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", action="append", default=[], help="a local model folder to offer (repeatable)")
    parser.add_argument("--host", default="127.0.0.1", help="interface to listen on (0.0.0.0 for all)")
    args = parser.parse_args(argv)
    for folder in args.model:
        if not Path(folder).is_dir():
            parser.error(f"--model {folder}: no such folder")
    warm_up()
    build_app(args.model).launch(server_name=args.host, max_file_size=f"{LIMITS.max_upload_mb}mb")


if __name__ == "__main__":
    main()
