"""Personal data and credentials in free text: find them, scrub them.

One detector serves both uses: exports replace every finding with a placeholder, and the
label stage drops feedback that holds one (`first_kind`).

Each kind is a cheap gate (a regex most texts fail at once) and a finder that returns spans.
Where a kept library can decide, it does: `phonenumbers` (Google's libphonenumber, which
presidio's phone recognizer wraps) validates phone numbers, including Chinese ones, and
`stdnum` checks card numbers (Luhn) and IBANs (mod 97). detect-secrets was measured on
credentials pasted into chat text and missed `sk-` and `sk-proj-` keys, `password: hunter2`
and AWS secrets, and cut GitHub tokens and JWTs short, so credentials use the vendors'
documented token shapes below instead.
"""
import hashlib
import hmac
import ipaddress
import re
from functools import lru_cache

import phonenumbers
from stdnum import iban, luhn

PLACEHOLDERS = {"secret": "[SECRET]", "email": "[EMAIL]", "card": "[CARD]", "iban": "[IBAN]", "ssn": "[SSN]",
                "ip": "[IP]", "phone": "[PHONE]"}

EMAIL = re.compile(r"[\w.+-]+@[\w-]+\.[\w.-]*\w")

# --- credentials: vendor token shapes, and a value after a credential word ---------------------
SECRET_TOKEN = re.compile(
    r"(?<![\w-])(?:"
    r"sk-(?:proj-|svcacct-|admin-|ant-)?[A-Za-z0-9_-]{20,}"   # OpenAI, Anthropic
    r"|(?:AKIA|ASIA|ABIA|ACCA)[A-Z0-9]{16}"                   # AWS access key id
    r"|gh[pousr]_[A-Za-z0-9]{30,}|github_pat_[A-Za-z0-9_]{22,}"  # GitHub
    r"|glpat-[A-Za-z0-9_-]{20,}"                              # GitLab
    r"|xox[abposr]-[A-Za-z0-9-]{10,}"                         # Slack
    r"|(?:sk|rk|pk)_(?:live|test)_[A-Za-z0-9]{16,}"           # Stripe
    r"|AIza[0-9A-Za-z_-]{35}"                                 # Google API key
    r"|eyJ[A-Za-z0-9_-]{8,}\.eyJ[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]*"  # JWT
    r")")
PRIVATE_KEY = re.compile(r"-----BEGIN [A-Z ]*PRIVATE KEY-----[\s\S]*?(?:-----END [A-Z ]*PRIVATE KEY-----|\Z)")
# An AWS secret access key: 40 base64 characters, mixed case (a git hash is lowercase hex).
AWS_SECRET = re.compile(r"(?<![A-Za-z0-9/+])(?=[A-Za-z0-9/+]*[a-z])(?=[A-Za-z0-9/+]*[A-Z])[A-Za-z0-9/+]{40}"
                        r"(?![A-Za-z0-9/+=])")
AWS_CONTEXT = re.compile(r"AKIA|ASIA|aws|secret", re.I)
# "password: hunter2", "api_key = 'abc123'", "my password is hunter2": only the value is replaced.
CREDENTIAL = re.compile(
    r"\b(?:password|passwd|pwd|passphrase|secret|api[_ -]?key|access[_ -]?key|auth[_ -]?token|token)"
    r"(?:\s*[:=]\s*|\s+is\s+)(?P<q>[\"']?)(?P<value>[^\s\"',;]{4,})(?P=q)", re.I)


def _credential_value(m: re.Match) -> bool:
    """A value, not code: quoted, or holding a digit or a symbol (`password = user_input` stays)."""
    value = m.group("value")
    return bool(m.group("q")) or bool(re.search(r"[\d!@#$%^&*+/?~]", value)) and "(" not in value


def _secrets(text: str):
    for m in SECRET_TOKEN.finditer(text):
        yield m.span()
    for m in PRIVATE_KEY.finditer(text):
        yield m.span()
    if AWS_CONTEXT.search(text):
        for m in AWS_SECRET.finditer(text):
            yield m.span()
    for m in CREDENTIAL.finditer(text):
        if _credential_value(m):
            yield m.span("value")


# --- numbers with a checksum: cards (Luhn), IBANs (mod 97), US SSNs -----------------------------
CARD = re.compile(r"(?<![\d-])\d(?:[ -]?\d){12,18}(?![\d-])")
CARD_PREFIX = re.compile(r"4|5[1-5]|2[2-7]|3[47]|3[068]|35|6011|65|62")  # Visa, Mastercard, Amex, Diners, JCB, ...
IBAN = re.compile(r"\b[A-Z]{2}\d{2}(?: ?[A-Z0-9]){11,30}\b")
SSN = re.compile(r"(?<![\d-])(?!000|666|9\d\d)\d{3}-(?!00)\d{2}-(?!0000)\d{4}(?![\d-])")


def _cards(text: str):
    for m in CARD.finditer(text):
        digits = re.sub(r"\D", "", m.group(0))
        if CARD_PREFIX.match(digits) and luhn.is_valid(digits):
            yield m.span()


def _ibans(text: str):
    for m in IBAN.finditer(text):
        if iban.is_valid(m.group(0)):
            yield m.span()


# --- IP addresses: candidates, then `ipaddress` decides ("std::vector", "1.2.3.4.5" stay) -------
IP_CANDIDATE = re.compile(r"(?<![\w.])\d{1,3}(?:\.\d{1,3}){3}(?!\w|\.\d)"
                          r"|(?<![\w.:])[0-9A-Fa-f]{0,4}(?::[0-9A-Fa-f]{0,4}){2,7}(?![\w:]|\.\w)")


