"""
melgan-hf in the browser: record or upload a clip and hear it in another voice or timbre; turn mels into audio.

    python app.py [--model FOLDER ...] [--host 127.0.0.1]      # port: $GRADIO_SERVER_PORT, else 7860

Runs offline on the CPU with the models shipped in the package. `--model` offers more local folders in the choosers
(converters and vocoders alike); users may also type a Hub id. A typed name is never read as a local path, so the
server reads only the shipped models, the folders its operator named, and its own upload area.
API for `gradio_client`: `/convert` and `/invert` (README.md, "The app").

Every request's audio and plots are written to files of its own inside Gradio's cache folder, atomically, before
Gradio serves them: Gradio names numpy outputs by a hash of their bytes and rewrites that file in place, so two users
with identical outputs (an example clip, the same sample) could truncate each other's downloads. `delete_cache`
removes these files, and uploads, after `Limits.keep_files_s`.
"""

from __future__ import annotations

import argparse
import io
import logging
import os
import re
import shutil
import subprocess
import tempfile
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from functools import lru_cache, wraps
from pathlib import Path
from typing import Any

os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")  # before gradio is imported

import gradio as gr
import numpy as np
from gradio.utils import get_upload_folder
from huggingface_hub import constants as hub_constants
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from PIL import Image

from melgan_hf import GriffinLimVocoder, MelGANVocoder, StyleTransferPipeline, load_audio, save_audio
from melgan_hf.audio import AudioError, require_audible, synthetic_melody
from melgan_hf.feature_extraction_melgan import MelGANFeatureExtractor
from melgan_hf.pipelines import audio_to_mel
from melgan_hf.shipped import (
    ANY_VOICE_CONVERTER,
    DEFAULT_CONVERTER,
    DEFAULT_VOCODER,
    SHIPPED_CONVERTERS,
    SHIPPED_VOCODERS,
    shipped_refiner_for,
)


@dataclass(frozen=True)
class Limits:
    """Every limit the app enforces, in one place (documented in README.md)."""

    max_seconds: float = 30.0  # per clip or mel, both tabs
    max_reference_seconds: float = 300.0  # a target-voice reference for any-to-any converters
    max_upload_mb: int = 10  # per uploaded file; 30 s of 48 kHz stereo 16-bit wav is 5.8 MB
    concurrency: int = 2  # requests processed at once; the rest wait in the queue
    queue_size: int = 32  # waiting beyond this are refused with "busy, try again"; 20 users at once all wait
    cached_models: int = 4  # loaded models kept in memory
    keep_files_s: int = 3600  # outputs and uploads are deleted this long after they were written


LIMITS = Limits()
HUB_ID = re.compile(r"^[A-Za-z0-9][\w.-]*/[\w.-]+$")
log = logging.getLogger("melgan_hf.app")


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


def read_clip(path: str | None, what: str, max_seconds: float = LIMITS.max_seconds) -> tuple[np.ndarray, int]:
    """An uploaded or recorded file → mono float32 and its rate, or a `gr.Error` that says what to do."""
    if not path:
        raise gr.Error(f"No {what}: record with the microphone or upload an audio file first.")
    try:
        audio, rate = load_audio(path, max_duration=max_seconds)
        require_audible(audio, what)
    except AudioError as error:
        detail = str(error).replace(str(path), what)  # the temp path means nothing to the user
        raise gr.Error(f"{detail} Use a {max_seconds:.0f} s or shorter wav/flac/ogg/mp3 with sound.") from error
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


def output_file(name: str) -> Path:
    """
    A new path of this request's own in Gradio's cache folder, e.g. `converted-<id>.wav`. Gradio serves files
    already in its cache as they are and `delete_cache` ages them out; a shared, hash-named file could be rewritten
    by another request while it is downloaded.
    """
    folder = Path(get_upload_folder()) / "melgan-hf"
    folder.mkdir(parents=True, exist_ok=True)
    stem, suffix = os.path.splitext(name)
    return folder / f"{stem}-{uuid.uuid4().hex[:12]}{suffix}"


def audio_output(name: str, audio: np.ndarray, rate: int) -> str:
    """16-bit PCM wav at the level the model produced (Gradio would peak-normalise float arrays), written atomically."""
    return str(save_audio(output_file(name), audio, rate))


