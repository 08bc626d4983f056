"""Objective measures: training validation, tests and `melgan-hf evaluate`.

Copy-synthesis measures compare a vocoder's output with the original recording; conversion measures compare a
style-converted recording with its source and with reference recordings of the target. The perceptual ones come from
the `[eval]` extra (pesq, pystoi, auraloss, pyworld-prebuilt, mel-cepstral-distance, resemblyzer, pocketsphinx,
speechmos, jiwer), imported when first used, with their models inside the wheels: everything runs offline. SI-SDR
and waveform SNR are left out on purpose: a vocoder does not reproduce phase, so they would punish good outputs.
"""

from __future__ import annotations

import importlib
import math
import re
import warnings
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import scipy.fft
import torch

from .audio import resample
from .feature_extraction_melgan import MelGANFeatureExtractor

EVAL_EXTRA_HINT = "install the evaluation extra: pip install 'melgan-hf[eval]'"
PESQ_RATE = 16000  # wide-band PESQ is defined at 16 kHz
JUDGE_RATE = 16000  # what the pretrained judges (DNSMOS, resemblyzer, pocketsphinx) take
VOICING_TOLERANCE = 0.2  # a voiced frame's F0 more than 20 % off counts as a gross pitch error


def mel_spectral_centroid(log_mel: np.ndarray, mel_log: str = "log10", active_share: float = 0.7) -> float:
    """
    Mean spectral centroid, in mel bins, of the loudest `active_share` of the frames of a `(frames, mels)` log-mel:
    a timbre statistic (brightness) that depends little on which notes or words are played.
    """
    power = np.power(10.0, log_mel) if mel_log == "log10" else np.exp(log_mel)
    power = power.astype(np.float64) ** 2
    energy = power.sum(axis=1)
    active = energy >= np.quantile(energy, 1.0 - active_share)
    centroids = (power[active] * np.arange(log_mel.shape[1])).sum(axis=1) / energy[active]
    return float(centroids.mean())


def timbre_shift(source_centroid: float, target_centroid: float, converted_centroid: float) -> float:
    """How far conversion moved the centroid from the source toward the target: 0 = not at all, 1 = all the way."""
    return (source_centroid - converted_centroid) / (source_centroid - target_centroid)


def _require(module: str) -> object:
    try:
        return importlib.import_module(module)
    except ImportError as error:
        raise ImportError(f"{module} is needed for this measure; {EVAL_EXTRA_HINT}") from error


