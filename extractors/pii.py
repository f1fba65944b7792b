"""Personal data in free text: emails, phone numbers, IP addresses.

The feedback filter drops turns whose feedback holds an email or phone number;
exports scrub all three from every text field.
"""
import ipaddress
import re
from functools import lru_cache

EMAIL = re.compile(r"[\w.+-]+@[\w-]+\.[\w.-]*\w")
PHONE = re.compile(r"(?<!\w)(?:\+?\d{1,3}[\s.-]?)?(?:\(\d{2,4}\)[\s.-]?|\d{2,4}[\s.-])\d{3,4}[\s.-]?\d{3,4}(?!\w)"
                   r"|(?<![\w+])\+\d{10,14}(?!\w)")
# Candidates only: ipaddress decides, so "std::vector" or a version "1.2.3.4.5" is left alone.
IP_CANDIDATE = re.compile(r"(?<![\w.])\d{1,3}(?:\.\d{1,3}){3}(?!\w|\.\d)"
                          r"|(?<![\w.:])[0-9A-Fa-f]{0,4}(?::[0-9A-Fa-f]{0,4}){2,7}(?![\w:]|\.\w)")

PLACEHOLDERS = {"email": "[EMAIL]", "phone": "[PHONE]", "ip": "[IP]"}
# Cheap tests that rule a pattern out for most texts before the full one scans them.
MAYBE_PHONE = re.compile(r"\d(?:[\s.()-]{0,2}\d){6}")
MAYBE_IP = re.compile(r"\d\.\d{1,3}\.|:[0-9A-Fa-f]*:")


def _ip(match: re.Match) -> str:
    text = match.group(0)
    if "::" in text and not any(c.isdigit() for c in text):  # "a::b" is code far more often than an address
        return text
    try:
        ipaddress.ip_address(text)
    except ValueError:
        return text
    return PLACEHOLDERS["ip"]


@lru_cache(maxsize=65536)  # histories repeat in every later turn of a conversation
def scrub(text: str) -> str:
    """The text with every email, IP address and phone number replaced by a placeholder."""
    if "@" in text:
        text = EMAIL.sub(PLACEHOLDERS["email"], text)
    if MAYBE_IP.search(text):  # before phones: "192.168.100.200" must not read as a phone number
        text = IP_CANDIDATE.sub(_ip, text)
    if MAYBE_PHONE.search(text):
        text = PHONE.sub(PLACEHOLDERS["phone"], text)
    return text


def scrub_value(value):
    """Scrub every string inside nested lists and dicts (message lists, rows)."""
    if isinstance(value, str):
        return scrub(value)
    if isinstance(value, list):
        return [scrub_value(v) for v in value]
    if isinstance(value, dict):
        return {k: scrub_value(v) for k, v in value.items()}
    return value


# Deciding that a text *holds* a phone number (the label stage drops such feedback) needs more
# than PHONE's shape, which also fits "1000 2000 3000": a + prefix, an area code in brackets,
# dash or dot separators, a Chinese mobile number, or the word phone/call/tel beside the digits.
_PHONE_SHAPED = re.compile(r"(?<![\w+])\+\d[\d\s.-]{7,16}\d(?!\w)"
                           r"|(?<!\w)\(\d{2,4}\)\s?\d{3,4}[\s.-]?\d{3,4}(?!\w)"
                           r"|(?<![\w.-])\d{2,4}[.-]\d{3,4}[.-]\d{3,4}(?![\w.-])"
                           r"|(?<!\d)1[3-9]\d{9}(?!\d)")
_PHONE_WORD = re.compile(r"\b(phone|call|tel|mobile|cell|whatsapp|telephone|number is)\b|电话|手机", re.I)


def phone_number(text: str) -> bool:
    if not MAYBE_PHONE.search(text):
        return False
    if _PHONE_SHAPED.search(text):
        return True
    return bool(_PHONE_WORD.search(text) and PHONE.search(text))
