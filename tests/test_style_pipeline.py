"""
StyleTransferPipeline end to end, on a tiny randomly initialised style model and the conftest vocoder: any length
and input rate give audio of the same duration; chunking leaves no seams (style chunks are crossfaded, vocoder
chunks get context); model calls stay chunk-sized; save / load / AutoModel / push; clear errors for bad input.
"""

import math
from pathlib import Path

import numpy as np
import pytest
import torch
from transformers import AutoConfig, AutoFeatureExtractor, AutoModel

import melgan_hf  # noqa: F401 - registers the Auto classes
from melgan_hf import (
    MelGANConfig,
    MelGANFeatureExtractor,
    MelGANGenerator,
    MelGANVCConfig,
    MelGANVCModel,
    MelGANVocoder,
    StyleTransferPipeline,
)
from melgan_hf.audio import synthetic_melody
from melgan_hf.modeling_melgan_vc import MelGANVCOutput
from melgan_hf.pipelines import audio_to_mel
from tests.conftest import HUB_TOKEN

STYLE_KWARGS = {"hidden_channels": 16, "critic_channels": 8, "siamese_channels": 8, "siamese_dim": 16}
HOP = 256
RATE = 22050
PICKLE_SUFFIXES = (".bin", ".pt", ".pth", ".pkl", ".ckpt")


def make_style_pipeline(vocoder: MelGANVocoder, seed: int = 0, **config_overrides) -> StyleTransferPipeline:
    """A tiny random style model on the vocoder's (default "melgan") mel front end; also used by test_cli."""
    torch.manual_seed(seed)
    model = MelGANVCModel(MelGANVCConfig(**STYLE_KWARGS, **config_overrides))
    return StyleTransferPipeline(model, vocoder)


@pytest.fixture
def pipeline(tiny_vocoder: MelGANVocoder) -> StyleTransferPipeline:
    return make_style_pipeline(tiny_vocoder)


@pytest.fixture
def saved_pipeline(tmp_path: Path, pipeline: StyleTransferPipeline) -> Path:
    folder = tmp_path / "tiny-style"
    pipeline.save_pretrained(folder)
    return folder


def realistic_audio(sampling_rate: int, seconds: float, seed: int = 0) -> np.ndarray:
    """Harmonic notes with vibrato and decaying envelopes, plus a little noise: not silence, not a pure tone."""
    melody = synthetic_melody(sampling_rate, seconds)
    noise = np.random.default_rng(seed).standard_normal(melody.size)
    return (melody + 0.01 * noise).astype(np.float32)


def style_chunk_starts(frames: int, config: MelGANVCConfig) -> list[int]:
    """Where `convert_mel` starts its chunks: every `segment_frames - chunk_overlap_frames`, the last one flush."""
    length, overlap = config.segment_frames, config.chunk_overlap_frames
    if frames <= length:
        return [0]
    return [*range(0, frames - length, length - overlap), frames - length]


def style_boundaries(frames: int, config: MelGANVCConfig) -> list[int]:
    """Frames where a style chunk starts or ends inside the signal."""
    starts = style_chunk_starts(frames, config)
    ends = [start + config.segment_frames for start in starts]
    return sorted({point for point in starts + ends if 0 < point < frames})


def near(size: int, positions: list[int], before: int, after: int) -> np.ndarray:
    """Boolean mask of `[position - before, position + after)` around each position."""
    mask = np.zeros(size, dtype=bool)
    for position in positions:
        mask[max(0, position - before) : position + after] = True
    return mask


# ---------------------------------------------------------------------------------------------- lengths and rates


@pytest.mark.parametrize(("seconds", "rate"), [(0.3, 8000), (7.3, 16000), (61.0, 44100)])
def test_output_has_the_input_duration_at_the_pipeline_rate(
    pipeline: StyleTransferPipeline, seconds: float, rate: int
) -> None:
    audio = realistic_audio(rate, seconds)
    output, output_rate = pipeline(audio, rate)
    assert output_rate == pipeline.sampling_rate == RATE
    assert output.dtype == np.float32 and output.ndim == 1
    # Within ±1 hop is the promise for any vocoder; this pipeline keeps every sample, so ask for that.
    assert abs(output.size - audio.size * RATE / rate) <= 1
    assert np.isfinite(output).all()
    assert np.abs(output).max() > 1e-3, "the output is silent"


# ------------------------------------------------------------------------------------------------------- seams


