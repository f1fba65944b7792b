"""Short replies that look like refusals get a second judge (WildReward step 5)."""
import re

MAX_CHARS = 300
_PHRASES = re.compile(r"\b(i can'?not|i can'?t|i'?m unable to|i am unable to|i won'?t be able|as an ai|"
                      r"as a language model|sorry,? but|i'?m sorry,? i|i apologi[sz]e,? but|i must decline|"
                      r"not able to (help|assist|provide))\b|我不能|我无法|抱歉|作为(一个)?(人工智能|AI|语言模型)", re.I)

# The refusal judge's answer -> the satisfaction category it implies (None: keep the feedback judge's).
VERDICTS = {"0": 1, "1": 5, "2": None}


def looks_like_refusal(response: str) -> bool:
    return len(response) < MAX_CHARS and bool(_PHRASES.search(response))