def _same_length(reference: np.ndarray, degraded: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    length = min(reference.size, degraded.size)
    return reference[:length].astype(np.float64), degraded[:length].astype(np.float64)


def pesq_wideband(reference: np.ndarray, degraded: np.ndarray, sampling_rate: int) -> float:
    """Wide-band PESQ (1 to 4.64, higher is better) at 16 kHz; NaN where PESQ is undefined (e.g. silence)."""
    pesq = _require("pesq")
    reference, degraded = (resample(x.astype(np.float32), sampling_rate, PESQ_RATE) for x in (reference, degraded))
    reference, degraded = _same_length(reference, degraded)
    try:
        return float(pesq.pesq(PESQ_RATE, reference, degraded, "wb"))
    except Exception:
        return math.nan


def stoi(reference: np.ndarray, degraded: np.ndarray, sampling_rate: int) -> float:
    """Short-time objective intelligibility (0 to 1, higher is better); NaN where too little speech is left to judge."""
    pystoi = _require("pystoi")
    reference, degraded = _same_length(reference, degraded)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        score = float(pystoi.stoi(reference, degraded, sampling_rate, extended=False))
    # pystoi warns and returns 1e-5 (a score, not a marker) when under 30 frames of speech remain.
    return math.nan if any("Not enough STFT frames" in str(warning.message) for warning in caught) else score


def multi_resolution_stft_distance(reference: np.ndarray, degraded: np.ndarray, sampling_rate: int) -> float:
    """Spectral convergence + log-magnitude distance over three STFT resolutions (auraloss; lower is better)."""
    auraloss = _require("auraloss")
    reference, degraded = _same_length(reference, degraded)
    loss = auraloss.freq.MultiResolutionSTFTLoss()
    as_tensor = lambda x: torch.from_numpy(x.astype(np.float32))[None, None]  # noqa: E731
    with torch.no_grad():
        return float(loss(as_tensor(degraded), as_tensor(reference)))


def relative_l2(reference: np.ndarray, degraded: np.ndarray) -> float:
    """‖degraded − reference‖ / ‖reference‖: how far a faster computation of the same output moved it."""
    reference, degraded = _same_length(reference, degraded)
    return float(np.linalg.norm(degraded - reference) / max(np.linalg.norm(reference), 1e-12))


def log_mel_l1(reference: np.ndarray, degraded: np.ndarray, features: MelGANFeatureExtractor) -> float:
    """Mean absolute log-mel difference in the model's own mel (lower is better)."""
    reference, degraded = _same_length(reference, degraded)
    with torch.no_grad():
        mels = [features.mel_spectrogram(torch.from_numpy(x.astype(np.float32)))[0] for x in (reference, degraded)]
    return float((mels[0] - mels[1]).abs().mean())


def mel_cepstral_distortion(reference: np.ndarray, degraded: np.ndarray, features: MelGANFeatureExtractor) -> float:
    """
    MCD in dB over cepstral coefficients 1-16 (energy excluded) after DTW alignment, from the model's own log-mel
    (natural log) through a DCT; lower is better.
    """
    mcd = _require("mel_cepstral_distance")
    cepstra = []
    for audio in _same_length(reference, degraded):
        with torch.no_grad():
            log_mel = features.mel_spectrogram(torch.from_numpy(audio.astype(np.float32)))[0].numpy()
        natural = log_mel * math.log(10) if features.mel_log == "log10" else log_mel
        cepstra.append(scipy.fft.dct(natural, type=2, norm="ortho", axis=1).T)
    distance, _ = mcd.compare_mfccs(cepstra[0], cepstra[1], s=1, D=16, aligning="dtw")
    return float(distance)


def _f0_tracks(first: np.ndarray, second: np.ndarray, sampling_rate: int) -> list[np.ndarray]:
    """WORLD F0 tracks (DIO + StoneMask; 0 = unvoiced) of two signals cut to the same length."""
    pyworld = _require("pyworld")
    tracks = []
    for audio in _same_length(first, second):
        audio = np.ascontiguousarray(audio)
        coarse, times = pyworld.dio(audio, sampling_rate)
        tracks.append(pyworld.stonemask(audio, coarse, times, sampling_rate))
    return tracks


def f0_errors(reference: np.ndarray, degraded: np.ndarray, sampling_rate: int) -> tuple[float, float]:
    """
    (gross pitch error, voicing decision error) from WORLD's DIO + StoneMask F0 tracks: the share of frames voiced in
    both whose F0 is more than 20 % off, and the share of all frames whose voiced/unvoiced decision differs.
    """
    reference_f0, degraded_f0 = _f0_tracks(reference, degraded, sampling_rate)
    voiced_reference, voiced_degraded = reference_f0 > 0, degraded_f0 > 0
    both = voiced_reference & voiced_degraded
    gross = np.abs(degraded_f0[both] - reference_f0[both]) > VOICING_TOLERANCE * reference_f0[both]
    gross_pitch_error = float(gross.mean()) if both.any() else math.nan
    return gross_pitch_error, float(np.mean(voiced_reference != voiced_degraded))


def _at_judge_rate(audio: np.ndarray, sampling_rate: int) -> np.ndarray:
    """Audio as the pretrained judges take it: float32 at 16 kHz within [-1, 1]."""
    return np.clip(resample(audio.astype(np.float32), sampling_rate, JUDGE_RATE), -1.0, 1.0)


def dnsmos(audio: np.ndarray, sampling_rate: int) -> dict[str, float]:
    """
    DNSMOS P.835 (speechmos; 1 to 5, higher is better): overall quality, speech signal and background, as listeners
    would rate them, with no reference: what a vocoder's artefacts cost beyond what PESQ sees.
    """
    scores = _require("speechmos.dnsmos").run(_at_judge_rate(audio, sampling_rate), JUDGE_RATE)
    return {name: float(scores[f"{name}_mos"]) for name in ("ovrl", "sig", "bak")}


VOCODER_MEASURES = ("pesq_wb", "stoi", "mr_stft", "log_mel_l1", "mcd_db", "f0_gpe", "f0_vde", "dnsmos_ovrl")


def copy_synthesis_scores(
    reference: np.ndarray, degraded: np.ndarray, sampling_rate: int, features: MelGANFeatureExtractor
) -> dict[str, float]:
    """Every vocoder measure for one recording (`reference`) and its copy-synthesis (`degraded`), same rate."""
    gross_pitch_error, voicing_error = f0_errors(reference, degraded, sampling_rate)
    return {
        "pesq_wb": pesq_wideband(reference, degraded, sampling_rate),
        "stoi": stoi(reference, degraded, sampling_rate),
        "mr_stft": multi_resolution_stft_distance(reference, degraded, sampling_rate),
        "log_mel_l1": log_mel_l1(reference, degraded, features),
        "mcd_db": mel_cepstral_distortion(reference, degraded, features),
        "f0_gpe": gross_pitch_error,
        "f0_vde": voicing_error,
        "dnsmos_ovrl": dnsmos(degraded, sampling_rate)["ovrl"],
    }


@dataclass
class EvaluationTable:
    """Per-file scores of each system (e.g. the model and the Griffin-Lim baseline) and their means."""

    measures: tuple[str, ...]
    rows: dict[str, dict[str, dict[str, float]]] = field(default_factory=dict)  # system → file → measure → score

    def add(self, system: str, file: str, scores: dict[str, float]) -> None:
        self.rows.setdefault(system, {})[file] = scores

    def means(self) -> dict[str, dict[str, float]]:
        """NaN scores (undefined, e.g. PESQ on silence) are left out of the means. Measures in `POOLED_BY` weigh
        each file by its count of reference words (kept beside its scores), so a mean WER is the corpus WER, all
        errors over all words: in a mean of ratios one five-word file's swing of 0.4 moves a mean of 18 by 0.02."""
        return {system: {m: self._mean(files, m) for m in self.measures} for system, files in self.rows.items()}

    @staticmethod
    def _mean(files: dict[str, dict[str, float]], measure: str) -> float:
        values = np.array([scores[measure] for scores in files.values()], dtype=np.float64)
        weight = POOLED_BY.get(measure)
        weights = np.array([scores.get(weight, 1.0) if weight else 1.0 for scores in files.values()], np.float64)
        kept = ~np.isnan(values) & (weights > 0)
        return float(np.average(values[kept], weights=weights[kept])) if kept.any() else math.nan

    def to_dict(self) -> dict:
        return {"measures": list(self.measures), "per_file": self.rows, "mean": self.means()}

    def format(self) -> str:
        width = max(len("system"), *(len(system) for system in self.rows))
        widths = {m: max(10, len(m)) for m in self.measures}
        header = f"| {'system':{width}} | " + " | ".join(f"{m:>{widths[m]}}" for m in self.measures) + " |"
        lines = [header, "|" + "|".join("-" * len(cell) for cell in header.split("|")[1:-1]) + "|"]
        for system, scores in self.means().items():
            cells = " | ".join(f"{scores[m]:{widths[m]}.4f}" for m in self.measures)
            lines.append(f"| {system:{width}} | {cells} |")
        return "\n".join(lines)


def f0_correlation(source: np.ndarray, converted: np.ndarray, sampling_rate: int) -> float:
    """Correlation of log-F0 over the frames voiced in both (WORLD): does the conversion keep the melody?"""
    tracks = _f0_tracks(source, converted, sampling_rate)
    both = (tracks[0] > 0) & (tracks[1] > 0)
    if both.sum() < 3:
        return math.nan
    return float(np.corrcoef(np.log(tracks[0][both]), np.log(tracks[1][both]))[0, 1])


class SpeechJudges:
    """
    The pretrained judges of converted speech, loaded once: a speaker encoder (resemblyzer; same speaker ≈ 0.96
    cosine, other speakers 0.45-0.64) and a recogniser (pocketsphinx, en-us), both at 16 kHz.
    """

    rate = JUDGE_RATE

    def __init__(self) -> None:
        resemblyzer = _require("resemblyzer")
        pocketsphinx = _require("pocketsphinx")
        self._encoder = resemblyzer.VoiceEncoder("cpu", verbose=False)
        self._preprocess = resemblyzer.preprocess_wav
        self._pocketsphinx = pocketsphinx

    def speaker_embedding(self, audio: np.ndarray, sampling_rate: int) -> np.ndarray:
        audio = self._preprocess(_at_judge_rate(audio, sampling_rate), source_sr=self.rate)
        return self._encoder.embed_utterance(audio)

    def transcribe(self, audio: np.ndarray, sampling_rate: int) -> str:
        # A fresh decoder per utterance (~0.4 s): a reused one adapts to what it heard before, and 3 of 16 real
        # clips got different transcripts depending on the order they were judged in.
        decoder = self._pocketsphinx.Decoder(samprate=self.rate, logfn="/dev/null")
        decode_utterance(decoder, judge_pcm16(audio, sampling_rate))
        hypothesis = decoder.hyp()
        return hypothesis.hypstr if hypothesis is not None else ""


def judge_pcm16(audio: np.ndarray, sampling_rate: int) -> bytes:
    """Audio as pocketsphinx takes it: 16-bit PCM at `JUDGE_RATE`."""
    return (_at_judge_rate(audio, sampling_rate) * 32767).astype(np.int16).tobytes()


def decode_utterance(decoder: Any, pcm: bytes) -> None:
    """One whole utterance through a pocketsphinx decoder; its hypothesis and alignment are then readable."""
    decoder.start_utt()
    decoder.process_raw(pcm, full_utt=True)
    decoder.end_utt()


_ONES = "zero one two three four five six seven eight nine ten eleven twelve thirteen fourteen fifteen sixteen".split()
_ONES += ["seventeen", "eighteen", "nineteen"]
_TENS = "_ _ twenty thirty forty fifty sixty seventy eighty ninety".split()


def number_words(number: int) -> str:
    """0-999 as spoken English words (the prompts' "press 1", "10 seconds"); larger numbers digit by digit."""
    if number < 20:
        return _ONES[number]
    if number < 100:
        return _TENS[number // 10] + ("" if number % 10 == 0 else " " + _ONES[number % 10])
    if number < 1000:
        rest = number % 100
        return f"{_ONES[number // 100]} hundred" + ("" if rest == 0 else " " + number_words(rest))
    return " ".join(_ONES[int(digit)] for digit in str(number))


def words_of(transcript: str) -> list[str]:
    """A transcript as the recogniser's dictionary spells words: numbers spelt out, lower case, letters, apostrophes."""
    spelt = re.sub(r"\d+", lambda match: f" {number_words(int(match.group()))} ", transcript.lower())
    return re.findall(r"[a-z']+", spelt.replace("-", " "))


def word_error_rate(reference: str, hypothesis: str) -> float:
    """WER of `hypothesis` against `reference` (jiwer); 0 when both are empty, 1 when only the reference is."""
    jiwer = _require("jiwer")
    if not reference.strip():
        return 0.0 if not hypothesis.strip() else 1.0
    return float(jiwer.wer(reference, hypothesis))


CONVERSION_MEASURES = (
    "similarity_to_target",
    "similarity_to_source",
    "wer",
    "wer_change",
    "wer_vs_source",
    "dnsmos_ovrl",
    "dnsmos_sig",
    "dnsmos_bak",
    "f0_correlation",
)
# The WER columns' means are pooled (`EvaluationTable.means`): each file weighs by the words of its reference, the
# known text for `wer` and `wer_change`, the source's transcript for `wer_vs_source`.
POOLED_BY = {"wer": "known_words", "wer_change": "known_words", "wer_vs_source": "source_transcript_words"}
CEILING = "ceiling: target references through the vocoder"
NOISY_INPUT = "noisy input"  # suffix of the rows whose sources went through `office_microphone` first


@dataclass
class HeardSource:
    """What the judges heard in one original recording, judged once however many systems convert it."""

    audio: np.ndarray
    rate: int
    embedding: np.ndarray
    transcript: str
    text: str | None  # the known words (`clip.txt`), if any
    wer: float  # of `transcript` against `text`; NaN without one


def hear(judges: SpeechJudges, audio: np.ndarray, rate: int, text: str | None = None) -> HeardSource:
    transcript = judges.transcribe(audio, rate)
    wer = word_error_rate(" ".join(words_of(text)), transcript) if text is not None else math.nan
    return HeardSource(audio, rate, judges.speaker_embedding(audio, rate), transcript, text, wer)


def conversion_scores(
    judges: SpeechJudges, source: HeardSource, converted: np.ndarray, rate: int, target_embedding: np.ndarray
) -> dict[str, float]:
    """
    Speaker similarity of the converted audio to the target (a mean reference embedding) and to its own source.
    With the known words: the converted audio's WER against them and its change from the source's own WER (so the
    recogniser's errors on the source cancel); `wer_vs_source` needs no text: the WER of the converted transcript
    against the source's. DNSMOS of the converted audio; F0 correlation with the source.
    """
    embedding = judges.speaker_embedding(converted, rate)
    transcript = judges.transcribe(converted, rate)
    known = words_of(source.text) if source.text is not None else []
    wer = word_error_rate(" ".join(known), transcript) if source.text is not None else math.nan
    quality = dnsmos(converted, rate)
    original = resample(source.audio, source.rate, rate)
    return {
        "similarity_to_target": float(embedding @ target_embedding),
        "similarity_to_source": float(embedding @ source.embedding),
        "wer": wer,
        "wer_change": wer - source.wer,
        "wer_vs_source": word_error_rate(source.transcript, transcript),
        "known_words": float(len(known)),
        "source_transcript_words": float(len(source.transcript.split())),
        **{f"dnsmos_{name}": value for name, value in quality.items()},
        "f0_correlation": f0_correlation(original, converted, rate),
    }


def _unit(vectors: list[np.ndarray]) -> np.ndarray:
    mean = np.mean(vectors, axis=0)
    return mean / np.linalg.norm(mean)


def evaluate_conversion(
    systems: dict[str, Callable[[np.ndarray, int], tuple[np.ndarray, int]]],
    sources: dict[str, tuple[np.ndarray, int]],
    target_references: dict[str, tuple[np.ndarray, int]],
    judges: SpeechJudges | None = None,
    progress: Callable = lambda items, **_: items,
    transcripts: dict[str, str] | None = None,
    ceiling: Callable[[np.ndarray, int], tuple[np.ndarray, int]] | None = None,
    noisy: bool = False,
) -> EvaluationTable:
    """
    Every source (`name → (audio, rate)`) through every converter, judged against the target's references
    (`name → (audio, rate)`; held out of any training or matching set). `transcripts` (`name → known words`) gives
    the WER columns their reference. With `ceiling` (a vocoder), the references themselves are copy-synthesised
    through it and judged the same way, each against the other references (leave-one-out): what the vocoder allows a
    converter at best. With `noisy`, every source is also converted from `office_microphone`'s copy (a room and
    noise), scored against the clean source: rows "<system>, noisy input".
    """
    from .augment import office_microphone

    judges = judges or SpeechJudges()
    transcripts = transcripts or {}
    reference_embeddings = {name: judges.speaker_embedding(*recording) for name, recording in target_references.items()}
    target = _unit(list(reference_embeddings.values()))
    table = EvaluationTable(CONVERSION_MEASURES)
    conditions = [("", None)] + ([(f", {NOISY_INPUT}", office_microphone)] if noisy else [])
    for number, (name, (audio, rate)) in enumerate(progress(list(sources.items()), desc="evaluate", unit="file")):
        source = hear(judges, audio, rate, transcripts.get(name))
        for suffix, degrade in conditions:
            heard = audio if degrade is None else degrade(audio, rate, [number, len(audio)])
            for system, convert in systems.items():
                converted, converted_rate = convert(heard, rate)
                table.add(system + suffix, name, conversion_scores(judges, source, converted, converted_rate, target))
    if ceiling is not None and len(target_references) > 1:
        for name, (audio, rate) in progress(list(target_references.items()), desc="ceiling", unit="file"):
            others = _unit([embedding for other, embedding in reference_embeddings.items() if other != name])
            vocoded, vocoded_rate = ceiling(audio, rate)
            source = hear(judges, audio, rate, transcripts.get(name))
            table.add(CEILING, name, conversion_scores(judges, source, vocoded, vocoded_rate, others))
    return table


def evaluate_copy_synthesis(
    systems: dict[str, Callable[[np.ndarray, int], tuple[np.ndarray, int]]],
    recordings: dict[str, tuple[np.ndarray, int]],
    features: MelGANFeatureExtractor,
    progress: Callable = lambda items, **_: items,
) -> EvaluationTable:
    """
    Copy-synthesis of every recording (`name → (audio, rate)`) by every system (`name → vocoder(audio, rate)`),
    scored against the recording resampled to the system's output rate.
    """
    table = EvaluationTable(VOCODER_MEASURES)
    for name, (audio, rate) in progress(list(recordings.items()), desc="evaluate", unit="file"):
        for system, vocode in systems.items():
            output, output_rate = vocode(audio, rate)
            reference = resample(audio, rate, output_rate)
            table.add(system, name, copy_synthesis_scores(reference, output, output_rate, features))
    return table