def _ips(text: str):
    for m in IP_CANDIDATE.finditer(text):
        s = m.group(0)
        if "::" in s and not any(c.isdigit() for c in s):  # "a::b" is code far more often than an address
            continue
        try:
            ipaddress.ip_address(s)
        except ValueError:
            continue
        yield m.span()


# --- phone numbers: a shape, then libphonenumber decides ----------------------------------------
# International (+...), a Chinese mobile (1[3-9] and 9 digits, separated 3-4-4 or not), or a
# national number in groups (area code in brackets, or 2-4 / 3-4 / 3-4 digits with separators).
PHONE_INTL = re.compile(r"(?<![\w+])\+\d[\d\s().-]{6,18}\d(?!\w)")
PHONE_CN_MOBILE = re.compile(r"(?<![\d+])1[3-9]\d(?:[\s-]?\d{4}){2}(?![\d-])")
PHONE_GROUPED = re.compile(r"(?<![\w.-])(?:\(\d{2,4}\)\s?|\d{2,4}[\s.-])\d{3,4}[\s.-]?\d{3,4}(?![\w-]|\.\d)")
PHONE_REGIONS = ("US", "GB", "CN", "IN", "DE", "FR", "CA", "AU", "JP", "BR")


def _valid_phone(s: str, regions) -> bool:
    for region in regions:
        try:
            if phonenumbers.is_valid_number(phonenumbers.parse(s, region)):
                return True
        except phonenumbers.NumberParseException:
            continue
    return False


def _phones(text: str):
    for m in PHONE_INTL.finditer(text):
        if _valid_phone(m.group(0), (None,)):
            yield m.span()
    for m in PHONE_CN_MOBILE.finditer(text):
        if _valid_phone(m.group(0), ("CN",)):
            yield m.span()
    for m in PHONE_GROUPED.finditer(text):
        if _valid_phone(m.group(0), PHONE_REGIONS):
            yield m.span()


# The gates are cheap tests run on every text; a finder runs only where its gate passes. Card,
# IBAN, SSN and phone numbers all hold a run of 7 digits, so one scan for such a run gates all four.
SECRET_PREFIXES = ("sk-", "AKIA", "ASIA", "ABIA", "ACCA", "gh", "github_pat_", "glpat-", "xox", "_live_", "_test_",
                   "AIza", "eyJ", "PRIVATE KEY")
SECRET_WORDS = ("passw", "pwd", "secret", "key", "token")
DIGIT_RUN = re.compile(r"\d(?:[\s.()-]{0,2}\d){6}")
IPV4_GATE = re.compile(r"\d\.\d{1,3}\.")
IPV6_GATE = re.compile(r":[0-9A-Fa-f]*:")


def _maybe_secret(text: str) -> bool:
    if any(p in text for p in SECRET_PREFIXES):
        return True
    lower = text.lower()
    return any(w in lower for w in SECRET_WORDS)


def _maybe_ip(text: str) -> bool:
    return bool(IPV4_GATE.search(text)) or text.count(":") >= 2 and bool(IPV6_GATE.search(text))


# Order matters where spans overlap: a card number must not read as a phone number, nor an IP
# address; the earlier kind wins. (kind, needs a digit run, gate, finder)
DETECTORS = (
    ("secret", False, _maybe_secret, _secrets),
    ("email", False, lambda text: "@" in text, lambda text: (m.span() for m in EMAIL.finditer(text))),
    ("card", True, lambda text: True, _cards),
    ("iban", True, lambda text: True, _ibans),
    ("ssn", True, lambda text: "-" in text, lambda text: (m.span() for m in SSN.finditer(text))),
    ("ip", False, _maybe_ip, _ips),
    ("phone", True, lambda text: True, _phones),
)
KINDS = tuple(kind for kind, *_ in DETECTORS)


def find(text: str) -> list[tuple[int, int, str]]:
    """Non-overlapping (start, end, kind) findings, in text order."""
    digits = DIGIT_RUN.search(text) is not None
    taken: list[tuple[int, int, str]] = []
    for kind, needs_digits, gate, finder in DETECTORS:
        if (needs_digits and not digits) or not gate(text):
            continue
        for start, end in finder(text):
            if all(end <= s or start >= e for s, e, _ in taken):
                taken.append((start, end, kind))
    return sorted(taken)


@lru_cache(maxsize=65536)  # histories repeat in every later turn of a conversation
def scrub(text: str) -> str:
    """The text with every finding replaced by its kind's placeholder."""
    found = find(text)
    if not found:
        return text
    out, last = [], 0
    for start, end, kind in found:
        out += [text[last:start], PLACEHOLDERS[kind]]
        last = end
    out.append(text[last:])
    return "".join(out)


def scrub_value(value):
    """Scrub every string inside nested lists and dicts (message lists, rows)."""
    if isinstance(value, str):
        return scrub(value)
    if isinstance(value, list):
        return [scrub_value(v) for v in value]
    if isinstance(value, dict):
        return {k: scrub_value(v) for k, v in value.items()}
    return value


def first_kind(text: str, ignore: tuple[str, ...] = ("ip",)) -> str | None:
    """The first kind of personal data or credential in the text, or None (the label-stage filter)."""
    return next((kind for _, _, kind in find(text) if kind not in ignore), None)


def pseudonym(user_id: str | None, salt: bytes) -> str | None:
    """A stable stand-in for a user id: the same user is the same pseudonym within one warehouse
    (so per-user statistics still work), and cannot be looked up without that warehouse's salt."""
    if user_id is None:
        return None
    return "user-" + hmac.new(salt, user_id.encode("utf-8", "surrogatepass"), hashlib.sha256).hexdigest()[:20]
