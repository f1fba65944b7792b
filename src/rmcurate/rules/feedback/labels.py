"""Reading judge answers, and the final 4-level ordinal label."""
import re

NEUTRAL = 3
ORDINAL = {1: 1, 2: 2, 4: 3, 5: 4}  # WildReward: categories 1,2,4,5 -> ordinal 1..4; 3 is dropped
_BRACKETED = re.compile(r"\[\[\s*([1-5])\s*\]\]")


def parse_category(text: str | None, choices=("1", "2", "3", "4", "5")) -> int | None:
    """The 1-5 category in a judge's raw answer: a bare choice, or the last [[n]] of a reasoned one."""
    if text is None:
        return None
    t = text.strip()
    if t in choices:
        return int(t)
    found = _BRACKETED.findall(t)
    return int(found[-1]) if found else None


def ordinal(category: int) -> int:
    return ORDINAL[category]
