"""Which language a turn is in: the source's label when it has one, else a shipped detector."""
import re

# WildChat names languages in English ("English", "Chinese"); we store ISO 639-1 codes.
_NAMES = {"english": "en", "chinese": "zh", "en": "en", "zh": "zh", "zh-cn": "zh", "zh-tw": "zh"}
_CJK = re.compile(r"[\u4e00-\u9fff]")
_LATIN = re.compile(r"[A-Za-z]")


def from_source(name: str | None) -> str | None:
    """ISO code of a source's language name, or the lowered name itself."""
    if not name:
        return None
    return _NAMES.get(name.strip().lower(), name.strip().lower())


def detect(text: str) -> str | None:
    """ISO 639-1 code of the text's language; None when it has no letters to go on.

    Han characters settle Chinese at once (langdetect splits zh-cn / zh-tw and
    can mistake short Chinese for Japanese or Korean); otherwise langdetect,
    whose profiles ship in the package, seeded so the answer is stable.
    """
    sample = text[:2000]
    cjk, latin = len(_CJK.findall(sample)), len(_LATIN.findall(sample))
    if cjk and cjk >= latin / 4:
        return "zh"
    if not latin:
        return None
    from langdetect import DetectorFactory, LangDetectException
    from langdetect import detect as ld_detect

    DetectorFactory.seed = 0
    try:
        return from_source(ld_detect(sample))
    except LangDetectException:
        return None
