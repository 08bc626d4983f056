"""
The models that ship inside the package, by short name, so the CLI and the app work offline on the first run.

`MelGANVocoder.from_pretrained("istft-vocoder-16k")` and `StyleTransferPipeline.from_pretrained("voice-to-english")`
load them like any folder or Hub id; a local folder of the same name takes precedence. Each one is a complete
`save_pretrained` folder with its model card (README.md), trained by the scripts in `training/`.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

SHIPPED_DIR = Path(__file__).parent / "models"

# name → what it is, for help texts and the app's model chooser
SHIPPED_VOCODERS = {
    "istft-vocoder-16k": "iSTFT vocoder (frame-rate amplitude and phase), 16 kHz speech: the default",
    "vocoder-16k": "MelGAN vocoder (waveform generator), 16 kHz: speech in four languages, piano and strings",
}
SHIPPED_CONVERTERS = {
    "voice-to-english": "PPG voice conversion: any voice → the English Asterisk speaker (Allison): the default",
    "voice-to-any": "kNN voice conversion: any voice → a voice you give (30 s to 5 min of it), or else Allison",
    "piano-to-strings": "piano → string ensemble (General MIDI timbres), 16 kHz",
}
# baselines: amplitude refiners for the refined-amplitude Griffin-Lim, found by `shipped_refiner_for` a front end
SHIPPED_REFINERS = {"amplitude-refiner-16k": "log-mel → STFT amplitude, speech16k preset (refined Griffin-Lim)"}
DEFAULT_VOCODER = "istft-vocoder-16k"
DEFAULT_CONVERTER = "voice-to-english"
ANY_VOICE_CONVERTER = "voice-to-any"  # the shipped converter that takes a target-voice reference


def resolve_model(path_or_repo_id: str | os.PathLike) -> str | os.PathLike:
    """The folder of a shipped model for its short name; anything else (folder, Hub id) unchanged."""
    name = str(path_or_repo_id)
    if (name in SHIPPED_VOCODERS or name in SHIPPED_CONVERTERS or name in SHIPPED_REFINERS) and not Path(name).exists():
        folder = SHIPPED_DIR / name
        if not (folder / "config.json").is_file():
            raise OSError(f"The shipped model {name!r} is missing from {folder}: reinstall melgan-hf.")
        return folder
    return path_or_repo_id


def shipped_refiner_for(audio_fields: dict) -> str | None:
    """The shipped amplitude refiner whose mel front end equals `audio_fields` (preset name aside), if any."""
    for name in SHIPPED_REFINERS:
        config_file = SHIPPED_DIR / name / "config.json"
        if config_file.is_file():
            config = json.loads(config_file.read_text())
            if all(config.get(key) == value for key, value in audio_fields.items() if key != "mel_preset"):
                return name
    return None


__all__ = [
    "ANY_VOICE_CONVERTER",
    "DEFAULT_CONVERTER",
    "DEFAULT_VOCODER",
    "SHIPPED_CONVERTERS",
    "SHIPPED_REFINERS",
    "SHIPPED_VOCODERS",
    "resolve_model",
    "shipped_refiner_for",
]