def test_no_clicks_at_chunk_boundaries(pipeline: StyleTransferPipeline) -> None:
    """
    8 s give 690 frames: 15 style chunks (64 frames, overlapping by 16) and, with `chunk_frames = 64`, 11 vocoder
    chunks. Near every boundary (±8 samples) the output must be no rougher than anywhere else, by two measures:
    the sample-to-sample jump |x[i+1] - x[i]|, and how far x[i] is from the mean of the samples one frame before
    and after it. The second one is the sensitive one: the vocoder's own frame-rate texture (strong in a random
    vocoder) cancels in it, content changes slowly over a frame, and a seam, which is not in the neighbouring
    frames, stands out. Verified to fail with `context_frames = 0` (both measures). A step between style chunks
    is smoothed by the vocoder rather than heard as a click: the next test looks for it in the mel.
    """
    vocoder = pipeline.vocoder
    vocoder.chunk_frames = 64
    audio = realistic_audio(RATE, 8.0)
    output, _ = pipeline(audio, RATE)
    frames = math.ceil(output.size / HOP)
    boundaries = style_boundaries(frames, pipeline.model.config)
    boundaries += list(range(vocoder.chunk_frames, frames, vocoder.chunk_frames))
    assert len(boundaries) >= 20
    width = 8

    jumps = np.abs(np.diff(output))
    at = near(jumps.size, [frame * HOP for frame in boundaries], width, width)
    assert jumps[at].max() <= jumps[~at].max()

    off_texture = np.zeros_like(output)
    off_texture[HOP:-HOP] = np.abs(output[HOP:-HOP] - (output[: -2 * HOP] + output[2 * HOP :]) / 2)
    at = near(output.size, [frame * HOP for frame in boundaries], width, width)
    assert off_texture[at].max() <= off_texture[~at].max()


def test_style_chunks_are_crossfaded_without_steps(pipeline: StyleTransferPipeline) -> None:
    """
    In the converted mel, the change from one frame to the next where a style chunk starts or ends is no larger
    than elsewhere, neither at worst nor typically (median): concatenated chunks would leave a step at each one.
    Verified to fail when each chunk simply overwrites the previous one.
    """
    mel, _ = audio_to_mel(realistic_audio(RATE, 8.0), RATE, pipeline.feature_extractor)
    converted = pipeline.convert_mel(mel)
    frames = converted.shape[0]
    boundaries = style_boundaries(frames, pipeline.model.config)
    assert len(boundaries) >= 20
    change = np.zeros(frames)
    change[1:] = np.abs(np.diff(converted, axis=0)).mean(axis=1)  # change[t]: frame t - 1 → t
    at = near(frames, boundaries, 0, 1)
    elsewhere = ~near(frames, boundaries, 2, 3)
    elsewhere[0] = False
    assert change[at].max() <= change[elsewhere].max()
    assert np.median(change[at]) <= 1.5 * np.median(change[elsewhere])


@pytest.mark.parametrize("depth", ["conftest", "paper"])
def test_chunked_vocoder_decoding_equals_one_shot(tiny_vocoder: MelGANVocoder, depth: str) -> None:
    """Context frames cover the receptive field: of the tiny vocoder, and of the paper's 3 residual layers."""
    vocoder = tiny_vocoder
    if depth == "paper":
        torch.manual_seed(0)
        vocoder = MelGANVocoder(MelGANGenerator(MelGANConfig(ngf=4, n_residual_layers=3)), precision="fp32")
    mel = np.random.default_rng(0).uniform(-5.0, 0.0, size=(2, 307, 80)).astype(np.float32)
    vocoder.chunk_frames = 10**6
    one_shot = vocoder.decode(mel)
    vocoder.chunk_frames = 50
    chunked = vocoder.decode(mel)
    assert chunked.shape == one_shot.shape == (2, 307 * HOP)
    np.testing.assert_allclose(chunked, one_shot, rtol=0, atol=1e-5)
    np.testing.assert_allclose(vocoder.decode(mel[1]), one_shot[1], rtol=0, atol=1e-5)


# ------------------------------------------------------------------------------------------------- convert_mel


@pytest.mark.parametrize("frames", [1, 7, 64, 65, 1000])
def test_convert_mel_keeps_the_shape(pipeline: StyleTransferPipeline, frames: int) -> None:
    assert pipeline.model.config.segment_frames == 64
    mel = np.random.default_rng(frames).uniform(-5.0, 0.0, size=(frames, 80)).astype(np.float32)
    converted = pipeline.convert_mel(mel)
    assert converted.shape == mel.shape and converted.dtype == np.float32
    assert np.isfinite(converted).all()
    batched = pipeline.convert_mel(np.stack([mel, mel[::-1]]))
    assert batched.shape == (2, frames, 80)
    np.testing.assert_allclose(batched[0], converted, rtol=0, atol=1e-5)