def image_output(name: str, image: bytes) -> str:
    """An image file written under a temporary name and renamed, so it is complete whenever Gradio can see it."""
    path = output_file(name)
    partial = path.with_name(f".{path.name}.partial")
    try:
        partial.write_bytes(image)
        os.replace(partial, path)
    except BaseException:
        partial.unlink(missing_ok=True)
        raise
    return str(path)


class SpectrogramFigure:
    """
    Log-mel panels stacked over one time axis in seconds, with mel-spaced frequency ticks in Hz and one colour bar in
    dB below the loudest bin of all panels, so input and outputs compare at a glance; 900 px wide whatever the clip's
    length. Built and drawn once per layout; a request redraws only what changes (the images, their titles and the
    time axis) over the saved background (matplotlib's blitting), since drawing the ticks' text is most of the cost.
    """

    width_inches, panel_inches, axis_inches = 9.0, 1.6, 0.45  # axis: room for the time axis below the panels
    dynamic_range_db = 80.0  # shown below the loudest bin of all panels
    tick_hz = (250, 500, 1000, 2000, 4000, 6000, 8000, 10000, 16000)

    def __init__(self, panels: int, features: MelGANFeatureExtractor) -> None:
        self.features = features
        height = self.axis_inches + self.panel_inches * panels + 0.1
        self.figure = Figure(figsize=(self.width_inches, height), dpi=100)
        centres = features.mel_frequencies
        ticks = [hz for hz in self.tick_hz if centres[0] <= hz <= centres[-1]]
        tick_bins = np.interp(ticks, centres, np.arange(len(centres)))
        tick_labels = [f"{hz // 1000}k" if hz >= 1000 else str(hz) for hz in ticks]
        self.axes, self.images, self.titles = [], [], []
        for index in range(panels):
            bottom = self.axis_inches + (panels - 1 - index) * self.panel_inches
            box = (0.075, bottom / height, 0.8, (self.panel_inches - 0.12) / height)
            axes = self.figure.add_axes(box, sharex=self.axes[0] if self.axes else None)
            image = axes.imshow(np.zeros((len(centres), 1)), origin="lower", aspect="auto", cmap="magma")
            image.set_clim(-self.dynamic_range_db, 0.0)
            self.images.append(image)
            axes.set_yticks(tick_bins, tick_labels)
            axes.set_ylabel("Hz")
            axes.tick_params(bottom=index == panels - 1, labelbottom=index == panels - 1)
            self.titles.append(axes.text(0.005, 0.95, "", transform=axes.transAxes, color="white", va="top"))
            self.axes.append(axes)
        self.axes[-1].set_xlabel("time (s)")
        span = (self.panel_inches * panels - 0.12) / height  # from the lowest panel's bottom to the top one's top
        colour_bar = self.figure.add_axes((0.89, self.axis_inches / height, 0.015, span))
        self.figure.colorbar(self.images[0], cax=colour_bar, label="dB below the loudest")
        self.changing = [*self.images, *self.titles, self.axes[-1].xaxis]
        for artist in self.changing:
            artist.set_animated(True)  # left out of the background
        self.canvas = FigureCanvasAgg(self.figure)
        self.canvas.draw()
        self.background = self.canvas.copy_from_bbox(self.figure.bbox)

    def render(self, panels: list[tuple[str, np.ndarray]]) -> bytes:
        """`(label, (frames, mels) log-mel)` per panel → JPEG bytes."""
        levels = [self.features.to_decibels(mel.T) for _, mel in panels]
        loudest = max(float(level.max()) for level in levels)
        seconds_per_frame = self.features.hop_length / self.features.sampling_rate
        bins = self.features.feature_size
        for image, title, (label, _), level in zip(self.images, self.titles, panels, levels, strict=True):
            image.set_data(level - loudest)
            image.set_extent((0, level.shape[1] * seconds_per_frame, -0.5, bins - 0.5))
            title.set_text(label)
        self.axes[0].set_xlim(0, max(level.shape[1] for level in levels) * seconds_per_frame)
        self.canvas.restore_region(self.background)
        for artist in self.changing:
            self.figure.draw_artist(artist)
        for axes in self.axes:  # the frames, over the images' edges
            for spine in axes.spines.values():
                self.figure.draw_artist(spine)
        pixels = Image.frombuffer("RGBA", self.canvas.get_width_height(), self.canvas.buffer_rgba()).convert("RGB")
        jpeg = io.BytesIO()
        pixels.save(jpeg, format="jpeg", quality=92)  # ~100 kB in ~2 ms; a PNG was 3× the bytes and 15× the time
        return jpeg.getvalue()


