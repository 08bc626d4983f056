"""The Gradio app through `gradio_client`, as API users call it: outputs, and a clear error for each bad input."""

from io import BytesIO

import numpy as np
import pytest
import soundfile as sf
from gradio_client import Client, handle_file
from gradio_client.exceptions import AppError
from PIL import Image

from app import LIMITS, SpectrogramFigure
from melgan_hf import MelGANVocoder
from melgan_hf.audio import synthetic_melody

RATE = 16000  # the shipped models' rate


@pytest.fixture(scope="module")
def client(app_url: str) -> Client:
    return Client(app_url, verbose=False)


@pytest.fixture(scope="module")
def microphone_clip(tmp_path_factory: pytest.TempPathFactory) -> str:
    """What a browser microphone delivers: int16 stereo at 48 kHz, 5 s."""
    melody = synthetic_melody(48000, 5.0)
    path = tmp_path_factory.mktemp("clips") / "mic.wav"
    sf.write(path, (np.stack([melody, 0.5 * melody], axis=1) * 32767).astype(np.int16), 48000, subtype="PCM_16")
    return str(path)


def read_output(path: str) -> tuple[np.ndarray, int, str]:
    info = sf.info(path)
    audio, rate = sf.read(path, dtype="int16")
    return audio, rate, info.subtype


def test_convert_returns_int16_audio_as_long_as_the_input(client: Client, microphone_clip: str) -> None:
    converted, plot, details = client.predict(handle_file(microphone_clip), "voice-to-english", api_name="/convert")
    audio, rate, subtype = read_output(converted)
    assert rate == RATE and subtype == "PCM_16" and audio.ndim == 1
    assert len(audio) == 5 * RATE
    assert np.abs(audio).max() > 100, "the converted clip is silent"
    assert Image.open(plot).size[0] == SpectrogramFigure.width_inches * 100
    assert "5.00 s in at 48000 Hz" in details


def test_an_uploaded_target_voice_is_converted_into_and_the_shared_model_is_left_alone(
    client: Client, microphone_clip: str, tmp_path
) -> None:
    voice = tmp_path / "voice.wav"
    sf.write(voice, synthetic_melody(RATE, 40.0), RATE)  # 40 s of a "voice" (a melody) to convert into
    default, *_ = client.predict(handle_file(microphone_clip), "voice-to-any", api_name="/convert")
    into_voice, *_ = client.predict(
        handle_file(microphone_clip), "voice-to-any", handle_file(str(voice)), api_name="/convert"
    )
    again, *_ = client.predict(handle_file(microphone_clip), "voice-to-any", api_name="/convert")
    converted, expected, repeated = (read_output(path)[0] for path in (into_voice, default, again))
    assert len(converted) == 5 * RATE and not np.array_equal(converted, expected)
    np.testing.assert_array_equal(repeated, expected)  # the next user still gets the shipped voice


def test_piano_to_strings_converter_is_offered(client: Client, microphone_clip: str) -> None:
    converted, *_ = client.predict(handle_file(microphone_clip), "piano-to-strings", api_name="/convert")
    assert len(read_output(converted)[0]) == 5 * RATE


def test_invert_audio_gives_melgan_and_both_griffin_lim_baselines(client: Client, microphone_clip: str) -> None:
    melgan, griffin_lim, refined, plot, details = client.predict(
        handle_file(microphone_clip), None, "vocoder-16k", api_name="/invert"
    )
    for path in (melgan, griffin_lim, refined):
        audio, rate, subtype = read_output(path)
        assert (rate, subtype) == (RATE, "PCM_16")
        assert abs(len(audio) - 5 * RATE) < 256  # whole frames of the 5 s clip
    assert Image.open(plot).format == "JPEG"
    assert "MelGAN" in details and "Griffin-Lim, refined amplitude" in details


def test_invert_npy_mel_decodes_every_frame(client: Client, tmp_path) -> None:
    vocoder = MelGANVocoder.from_pretrained("vocoder-16k")
    melody = synthetic_melody(RATE, 2.0)
    mel = vocoder.feature_extractor(melody, sampling_rate=RATE)["input_features"][0]
    np.save(tmp_path / "mel.npy", mel.astype(np.float32))
    melgan, griffin_lim, refined, *_ = client.predict(
        None, handle_file(str(tmp_path / "mel.npy")), "vocoder-16k", api_name="/invert"
    )
    assert len(read_output(refined)[0]) == len(mel) * vocoder.config.hop_length
    assert len(read_output(melgan)[0]) == len(mel) * vocoder.config.hop_length
    assert len(read_output(griffin_lim)[0]) == len(mel) * vocoder.config.hop_length