@pytest.mark.parametrize("frames", [1, 7, 64, 65, 113, 1000])
def test_crossfade_weights_sum_to_one(
    pipeline: StyleTransferPipeline, monkeypatch: pytest.MonkeyPatch, frames: int
) -> None:
    """With an identity model, chunking + crossfading must give the input back everywhere (113: two close starts)."""

    def identity(input_features: torch.Tensor, return_dict: bool | None = None) -> MelGANVCOutput:
        return MelGANVCOutput(converted_features=input_features)

    monkeypatch.setattr(pipeline.model, "forward", identity)
    mel = np.random.default_rng(frames).uniform(-5.0, 0.0, size=(frames, 80)).astype(np.float32)
    np.testing.assert_allclose(pipeline.convert_mel(mel), mel, rtol=0, atol=1e-5)


def test_convert_mel_matches_the_model_on_one_chunk_away_from_overlaps(pipeline: StyleTransferPipeline) -> None:
    config = pipeline.model.config
    length, overlap = config.segment_frames, config.chunk_overlap_frames
    mel = np.random.default_rng(1).uniform(-5.0, 0.0, size=(1000, 80)).astype(np.float32)
    converted = pipeline.convert_mel(mel)
    starts = style_chunk_starts(1000, config)
    index = len(starts) // 2
    start, following = starts[index], starts[index + 1]
    with torch.no_grad():
        alone = pipeline.model(torch.from_numpy(mel[None, start : start + length])).converted_features[0].numpy()
        after = pipeline.model(torch.from_numpy(mel[None, following : following + length])).converted_features[0]
    # Only this chunk covers [start + overlap, start + length - overlap), at full weight.
    inner = slice(start + overlap, start + length - overlap)
    np.testing.assert_allclose(converted[inner], alone[overlap : length - overlap], rtol=0, atol=1e-4)
    assert np.abs(converted[inner] - converted[inner].mean()).max() > 0.1, "the model output is constant"
    # Where it overlaps the next chunk, every value lies between the two chunks' values (a convex crossfade).
    shared = converted[following : start + length]
    ours, theirs = alone[following - start :], after.numpy()[: start + length - following]
    assert np.all(shared >= np.minimum(ours, theirs) - 1e-4) and np.all(shared <= np.maximum(ours, theirs) + 1e-4)
    assert not np.allclose(ours, theirs, atol=1e-3), "the two chunks agree: the crossfade check would be empty"


def test_long_inputs_are_converted_in_bounded_chunks(pipeline: StyleTransferPipeline) -> None:
    """Memory is bounded by the chunks: every model call is at most batch_size × segment_frames (61 s input)."""
    style_calls: list[tuple[int, ...]] = []
    vocoder_calls: list[tuple[int, ...]] = []
    style_forward = pipeline.model.forward
    generator = pipeline.vocoder.fast_generator()
    vocoder_forward = generator.forward

    def spy_style(input_features: torch.Tensor, *args, **kwargs):
        style_calls.append(tuple(input_features.shape))
        return style_forward(input_features, *args, **kwargs)

    def spy_vocoder(input_features: torch.Tensor, *args, **kwargs):
        vocoder_calls.append(tuple(input_features.shape))
        return vocoder_forward(input_features, *args, **kwargs)

    pipeline.model.forward = spy_style  # an instance attribute: nn.Module.__call__ runs it
    generator.forward = spy_vocoder
    output, _ = pipeline(realistic_audio(44100, 61.0), 44100)

    config, vocoder = pipeline.model.config, pipeline.vocoder
    frames = math.ceil(output.size / HOP)
    chunks = len(style_chunk_starts(frames, config))
    assert chunks > 100
    assert all(batch <= pipeline.batch_size and length <= config.segment_frames for batch, length, _ in style_calls)
    assert sum(batch for batch, _, _ in style_calls) == chunks
    assert len(style_calls) == math.ceil(chunks / pipeline.batch_size)
    assert len(vocoder_calls) == math.ceil(frames / vocoder.chunk_frames) > 1
    assert all(length <= vocoder.chunk_frames + 2 * vocoder.context_frames for _, length, _ in vocoder_calls)


# -------------------------------------------------------------------------------------------- save, load, push


