"""
One phone inventory for every language and labeller: the frame targets of a speaker-independent phone classifier.

Labels come from three places that spell phones differently: pocketsphinx's en-us model and flite (ARPAbet), and
espeak-ng (IPA, with length marks, nasalisation and stress). All map onto `PHONES`: 43 broad IPA classes plus
`sil`, few enough that every class has real and synthetic examples, fine enough to keep the words. Nasal vowels
count as their oral vowel, length and stress are dropped, and a diphthong is two phones, each half its duration, so
English /aɪ/ and Spanish /ai/ teach the same classes.
"""

from __future__ import annotations

import unicodedata
from collections.abc import Iterable, Sequence
from pathlib import Path

import numpy as np

SILENCE = "sil"
VOWELS = ("i", "ɪ", "e", "ɛ", "æ", "a", "ɔ", "o", "ʊ", "u", "ə", "ɝ", "y", "ø")
CONSONANTS = (
    *("p", "b", "t", "d", "k", "ɡ", "f", "v", "θ", "ð", "s", "z", "ʃ", "ʒ", "h", "tʃ", "dʒ"),
    *("m", "n", "ŋ", "ɲ", "l", "ʎ", "ɹ", "r", "ʁ", "w", "j", "x"),
)
PHONES = (SILENCE, *VOWELS, *CONSONANTS)
PHONE_INDEX = {phone: index for index, phone in enumerate(PHONES)}

# ARPAbet as pocketsphinx's en-us model (upper case), flite and Festival (lower case, plus `ax` and `pau`) spell it.
ARPABET = {
    "aa": ("a",), "ae": ("æ",), "ah": ("ə",), "ax": ("ə",), "ao": ("ɔ",), "aw": ("a", "ʊ"), "ay": ("a", "ɪ"),
    "eh": ("ɛ",), "er": ("ɝ",), "axr": ("ɝ",), "ey": ("e", "ɪ"), "ih": ("ɪ",), "iy": ("i",), "ow": ("o", "ʊ"),
    "oy": ("ɔ", "ɪ"), "uh": ("ʊ",), "uw": ("u",),
    "b": ("b",), "ch": ("tʃ",), "d": ("d",), "dh": ("ð",), "f": ("f",), "g": ("ɡ",), "hh": ("h",), "jh": ("dʒ",),
    "k": ("k",), "l": ("l",), "m": ("m",), "n": ("n",), "ng": ("ŋ",), "p": ("p",), "r": ("ɹ",), "s": ("s",),
    "sh": ("ʃ",), "t": ("t",), "th": ("θ",), "v": ("v",), "w": ("w",), "y": ("j",), "z": ("z",), "zh": ("ʒ",),
    "sil": (SILENCE,), "pau": (SILENCE,), "h#": (SILENCE,),
    # Festival's radio phoneset adds the flap, syllabic consonants and /ɦ/ (espeak-ng's ɾ is `r` too).
    "dx": ("r",), "el": ("ə", "l"), "em": ("ə", "m"), "en": ("ə", "n"), "nx": ("n",), "hv": ("h",),
    "brth": (SILENCE,),
}  # fmt: skip

# IPA letters (after `normalise_ipa`) → class, for espeak-ng's phoneme names in its ~100 languages. Affricates are
# matched before single letters; anything not here is reported, never guessed.
IPA = {
    "tʃ": ("tʃ",), "dʒ": ("dʒ",), "ts": ("t", "s"), "dz": ("d", "z"), "tɕ": ("tʃ",), "dʑ": ("dʒ",),
    "i": ("i",), "ɪ": ("ɪ",), "ᵻ": ("ɪ",), "ɨ": ("ɪ",), "e": ("e",), "ɛ": ("ɛ",), "æ": ("æ",), "a": ("a",),
    "ɑ": ("a",), "ɐ": ("ə",), "ɒ": ("ɔ",), "ɔ": ("ɔ",), "o": ("o",), "ɤ": ("o",), "ʊ": ("ʊ",), "u": ("u",),
    "ɯ": ("u",), "ʌ": ("ə",), "ə": ("ə",), "ɘ": ("ə",), "ɜ": ("ɝ",), "ɚ": ("ɝ",), "ɝ": ("ɝ",), "y": ("y",),
    "ʏ": ("y",), "ø": ("ø",), "œ": ("ø",), "ɵ": ("ø",),
    "p": ("p",), "b": ("b",), "β": ("b",), "t": ("t",), "d": ("d",), "k": ("k",), "c": ("k",), "q": ("k",),
    "ɡ": ("ɡ",), "g": ("ɡ",), "ɣ": ("ɡ",), "ɟ": ("ɡ",), "f": ("f",), "v": ("v",), "ʋ": ("v",), "θ": ("θ",),
    "ð": ("ð",), "s": ("s",), "z": ("z",), "ʃ": ("ʃ",), "ɕ": ("ʃ",), "ʂ": ("ʃ",), "ʒ": ("ʒ",), "ʑ": ("ʒ",),
    "ʐ": ("ʒ",), "h": ("h",), "ɦ": ("h",), "m": ("m",), "ɱ": ("m",), "n": ("n",), "ɳ": ("n",), "ŋ": ("ŋ",),
    "ɲ": ("ɲ",), "l": ("l",), "ɫ": ("l",), "ɭ": ("l",), "ʎ": ("ʎ",), "ɹ": ("ɹ",), "ɻ": ("ɹ",), "r": ("r",),
    "ɾ": ("r",), "ʁ": ("ʁ",), "ʀ": ("ʁ",), "w": ("w",), "ʍ": ("w",), "ɥ": ("j",), "j": ("j",), "ʝ": ("j",), "x": ("x",),
    "χ": ("x",), "ç": ("x",), "ʔ": (SILENCE,),
}  # fmt: skip
_IPA_LONGEST = max(map(len, IPA))