def write_bad_inputs(folder) -> dict[str, tuple[tuple, str, str]]:
    """name → (inputs, api, words the error must contain)."""
    sf.write(folder / "melody.wav", synthetic_melody(RATE, 1.0), RATE)
    sf.write(folder / "silence.wav", np.zeros(RATE, np.float32), RATE)
    sf.write(folder / "long.wav", synthetic_melody(8000, LIMITS.max_seconds + 1), 8000)
    (folder / "text.wav").write_text("not audio at all")
    sf.write(folder / "empty.wav", np.zeros(0, np.float32), RATE)
    np.save(folder / "nan.npy", np.full((20, 80), np.nan, np.float32))
    np.save(folder / "transposed.npy", np.zeros((80, 20), np.float32))
    np.save(folder / "integers.npy", np.zeros((20, 80), np.int32))
    np.save(folder / "strings.npy", np.array(["a", "b"]))
    (folder / "pickle.npy").write_bytes(b"\x80\x04K\x01.")  # a pickle, not an array
    file = lambda name: handle_file(str(folder / name))  # noqa: E731
    return {
        "no recording": ((None, "voice-to-english"), "/convert", "No recording"),
        "silence": ((file("silence.wav"), "voice-to-english"), "/convert", "silent"),
        "over-long": ((file("long.wav"), "voice-to-english"), "/convert", "over the limit"),
        "not audio": ((file("text.wav"), "voice-to-english"), "/convert", "not a readable audio file"),
        "empty": ((file("empty.wav"), "voice-to-english"), "/convert", "no samples"),
        "unknown Hub repo, offline": ((file("melody.wav"), "nobody/no-such-model"), "/convert", "offline"),
        "short target voice": ((file("melody.wav"), "voice-to-any", file("melody.wav")), "/convert", "30 s"),
        "silent target voice": ((file("melody.wav"), "voice-to-any", file("silence.wav")), "/convert", "silent"),
        "voice for a one-target converter": (
            (file("melody.wav"), "piano-to-strings", file("melody.wav")),
            "/convert",
            "cannot take a reference voice",
        ),
        "voice for the default PPG converter": (
            (file("melody.wav"), "voice-to-english", file("melody.wav")),
            "/convert",
            "such as the shipped 'voice-to-any'",
        ),
        "nothing to invert": ((None, None, "vocoder-16k"), "/invert", "Upload an audio file"),
        "NaN mel": ((None, file("nan.npy"), "vocoder-16k"), "/invert", "NaN"),
        "transposed mel": ((None, file("transposed.npy"), "vocoder-16k"), "/invert", "transpose it"),
        "integer mel": ((None, file("integers.npy"), "vocoder-16k"), "/invert", "float array"),
        "string mel": ((None, file("strings.npy"), "vocoder-16k"), "/invert", "float array"),
        "pickle": ((None, file("pickle.npy"), "vocoder-16k"), "/invert", "pickled objects are refused"),
        "typed path as vocoder": ((None, file("nan.npy"), "/etc/passwd"), "/invert", "neither one of the listed"),
    }


def test_each_bad_input_gets_a_clear_error_and_the_app_keeps_serving(
    client: Client, microphone_clip: str, tmp_path
) -> None:
    for name, (inputs, api, words) in write_bad_inputs(tmp_path).items():
        with pytest.raises(AppError) as raised:
            client.predict(*inputs, api_name=api)
        assert words.lower() in str(raised.value).lower(), f"{name}: {raised.value}"
    converted, *_ = client.predict(handle_file(microphone_clip), "voice-to-english", api_name="/convert")
    assert len(read_output(converted)[0]) == 5 * RATE


def test_a_typed_local_path_is_never_loaded(client: Client, microphone_clip: str) -> None:
    with pytest.raises(AppError, match="neither one of the listed models"):
        client.predict(handle_file(microphone_clip), "/etc", api_name="/convert")
    with pytest.raises(AppError, match="local path"):
        client.predict(handle_file(microphone_clip), "melgan_hf/models", api_name="/convert")