def test_save_and_load_reproduce_the_outputs_exactly(pipeline: StyleTransferPipeline, saved_pipeline: Path) -> None:
    files = {path.relative_to(saved_pipeline).as_posix() for path in saved_pipeline.rglob("*") if path.is_file()}
    expected = {"config.json", "model.safetensors", "preprocessor_config.json"}
    assert expected | {f"vocoder/{name}" for name in expected} <= files
    assert not [name for name in files if name.endswith(PICKLE_SUFFIXES)]

    loaded = StyleTransferPipeline.from_pretrained(saved_pipeline, precision="fp32")
    audio = realistic_audio(16000, 2.0)
    output, rate = pipeline(audio, 16000)
    reloaded, reloaded_rate = loaded(audio, 16000)
    assert rate == reloaded_rate and np.array_equal(output, reloaded)


def test_auto_classes_load_the_saved_style_model(saved_pipeline: Path) -> None:
    assert isinstance(AutoConfig.from_pretrained(saved_pipeline), MelGANVCConfig)
    model = AutoModel.from_pretrained(saved_pipeline)
    assert type(model) is MelGANVCModel
    assert isinstance(AutoFeatureExtractor.from_pretrained(saved_pipeline), MelGANFeatureExtractor)


def test_push_to_hub_uploads_model_vocoder_and_card(fake_hub, pipeline: StyleTransferPipeline) -> None:
    repo_id = "someorg/tiny-style"
    card = "---\nlicense: mit\ntags:\n- audio\n---\n\n# Tiny style transfer\n"
    pipeline.push_to_hub(repo_id, token=HUB_TOKEN, model_card=card)
    with fake_hub.lock:
        files = dict(fake_hub.repos[repo_id].files)
    expected = {"config.json", "model.safetensors", "vocoder/config.json", "vocoder/model.safetensors", "README.md"}
    assert expected <= set(files)
    assert files["README.md"].decode() == card
    assert not [name for name in files if name.endswith(PICKLE_SUFFIXES)]


# ------------------------------------------------------------------------------------------------------ errors


@pytest.mark.parametrize(
    ("audio", "rate", "message"),
    [
        (np.zeros(0, dtype=np.float32), RATE, "empty"),
        (np.full(1000, np.nan, dtype=np.float32), RATE, "NaN"),
        (np.zeros((2, 3, 4), dtype=np.float32), RATE, r"shape \(2, 3, 4\)"),
        (np.zeros(1000, dtype=np.float32), 0, "sampling_rate must be a positive number"),
    ],
)
def test_bad_audio_is_refused_clearly(pipeline: StyleTransferPipeline, audio, rate, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        pipeline(audio, rate)


def test_a_mel_with_the_wrong_number_of_bins_is_refused(pipeline: StyleTransferPipeline) -> None:
    with pytest.raises(ValueError, match=r"\(frames, 80\).*got \(30, 64\)"):
        pipeline.convert_mel(np.zeros((30, 64), dtype=np.float32))


def test_a_vocoder_on_another_mel_preset_is_refused() -> None:
    speech = MelGANVocoder(MelGANGenerator(MelGANConfig.from_preset("speech16k", ngf=8, n_residual_layers=1)))
    mismatch = "differs from the vocoder's.*sampling_rate: style model 22050 vs vocoder 16000.*mel_log"
    with pytest.raises(ValueError, match=mismatch):
        make_style_pipeline(speech)


@pytest.mark.parametrize(
    ("fields", "name"),
    [
        ({"segment_frames": 66}, "segment_frames"),
        ({"chunk_overlap_frames": 33}, "chunk_overlap_frames"),
        ({"mel_low": [-5.0] * 79}, "mel_low"),
        ({"mel_low": [-5.0] * 80, "mel_high": [-5.0] * 80}, "mel_high"),
    ],
)
def test_bad_style_config_fails_at_construction_naming_the_field(fields: dict, name: str) -> None:
    with pytest.raises(ValueError, match=rf"MelGANVCConfig\.{name}"):
        MelGANVCConfig(**STYLE_KWARGS, **fields)


def test_a_fresh_model_is_not_saturated(random_mel: np.ndarray) -> None:
    torch.manual_seed(0)
    model = MelGANVCModel(MelGANVCConfig(**STYLE_KWARGS)).eval()
    with torch.no_grad():
        normalized = model.convert_normalized(model.normalize(torch.from_numpy(random_mel)[None]))
    assert (normalized.abs() > 0.99).float().mean() < 0.5


def test_converter_in_a_subfolder_loads_with_its_vocoder(tmp_path, pipeline: StyleTransferPipeline) -> None:
    pipeline.save_pretrained(tmp_path / "converters" / "a-to-b")
    loaded = StyleTransferPipeline.from_pretrained(tmp_path / "converters", subfolder="a-to-b", precision="fp32")
    audio = synthetic_melody(RATE, 1.0)
    np.testing.assert_array_equal(loaded(audio, RATE)[0], pipeline(audio, RATE)[0])