def normalise_ipa(symbol: str) -> str:
    """An espeak-ng phoneme name without what `PHONES` ignores: stress, length, tone and syllable marks, combining
    diacritics (nasal tilde, devoicing ring …) and modifier letters (ʲ ʷ ʰ), plus espeak's own `-` and `#`."""
    # Decomposed letter by letter, so a precomposed letter that is a phone of its own (ç) survives.
    letters = (
        char if char in IPA else unicodedata.normalize("NFD", char) for char in unicodedata.normalize("NFC", symbol)
    )
    return "".join(
        char
        for char in "".join(letters)
        if unicodedata.category(char) not in ("Mn", "Lm", "Sk") and char not in "ˈˌː-#.'"
    )


def ipa_to_classes(symbol: str) -> tuple[str, ...]:
    """One espeak-ng phoneme (IPA) → its `PHONES` classes, in order (two for a diphthong or `ts`; none for a bare
    stress mark; `sil` is itself). Raises ValueError naming a letter it does not know."""
    if symbol == SILENCE:
        return (SILENCE,)
    letters, classes = normalise_ipa(symbol), []
    while letters:
        for length in range(min(_IPA_LONGEST, len(letters)), 0, -1):
            if letters[:length] in IPA:
                classes.extend(IPA[letters[:length]])
                letters = letters[length:]
                break
        else:
            raise ValueError(f"unknown IPA letter {letters[0]!r} (U+{ord(letters[0]):04X}) in phoneme {symbol!r}")
    return tuple(classes)


def arpabet_to_classes(symbol: str) -> tuple[str, ...]:
    """One ARPAbet phone (pocketsphinx or flite; stress digits and `+NOISE+` fillers allowed) → its classes."""
    name = symbol.strip().lower().rstrip("012")
    if name.startswith("+") or name.startswith("<"):  # pocketsphinx fillers: +NSN+, +SPN+, <sil>, <s>
        return (SILENCE,)
    if name not in ARPABET:
        raise ValueError(f"unknown ARPAbet phone {symbol!r}")
    return ARPABET[name]


Interval = tuple[float, float, str]  # start and end in seconds, a `PHONES` class


def split_into_classes(intervals: Iterable[tuple[float, float, tuple[str, ...]]]) -> list[Interval]:
    """Phones with their classes → one interval per class: a phone of n classes is cut into n equal parts."""
    result = []
    for start, end, classes in intervals:
        step = (end - start) / max(len(classes), 1)
        result.extend((start + k * step, start + (k + 1) * step, phone) for k, phone in enumerate(classes))
    return result


def frame_labels(intervals: Sequence[Interval], num_frames: int, hop_length: int, sampling_rate: int) -> np.ndarray:
    """
    The `PHONE_INDEX` of each mel frame: the class of the interval holding the frame's centre, `(i + 0.5) * hop`
    samples (where the MelGAN front end centres frame i); `sil` where no interval does. Intervals are sorted by start
    and do not overlap.
    """
    return labels_at(intervals, (np.arange(num_frames) + 0.5) * hop_length / sampling_rate)


def labels_at(intervals: Sequence[Interval], times: np.ndarray) -> np.ndarray:
    """The `PHONE_INDEX` of the interval holding each time (seconds), `sil` outside them all: labels for frames
    anywhere on the clip's timeline (a segment cut from it, played faster or slower)."""
    labels = np.full(len(times), PHONE_INDEX[SILENCE], dtype=np.int64)
    if not intervals:
        return labels
    starts = np.array([start for start, _, _ in intervals])
    ends = np.array([end for _, end, _ in intervals])
    indices = np.array([PHONE_INDEX[phone] for _, _, phone in intervals])
    holder = np.searchsorted(starts, times, side="right") - 1
    inside = (holder >= 0) & (times < ends[np.clip(holder, 0, None)])
    labels[inside] = indices[holder[inside]]
    return labels


def write_phone_intervals(path: str | Path, intervals: Iterable[Interval]) -> None:
    """`start  end  phone` rows (seconds, a `PHONES` class) under a header: the label file beside a clip."""
    rows = (f"{start:.4f}\t{end:.4f}\t{phone}" for start, end, phone in intervals)
    Path(path).write_text("start\tend\tphone\n" + "\n".join(rows) + "\n", encoding="utf-8")


def read_phone_intervals(path: str | Path) -> list[Interval]:
    """What `write_phone_intervals` wrote; ValueError naming the file and line for anything else."""
    intervals = []
    for number, line in enumerate(Path(path).read_text(encoding="utf-8").splitlines()[1:], start=2):
        fields = line.split("\t")
        if len(fields) != 3 or fields[2] not in PHONE_INDEX:
            raise ValueError(f"{path}, line {number}: expected 'start<TAB>end<TAB>phone' with a known phone: {line!r}")
        intervals.append((float(fields[0]), float(fields[1]), fields[2]))
    return intervals