def test_uploads_over_the_size_limit_are_refused(client: Client, tmp_path) -> None:
    big = tmp_path / "big.wav"
    seconds = LIMITS.max_upload_mb * 1024 * 1024 / (48000 * 2 * 2) + 1
    sf.write(big, np.zeros((int(seconds * 48000), 2), np.int16), 48000, subtype="PCM_16")
    with pytest.raises(Exception, match="(?i)size|large|413"):
        client.predict(handle_file(str(big)), "voice-to-english", api_name="/convert")


def test_hub_ids_load_online_and_a_missing_repo_is_named(fake_hub) -> None:
    """In-process against the test Hub: a pushed converter loads by Hub id; a missing one gets a clear message."""
    import gradio as gr

    import app
    from melgan_hf import StyleTransferPipeline

    StyleTransferPipeline.from_pretrained("piano-to-strings").push_to_hub("someone/strings", token="test-token")
    app._load.cache_clear()
    loaded = app.load_model("converter", "someone/strings", {}, [])
    converted, rate = loaded(synthetic_melody(RATE, 1.0), RATE)
    assert rate == RATE and len(converted) == RATE
    with pytest.raises(gr.Error, match="does not exist"):
        app.load_model("converter", "someone/no-such-model", {}, [])


def test_spectrogram_plot_has_seconds_hz_and_one_db_scale_for_all_panels() -> None:
    """Input and output share a colour scale (a quieter output looks darker); the axes are in seconds and Hz."""
    features = MelGANVocoder.from_pretrained("vocoder-16k").feature_extractor
    figure = SpectrogramFigure(2, features)
    for seconds in (0.5, 25.0):
        loud = features(synthetic_melody(RATE, seconds), sampling_rate=RATE)["input_features"][0]
        quiet = loud - 3.0  # 3 ln units ≈ 26 dB quieter
        image = figure.render([("Input", loud), ("Converted", quiet)])
        assert Image.open(BytesIO(image)).size[0] == SpectrogramFigure.width_inches * 100  # not a strip when short
        input_scale, output_scale = (image.get_clim() for image in figure.images)
        assert input_scale == output_scale == (-SpectrogramFigure.dynamic_range_db, 0.0)
        input_level, output_level = (image.get_array() for image in figure.images)
        assert float(input_level.max()) == pytest.approx(0.0, abs=1e-4)  # dB below the loudest bin of both
        quieter_db = float(features.to_decibels(loud.max()) - features.to_decibels(quiet.max()))
        assert float(output_level.max()) == pytest.approx(-quieter_db, abs=1e-3) and quieter_db > 20
        assert figure.axes[-1].get_xlim() == pytest.approx((0.0, len(loud) * features.hop_length / RATE))
    labels = {
        label.get_text(): position
        for label, position in zip(figure.axes[0].get_yticklabels(), figure.axes[0].get_yticks(), strict=True)
    }
    assert {"500", "1k", "4k"} <= labels.keys()
    bins = np.arange(features.feature_size)
    for text, hz in (("500", 500), ("1k", 1000), ("4k", 4000)):  # each tick sits on the mel bin of its frequency
        assert np.interp(labels[text], bins, features.mel_frequencies) == pytest.approx(hz, rel=1e-6)
    assert figure.figure.axes[-1].get_ylabel() == "dB below the loudest"


def test_spectrogram_plot_redrawn_over_its_background_keeps_nothing_of_the_last_request() -> None:
    """Each request redraws only the images, titles and time axis over a saved background: a short clip after a long
    one must look as it does on a fresh figure, and different clips must look different."""
    features = MelGANVocoder.from_pretrained("vocoder-16k").feature_extractor
    short = features(synthetic_melody(RATE, 1.0), sampling_rate=RATE)["input_features"][0]
    long = features(synthetic_melody(RATE, 9.0), sampling_rate=RATE)["input_features"][0]
    fresh = SpectrogramFigure(2, features).render([("Input", short), ("Converted", short)])
    reused = SpectrogramFigure(2, features)
    after_long = reused.render([("A long input", long), ("Converted", long - 2.0)])
    assert np.array_equal(
        Image.open(BytesIO(reused.render([("Input", short), ("Converted", short)]))), Image.open(BytesIO(fresh))
    )
    assert not np.array_equal(Image.open(BytesIO(after_long)), Image.open(BytesIO(fresh)))