_figures: dict[tuple, SpectrogramFigure] = {}
_figures_lock = threading.Lock()  # matplotlib is not thread-safe; requests run in Gradio's worker threads


def spectrograms(panels: list[tuple[str, np.ndarray]], features: MelGANFeatureExtractor) -> bytes:
    """The panels as one JPEG, on a figure reused for this layout and front end."""
    key = (len(panels), tuple(features.audio_fields.items()))
    with _figures_lock:
        if key not in _figures:
            if len(_figures) >= 8:  # a few front ends at most; Hub models could bring more
                _figures.clear()
            _figures[key] = SpectrogramFigure(len(panels), features)
        return _figures[key].render(panels)


def mel_of(audio: np.ndarray, rate: int, features: MelGANFeatureExtractor) -> np.ndarray:
    return audio_to_mel(audio, rate, features)[0].numpy()


def mel_distance(reference: np.ndarray, other: np.ndarray) -> float:
    frames = min(len(reference), len(other))
    return float(np.abs(reference[:frames] - other[:frames]).mean())


def convert(
    audio_path: str | None, model_name: str, voice_path: str | None = None, *, local_folders: list[str]
) -> tuple[str, str, str]:
    """Recording (and optionally a target-voice reference) → converted audio (wav), spectrograms of input and
    output (JPEG), and timings."""
    audio, rate = read_clip(audio_path, "recording")
    pipeline = load_model("converter", model_name, SHIPPED_CONVERTERS, local_folders)
    if voice_path:
        reference = read_clip(voice_path, "target-voice reference", LIMITS.max_reference_seconds)
        try:
            pipeline = pipeline.with_target([reference], name="the uploaded voice")
        except ValueError as error:
            raise gr.Error(str(error)) from error
    start = time.perf_counter()
    output, output_rate = pipeline(audio, rate)
    elapsed = time.perf_counter() - start
    features = pipeline.feature_extractor
    seconds = len(audio) / rate
    details = (
        f"{seconds:.2f} s in at {rate} Hz → {len(output) / output_rate:.2f} s out at {output_rate} Hz;"
        f" converted in {elapsed:.2f} s ({seconds / elapsed:.1f}× real time) by {model_name}."
    )
    panels = [("Input", mel_of(audio, rate, features)), ("Converted", mel_of(output, output_rate, features))]
    return (
        audio_output("converted.wav", output, output_rate),
        image_output("spectrograms.jpg", spectrograms(panels, features)),
        details,
    )


@lru_cache(maxsize=2)
def _refined_griffin_lim(refiner: str) -> GriffinLimVocoder:
    return GriffinLimVocoder.refined(refiner)


def invert(
    audio_path: str | None, mel_path: str | None, model_name: str, *, local_folders: list[str]
) -> tuple[str, str, str | None, str, str]:
    """
    Audio (copy-synthesis) or a `.npy` mel → MelGAN audio beside the Griffin-Lim baselines (plain, and on a refined
    amplitude where a shipped refiner fits the front end), their spectrograms and mel distances.
    """
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
    outputs = {f"MelGAN ({model_name})": melgan, "Griffin-Lim": GriffinLimVocoder(features).decode(mel)}
    refiner = shipped_refiner_for(features.audio_fields)
    if refiner is not None:
        outputs["Griffin-Lim, refined amplitude"] = _refined_griffin_lim(refiner).decode(mel)
    output_mels = {label: mel_of(audio, rate, features) for label, audio in outputs.items()}
    seconds = len(melgan) / rate
    distances = ", ".join(f"{label} {mel_distance(mel, output):.3f}" for label, output in output_mels.items())
    details = (
        f"{len(mel)} frames → {seconds:.2f} s at {rate} Hz; MelGAN ({model_name}) took {elapsed:.2f} s"
        f" ({seconds / elapsed:.1f}× real time). Griffin-Lim: 32 iterations. Log-mel L1 distance to the input mel"
        f" (lower is closer): {distances}."
        + ("" if refiner else " No amplitude refiner ships for this vocoder's mel front end: no refined Griffin-Lim.")
    )
    refined = outputs.get("Griffin-Lim, refined amplitude")
    return (
        audio_output("melgan.wav", melgan, rate),
        audio_output("griffin-lim.wav", outputs["Griffin-Lim"], rate),
        audio_output("griffin-lim-refined.wav", refined, rate) if refined is not None else None,
        image_output("spectrograms.jpg", spectrograms([("Input mel", mel), *output_mels.items()], features)),
        details,
    )


