"""Phone labels for a speaker-independent phone classifier: one inventory, its maps, espeak-ng's timed phones."""

from __future__ import annotations

import ctypes.util
import itertools
import shutil
from pathlib import Path

import numpy as np
import pytest

from melgan_hf.phones import (
    PHONE_INDEX,
    PHONES,
    SILENCE,
    arpabet_to_classes,
    frame_labels,
    ipa_to_classes,
    split_into_classes,
)

needs_espeak = pytest.mark.skipif(ctypes.util.find_library("espeak-ng") is None, reason="libespeak-ng not installed")


def test_the_inventory_is_small_and_unique() -> None:
    assert len(PHONES) == len(set(PHONES)) == len(PHONE_INDEX) == 44 and PHONES[0] == SILENCE


@pytest.mark.parametrize(
    ("symbol", "classes"),
    [
        ("iː", ("i",)),  # length dropped
        ("ɔ̃", ("ɔ",)),  # nasal vowel → its oral vowel
        ("ˈa", ("a",)),  # stress dropped
        ("aɪ", ("a", "ɪ")),  # a diphthong is two phones
        ("t͡ʃ", ("tʃ",)),  # tie bar: one affricate, not t + ʃ
        ("ts", ("t", "s")),
        ("ç", ("x",)),  # precomposed, a phone of its own (not c + cedilla)
        ("ɡʲ", ("ɡ",)),  # palatalisation dropped
        ("ɾ", ("r",)),
        ("ˈ", ()),
    ],
)
def test_espeak_ipa_maps_onto_the_inventory(symbol: str, classes: tuple[str, ...]) -> None:
    assert ipa_to_classes(symbol) == classes


def test_arpabet_from_pocketsphinx_and_flite_maps_onto_the_same_classes() -> None:
    assert arpabet_to_classes("AY1") == arpabet_to_classes("ay") == ipa_to_classes("aɪ")
    assert arpabet_to_classes("ax") == arpabet_to_classes("AH") == ("ə",)
    assert arpabet_to_classes("+SPN+") == arpabet_to_classes("pau") == arpabet_to_classes("SIL") == (SILENCE,)


def test_unknown_symbols_are_named_not_guessed() -> None:
    with pytest.raises(ValueError, match="'ʘ'"):
        ipa_to_classes("ʘ")
    with pytest.raises(ValueError, match="'QQ'"):
        arpabet_to_classes("QQ")


def test_frame_labels_take_the_phone_under_each_frame_centre() -> None:
    # hop 100 at 1000 Hz: frame i is centred at (i + 0.5) * 0.1 s
    intervals = split_into_classes([(0.1, 0.3, ("p",)), (0.3, 0.7, ("a", "ɪ")), (0.76, 0.9, ("s",))])
    labels = frame_labels(intervals, num_frames=11, hop_length=100, sampling_rate=1000)
    expected = [SILENCE, "p", "p", "a", "a", "ɪ", "ɪ", SILENCE, "s", SILENCE, SILENCE]
    assert [PHONES[index] for index in labels] == expected
    assert frame_labels([], 3, 100, 1000).tolist() == [PHONE_INDEX[SILENCE]] * 3


@needs_espeak
def test_espeak_speaks_with_gapless_phone_timings_in_the_inventory() -> None:
    from training.data.espeak_events import synthesize

    audio, rate, phones = synthesize("Please leave a message.", "en-us")
    assert audio.dtype == np.float32 and rate > 0 and 0.5 < len(audio) / rate < 3 and np.abs(audio).max() > 0.05
    assert phones[0][0] == 0 and phones[-1][1] == pytest.approx(len(audio) / rate)
    assert all(previous[1] == following[0] for previous, following in itertools.pairwise(phones))
    classes = [phone for _, _, ipa in phones for phone in ipa_to_classes(ipa) if phone != SILENCE]
    assert classes[:4] == ["p", "l", "i", "z"]
    # Each voiced phone's audio is louder than the leading silence before the first phone.
    lead = audio[: int(phones[0][1] * rate)] if phones[0][2] == SILENCE else np.zeros(1)
    vowel = next((start, end) for start, end, ipa in phones if ipa_to_classes(ipa) == ("i",))
    assert np.abs(audio[int(vowel[0] * rate) : int(vowel[1] * rate)]).mean() > 10 * np.abs(lead).mean() + 1e-4

    _, _, french_phones = synthesize("Bonjour, un peu de vin.", "fr+m3")
    assert [phone for _, _, ipa in french_phones for phone in ipa_to_classes(ipa)][:3] == [SILENCE, "b", "ɔ"]
    with pytest.raises(ValueError, match="no voice"):
        synthesize("hello", "xx-nonexistent")
    with pytest.raises(ValueError, match="text"):
        synthesize("  ", "en-us")


needs_flite = pytest.mark.skipif(shutil.which("flite") is None, reason="Debian's flite is not installed")


@needs_flite
def test_flite_reports_gapless_phone_timings() -> None:
    from training.data.align_speech import flite_phones

    audio, rate, phones = flite_phones("Please leave a message.", "slt")
    assert phones[0][0] == 0 and phones[-1][1] == pytest.approx(len(audio) / rate)
    assert all(previous[1] == following[0] for previous, following in itertools.pairwise(phones))
    classes = [phone for _, _, name in phones for phone in arpabet_to_classes(name) if phone != SILENCE]
    assert classes[:4] == ["p", "l", "i", "z"]
    with pytest.raises(ValueError, match="voice 'nobody'"):
        flite_phones("hello", "nobody")