EXAMPLE_VOICES = {  # engine command, sentence, label; made at start-up where the engine is installed
    "espeak-en": (["espeak-ng", "-v", "en-us"], "Please leave a message after the tone.", "English speech (espeak-ng)"),
    "flite-slt": (["flite", "-voice", "slt"], "The quick brown fox jumps over the lazy dog.", "English speech (flite)"),
    "espeak-fr": (["espeak-ng", "-v", "fr"], "Bonjour, merci de votre appel.", "French speech (espeak-ng)"),
}


def synthesize(command: list[str], sentence: str, target: Path) -> None:
    """A sentence spoken by espeak-ng or flite into `target` (validated and written atomically by save_audio)."""
    with tempfile.TemporaryDirectory() as scratch:
        raw = Path(scratch) / "raw.wav"
        arguments = ["-t", sentence, "-o", str(raw)] if command[0] == "flite" else ["-w", str(raw), sentence]
        subprocess.run([*command, *arguments], check=True, capture_output=True, timeout=30)
        save_audio(target, *load_audio(raw))


def make_examples() -> list[tuple[str, str, str]]:
    """
    `(clip, converter, label)` for the Convert tab, made by the app (no audio ships in the repository): a synthetic
    melody always, and sentences from the speech synthesizers that are installed (`scripts/setup.sh` installs them).
    """
    folder = Path(get_upload_folder()) / "melgan-hf-examples"
    melody = folder / "melody.wav"
    save_audio(melody, synthetic_melody(16000, 4.0, rolloff=1.5), 16000)
    examples = [(str(melody), "piano-to-strings", "Synthetic melody → strings")]
    for name, (command, sentence, label) in EXAMPLE_VOICES.items():
        target = folder / f"{name}.wav"
        if shutil.which(command[0]) is None:
            log.warning("%s is not installed: no %r example", command[0], label)
            continue
        try:
            if not target.exists():
                synthesize(command, sentence, target)
        except (OSError, subprocess.SubprocessError, AudioError) as error:
            log.warning("could not make the %r example: %s", label, error)
            continue
        examples.append((str(target), DEFAULT_CONVERTER, f"{label} → the English speaker"))
    return examples


def build_app(local_folders: list[str] | None = None) -> gr.Blocks:
    """The two tabs; `local_folders` are extra model folders the operator offers in both choosers."""
    local_folders = [str(Path(folder)) for folder in local_folders or []]

    def bind(function: Callable[..., Any]) -> Callable[..., Any]:
        """The operator's folders passed in, and the library's own input errors shown to the user as they are."""

        @wraps(function)  # the API shows the function's own parameters, with their defaults
        def handler(*inputs: Any) -> Any:
            try:
                return function(*inputs, local_folders=local_folders)
            except ValueError as error:  # AudioError and the pipelines' checks; they name the problem
                raise gr.Error(str(error)) from error

        handler.__name__ = "handler"  # so the examples' own event does not take the name "/convert" (the button's)
        return handler

    mel_help = (
        "A `.npy` log-mel of shape (frames, mels) in the vocoder's preset: natural-log (or log10 for the `melgan`"
        " preset) mel magnitudes, e.g. `vocoder.feature_extractor(audio, sampling_rate=rate)['input_features'][0]`."
    )
    spectrogram_label = "Log-mel spectrograms (one dB scale for all)"
    # delete_cache: every so often, files older than keep_files_s (outputs, uploads) are removed; examples are kept
    cleanup = (max(1, LIMITS.keep_files_s // 6), LIMITS.keep_files_s)
    with gr.Blocks(title="melgan-hf", analytics_enabled=False, delete_cache=cleanup) as app:
        gr.Markdown(
            "# melgan-hf\nMelGAN vocoding, kNN voice conversion and MelGAN-VC style transfer. Clips up to"
            f" {LIMITS.max_seconds:.0f} s, uploads up to {LIMITS.max_upload_mb} MB."
        )
        with gr.Tab("Convert"):
            # Outputs first (rendered further down), so the examples can sit under the Convert button.
            converted = gr.Audio(
                label="Converted", type="filepath", interactive=False, elem_id="converted", render=False
            )
            convert_details = gr.Markdown(render=False)
            convert_spectrograms = gr.Image(
                label=spectrogram_label,
                type="filepath",
                interactive=False,
                elem_id="convert-spectrograms",
                render=False,
            )
            outputs = [converted, convert_spectrograms, convert_details]
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
                    voice = gr.Audio(
                        sources=["upload", "microphone"],
                        type="filepath",
                        label=f"Target voice (optional, for kNN converters such as {ANY_VOICE_CONVERTER}):"
                        " 30 s to 5 min of one speaker",
                        elem_id="target-voice",
                    )
                    gr.Markdown("Use only voices whose owners have agreed to it.")
                    convert_button = gr.Button("Convert", variant="primary")
                    examples = make_examples()
                    gr.Examples(
                        [[clip, model] for clip, model, _ in examples],
                        [source, converter],
                        outputs,
                        bind(convert),
                        cache_examples=False,
                        run_on_click=True,
                        label="No microphone? Click an example to hear it converted (clips made by this app)",
                        example_labels=[label for *_, label in examples],
                        elem_id="examples",
                    )
                    source.keep_in_cache.update(clip for clip, *_ in examples)  # or delete_cache ages them out too
                with gr.Column():
                    converted.render()
                    convert_details.render()
            convert_spectrograms.render()
            convert_button.click(bind(convert), [source, converter, voice], outputs, api_name="convert")
        with gr.Tab("Mel inversion"):
            with gr.Row():
                with gr.Column():
                    inversion_audio = gr.Audio(
                        sources=["upload"], type="filepath", label="Audio (copy-synthesis)", elem_id="inversion-audio"
                    )
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
                    melgan_audio = gr.Audio(label="MelGAN", type="filepath", interactive=False, elem_id="melgan")
                    griffin_lim_audio = gr.Audio(
                        label="Griffin-Lim (32 iterations)", type="filepath", interactive=False
                    )
                    refined_griffin_lim_audio = gr.Audio(
                        label="Griffin-Lim, refined amplitude (32 iterations)",
                        type="filepath",
                        interactive=False,
                    )
                    invert_details = gr.Markdown()
            invert_spectrograms = gr.Image(
                label=spectrogram_label, type="filepath", interactive=False, elem_id="invert-spectrograms"
            )
            invert_button.click(
                bind(invert),
                [inversion_audio, inversion_mel, vocoder],
                [melgan_audio, griffin_lim_audio, refined_griffin_lim_audio, invert_spectrograms, invert_details],
                api_name="invert",
            )
    return app.queue(default_concurrency_limit=LIMITS.concurrency, max_size=LIMITS.queue_size)


def warm_up() -> None:
    """Load the default models, run each once and draw their plots once, so the first user waits for none of it."""
    melody = synthetic_melody(22050, 1.0)
    converter = _load("converter", DEFAULT_CONVERTER)
    converter(melody, 22050)
    _load("vocoder", DEFAULT_VOCODER)(melody, 22050)
    mel = mel_of(melody, 22050, converter.feature_extractor)
    refiner = shipped_refiner_for(converter.feature_extractor.audio_fields)
    if refiner is not None:
        _refined_griffin_lim(refiner).decode(mel)
    for panels in (2, 3, 4):
        spectrograms([("", mel)] * panels, converter.feature_extractor)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", action="append", default=[], help="a local model folder to offer (repeatable)")
    parser.add_argument("--host", default="127.0.0.1", help="interface to listen on (0.0.0.0 for all)")
    args = parser.parse_args(argv)
    for folder in args.model:
        if not Path(folder).is_dir():
            parser.error(f"--model {folder}: no such folder")
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    warm_up()
    build_app(args.model).launch(server_name=args.host, max_file_size=f"{LIMITS.max_upload_mb}mb")


if __name__ == "__main__":
    main()