@pytest.mark.skipif(
    not Path("/usr/share/festival/voices/english/ked_diphone").is_dir(), reason="festival-ked is not installed"
)
def test_festival_reports_gapless_phone_timings_and_names_a_missing_voice() -> None:
    from training.data.align_speech import festival_phones

    audio, rate, phones = festival_phones('Please leave a "message".', "ked_diphone")
    assert rate == 16000 and phones[0][0] == 0 and phones[-1][1] == pytest.approx(len(audio) / rate)
    assert all(previous[1] == following[0] for previous, following in itertools.pairwise(phones))
    classes = [phone for _, _, name in phones for phone in arpabet_to_classes(name) if phone != SILENCE]
    assert classes[:4] == ["p", "l", "i", "z"]
    assert np.abs(audio).max() > 0.05
    with pytest.raises(ValueError, match="voice 'nobody'"):
        festival_phones("hello", "nobody")
    with pytest.raises(ValueError, match="not a Festival voice name"):
        festival_phones("hello", "ked) (quit")


@pytest.mark.skipif(
    not Path("/usr/share/festival/voices/english/ked_diphone").is_dir(), reason="festival-ked is not installed"
)
def test_festival_voice_builds_with_and_without_labels(tmp_path) -> None:
    from training.data.build_synthetic_voices import VOICES, build_voice

    sentences = ["Hello there.", "The train leaves at nine."]
    plain = build_voice("festival-ked", VOICES["festival-ked"], sentences, tmp_path / "plain")
    assert plain["files"] == 2 and plain["source_package"] == "festvox-kdlpc16k" and plain["sampling_rate"] == 16000
    assert not list((tmp_path / "plain").glob("*.phones.tsv"))
    labelled = build_voice("festival-ked", VOICES["festival-ked"], sentences, tmp_path / "lab", labels=True)
    assert labelled["files"] == 2 and not labelled["unlabelled"]
    assert len(list((tmp_path / "lab").glob("*.phones.tsv"))) == 2


def test_festival_radio_phones_map_onto_the_inventory() -> None:
    assert arpabet_to_classes("dx") == ipa_to_classes("ɾ")
    assert arpabet_to_classes("en") == ("ə", "n") and arpabet_to_classes("hv") == ("h",)


@needs_flite
def test_pocketsphinx_aligns_speech_where_flite_says_its_phones_are() -> None:
    pytest.importorskip("pocketsphinx")
    from training.data.align_speech import PocketsphinxAligner, flite_phones

    text = "Please leave a message after the tone."
    audio, rate, truth = flite_phones(text, "slt")
    aligner = PocketsphinxAligner()
    aligned = aligner.align(audio, rate, text)
    spoken = [(start, end, name) for start, end, name in truth if arpabet_to_classes(name) != (SILENCE,)]
    found = [(start, end, name) for start, end, name in aligned if arpabet_to_classes(name) != (SILENCE,)]
    assert len(found) == len(spoken)  # pronunciations may differ (flite: "message" m eh s ax jh; pocketsphinx: ih)
    same = [arpabet_to_classes(a[2]) == arpabet_to_classes(b[2]) for a, b in zip(found, spoken, strict=True)]
    assert np.mean(same) > 0.9
    onset_errors = [abs(a[0] - b[0]) for a, b in zip(found, spoken, strict=True)]
    assert np.median(onset_errors) < 0.03 and max(onset_errors) < 0.1
    # What it cannot align it refuses: words outside its dictionary, digits, no words.
    assert aligner.unknown_words("leave a zxqvbn at 5") == ["zxqvbn"]
    assert aligner.align(audio, rate, "leave a zxqvbn") is None
    assert aligner.align(audio, rate, "  ...") is None


@needs_flite
def test_numbers_are_spelt_out_for_the_dictionary() -> None:
    from melgan_hf.evaluation import words_of

    assert words_of("Press 1, then 42 or 105 - 3D!") == "press one then forty two or one hundred five three d".split()
    assert words_of("call 1800") == ["call", "one", "eight", "zero", "zero"]


@needs_flite
def test_aligning_a_folder_labels_what_it_can_and_counts_the_rest(tmp_path) -> None:
    pytest.importorskip("pocketsphinx")
    from melgan_hf.audio import save_audio
    from melgan_hf.phones import read_phone_intervals
    from training.data.align_speech import PocketsphinxAligner, align_folder, flite_phones

    texts = {"a.wav": "Please hold the line.", "b.wav": "Press zxqvbn now.", "c.wav": "Dial 9, or 3D."}
    for name, text in texts.items():
        audio, rate, _ = flite_phones(text.replace("zxqvbn", "nine"), "rms")
        save_audio(tmp_path / name, audio, rate)
    (tmp_path / "transcripts.tsv").write_text("file\ttext\n" + "".join(f"{n}\t{t}\n" for n, t in texts.items()))
    report = align_folder(tmp_path, PocketsphinxAligner())
    assert (report["aligned"], report["unknown_words"], report["failed"]) == (2, 1, 0)  # "9" spelt out; "3D": 3 d
    phones = [phone for *_, phone in read_phone_intervals(tmp_path / "a.phones.tsv")]
    assert phones[phones.index("p") : phones.index("p") + 3] == ["p", "l", "i"]
    assert not (tmp_path / "b.phones.tsv").exists()
    assert align_folder(tmp_path, PocketsphinxAligner())["aligned"] == 0  # labelled clips are kept, not redone
