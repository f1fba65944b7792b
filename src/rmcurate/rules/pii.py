"""Personal data and credentials in free text: find them, scrub them.

One detector serves both uses: exports replace every finding with a placeholder, and the
label stage drops feedback that holds one (`first_kind`).

Each kind is a cheap gate (a test most texts fail at once) and a finder that returns spans.
Credentials live in rules/credentials.py, identifiers that need a cue (names, birth dates,
addresses, passports, MAC and bitcoin addresses) in rules/identifiers.py. Where a kept
library can decide, it does: `phonenumbers` (Google's libphonenumber, which presidio's phone
recognizer wraps) validates phone numbers, including Chinese ones, and `stdnum` checks card
numbers (Luhn), IBANs (mod 97) and bitcoin addresses (base58check, bech32).
"""
import hashlib
import hmac
import ipaddress
import re
from functools import lru_cache

import phonenumbers
from stdnum import iban, luhn

from rmcurate.rules import identifiers as ids
from rmcurate.rules import national_ids as national
from rmcurate.rules.credentials import find_credentials
from rmcurate.rules.secret_context import find_contextual

PLACEHOLDERS = {"secret": "[SECRET]", "email": "[EMAIL]", "card": "[CARD]", "iban": "[IBAN]", "ssn": "[SSN]",
                "mac": "[MAC]", "ip": "[IP]", "phone": "[PHONE]", "wallet": "[WALLET]", "passport": "[PASSPORT]",
                "dob": "[DATE_OF_BIRTH]", "address": "[ADDRESS]", "name": "[NAME]", "national_id": "[ID_NUMBER]",
                "bank": "[BANK_ACCOUNT]", "mrn": "[MEDICAL_RECORD]"}

# The last label has a letter: `git@3.12.1` and `chart.js@2.9.3` are versions.
EMAIL = re.compile(r"[\w.+-]+@[\w-]+(?:\.[\w-]+)*\.(?=[\w-]*[A-Za-z])[\w-]*\w")
# Written to dodge scrapers: jane.doe [at] example [dot] com, jane (at) example.com, jane AT example DOT com.
AT = r"(?:\s*[\[({<]\s*at\s*[\])}>]\s*|\s+(?:at|AT)\s+|\s*@\s+|\s+@\s*)"
DOT = r"(?:\s*[\[({<]\s*dot\s*[\])}>]\s*|\s+(?:dot|DOT)\s+|\.)"
TLD = r"(?:com|org|net|edu|gov|io|co|uk|de|fr|es|it|nl|ru|cn|jp|in|br|au|ca|ch|se|info|biz|me|ai|dev|app)"
MAIL_PROVIDERS = r"(?:gmail|googlemail|yahoo|hotmail|outlook|live|proton(?:mail)?|icloud|aol|gmx|yandex|qq|163|126|mail|web)\b"
EMAIL_OBFUSCATED = re.compile(rf"(?<![\w.+-])[\w+-]+(?:{DOT}[\w+-]+)*{AT}[\w-]+(?:{DOT}[\w-]+)*{DOT}{TLD}\b")


def _emails(text: str):
    if "@" in text:
        yield from (m.span() for m in EMAIL.finditer(text))
    if not _dressed(text.lower()):
        return
    spans = set()
    for a in AT_FIND.finditer(text):  # the pattern runs only around each "at", not from every word
        lo = max(0, a.start() - 80)
        spans |= {(lo + m.start(), lo + m.end(), m.group(0)) for m in EMAIL_OBFUSCATED.finditer(text[lo:a.end() + 120])}
    for start, end, found in sorted(spans):
        if "@" in found and " " not in found:
            continue  # a plain address: EMAIL's
        # "look at this dot com" is prose: the spelled-out form needs brackets, a user-name-like local
        # part or a mail provider's domain
        local, domain = re.split(AT, found, maxsplit=1)
        if re.search(r"[\[({<]\s*at", found) or "@" in found or re.search(r"[._\d-]|\sdot\s", local, re.I) \
                or re.match(MAIL_PROVIDERS, domain, re.I):
            yield start, end


def _maybe_email(text: str, lower: str) -> bool:
    return "@" in text or _dressed(lower)


def _dressed(lower: str) -> bool:
    """The marks of an address written to dodge scrapers: a spelled "dot", a bracketed "at", or " at "
    before a mail provider's name."""
    return (" dot " in lower or "dot]" in lower or "dot)" in lower or "dot}" in lower or "dot>" in lower
            or "at]" in lower or "at)" in lower or "at}" in lower or "at>" in lower
            or " at " in lower and any(p in lower for p in PROVIDER_WORDS)) and TLD_GATE.search(lower) is not None


AT_FIND = re.compile(AT)
PROVIDER_WORDS = ("gmail", "googlemail", "yahoo", "hotmail", "outlook", "live", "proton", "icloud", "aol", "gmx",
                  "yandex", "qq", "163", "126", "mail", "web")
TLD_GATE = re.compile(rf"(?:dot\s*[\])}}>]?|[\])}}>]?\s+dot|\.)\s*{TLD}\b")


# --- numbers with a checksum: cards (Luhn), IBANs (mod 97), US SSNs -----------------------------
# Grouped by spaces, dashes, dots, slashes, underscores or the Unicode spaces and dashes editors insert.
CARD_SEP = "[ \u00a0\u2009\u202f.\u2010-\u2014/_-]"
CARD = re.compile(rf"\d(?:{CARD_SEP}?\d){{12,18}}(?![\d-])")
CARD_PREFIX = re.compile(r"4|5[1-5]|2[2-7]|3[47]|3[068]|35|6011|65|62")  # Visa, Mastercard, Amex, Diners, JCB, ...
# Upper or lower case, grouped by spaces or not; a candidate may run into the next word, so the
# longest run of its groups that passes the checksum is the IBAN.
IBAN = re.compile(r"[A-Za-z]{2}\d{2}(?: ?[A-Za-z0-9]){11,30}\b")


def _cards(text: str):
    for m in CARD.finditer(text):
        if m.start() and text[m.start() - 1] in "0123456789-.":
            continue
        seps = set(re.sub(r"\d", "", m.group(0)))
        if len(seps) > 1 or seps and seps <= {".", "/", "_"} and not re.fullmatch(r"\d{4}(?:[./_]\d{4}){3}", m.group(0)):
            continue  # mixed separators are a figure row; dots, slashes and underscores only in 4-4-4-4 groups
        digits = re.sub(r"\D", "", m.group(0))
        if CARD_PREFIX.match(digits) and luhn.is_valid(digits):
            yield m.span()


def _ibans(text: str):
    for m in IBAN.finditer(text):
        if m.start() and (text[m.start() - 1].isalnum() or text[m.start() - 1] == "_"):
            continue
        candidate = m.group(0)
        while len(candidate.replace(" ", "")) >= 15:
            if iban.is_valid(candidate.upper()):
                yield m.start(), m.start() + len(candidate)
                break
            candidate = candidate[:-1].rstrip()


# --- IP addresses: candidates, then `ipaddress` decides ("std::vector", "1.2.3.4.5" stay) -------
IP_CANDIDATE = re.compile(r"(?<![\w.])\d{1,3}(?:\.\d{1,3}){3}(?!\w|\.\d)"
                          r"|(?<![\w.:])[0-9A-Fa-f]{0,4}(?::[0-9A-Fa-f]{0,4}){2,7}(?![\w:]|\.\w)")


# "version 1.2.3.4", "Release: 10.0.0.1": four dotted numbers after a version word are a version.
VERSION_CUE = re.compile(r"\b(?:version|ver\.?|release|build|firmware|v)\s*[:=]?\s*$", re.IGNORECASE)


def _ips(text: str):
    for m in IP_CANDIDATE.finditer(text):
        s = m.group(0)
        if "::" in s and not any(c.isdigit() for c in s):  # "a::b" is code far more often than an address
            continue
        if ":" in s and sum(1 for g in s.split(":") if g) < 3:  # `arr[1::2]`, `x[::2]`: slices
            continue
        if "." in s and VERSION_CUE.search(text, max(0, m.start() - 12), m.start()):
            continue
        try:
            address = ipaddress.ip_address(s)
        except ValueError:
            continue
        # Only an address on the internet can point at a person: loopback (127.0.0.1, ::1), private
        # (10/8, 192.168/16), any-address (0.0.0.0), link-local, documentation (192.0.2/24,
        # 2001:db8::/32) and the rest of the reserved space are code and examples. `arr[1::2]` too.
        if address.is_global and not address.is_multicast:
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


# After a cue ("call me on", "tel:", "Handy", "电话"), a national number in any grouping, valid in a
# region libphonenumber knows; without one, only shapes few other numbers take.
PHONE_CUE = re.compile(r"(?i)\b(?:phone|tel|telephone|mobile|cell|cellphone|fax|whatsapp|call\s+me(?:\s+(?:on|at))?"
                       r"|text\s+me(?:\s+(?:on|at))?|reach\s+me\s+(?:on|at)|my\s+number|handy|telefon|téléphone|portable"
                       r"|teléfono|móvil|celular|telefone|telefono|cellulare)\b|电话|手机|電話")
PHONE_AFTER_CUE = re.compile(r"[^\d\n+(]{0,16}(?P<value>\+?\(?\d[\d\s().-]{5,17}\d)(?![\d-])")
PHONE_WIDE = PHONE_REGIONS + ("IT", "ES", "NL", "BE", "CH", "AT", "SE", "NO", "DK", "FI", "PL", "PT", "IE", "MX", "AR",
                              "CO", "CL", "ZA", "NG", "KE", "EG", "TR", "RU", "UA", "KR", "SG", "MY", "ID", "PH", "TH",
                              "VN", "PK", "BD", "NZ", "IL", "SA", "AE")
# Without a cue: (555) 123-4567 or 555-123-4567 (US), or a valid number in groups of the region's own
# plan; figure rows ("100 200 300"), part numbers and years pass.
PHONE_US = re.compile(r"(?<![\w.-])(?:\(\d{3}\)\s?|\d{3}[-.])\d{3}[-.]\d{4}(?![\w-]|\.\d)")


def _phones(text: str):
    for m in PHONE_INTL.finditer(text):
        if _valid_phone(m.group(0), (None,)):
            yield m.span()
    for m in PHONE_CN_MOBILE.finditer(text):
        if _valid_phone(m.group(0), ("CN",)):
            yield m.span()
    for m in PHONE_US.finditer(text):
        if _valid_phone(m.group(0), ("US", "CA")):
            yield m.span()
    for cue in PHONE_CUE.finditer(text):
        m = PHONE_AFTER_CUE.match(text, cue.end())
        if m and _valid_phone(m.group("value"), PHONE_WIDE):
            yield m.span("value")


# The gates are cheap tests run on every text; a finder runs only where its gate passes.
DIGIT_RUN = re.compile(r"\d(?:[\s.()-]{0,2}\d){6}")
ANY_DIGIT = re.compile(r"\d")
IPV4_GATE = re.compile(r"\d\.\d{1,3}\.")
IPV6_GATE = re.compile(r":[0-9A-Fa-f]*:")


def _maybe_ip(text: str, lower: str) -> bool:
    return bool(IPV4_GATE.search(text)) or text.count(":") >= 2 and bool(IPV6_GATE.search(text))


def _maybe_mac(text: str, lower: str) -> bool:
    return text.count(":") >= 5 or text.count("-") >= 5 or text.count(".") >= 2


# Order matters where spans overlap: the earlier kind wins. A card number must not read as a phone
# number, a MAC address as an IPv6 one, a name or address as anything shorter inside it.
# What a kind's text must hold before its gate runs: ANY_TEXT, a digit, or a run of 7 digits (cards,
# IBANs, SSNs and phones all have one, so one scan gates all four).
ANY_TEXT, A_DIGIT, DIGITS = 0, 1, 2
# (kind, what it needs, gate(text, lower case) or None, finder)
DETECTORS = (
    ("secret", ANY_TEXT, None, find_credentials),
    ("secret", ANY_TEXT, None, find_contextual),
    ("email", ANY_TEXT, _maybe_email, _emails),
    ("card", DIGITS, None, _cards),
    ("iban", DIGITS, None, _ibans),
    ("ssn", DIGITS, None, ids.ssns),
    ("national_id", A_DIGIT, national.maybe_national, national.national_ids),
    ("bank", A_DIGIT, national.maybe_bank, national.bank_accounts),
    ("mrn", A_DIGIT, national.maybe_mrn, national.medical_record_numbers),
    ("passport", A_DIGIT, lambda text, lower: "passport" in lower, ids.passports),
    ("dob", A_DIGIT, ids.maybe_dob, ids.dates_of_birth),
    ("mac", ANY_TEXT, _maybe_mac, ids.macs),
    ("ip", A_DIGIT, _maybe_ip, _ips),
    ("wallet", ANY_TEXT, ids.maybe_bitcoin, ids.bitcoin_addresses),
    ("address", A_DIGIT, ids.maybe_address, ids.addresses),
    ("phone", DIGITS, None, _phones),
    ("name", ANY_TEXT, ids.maybe_name, ids.names),
)
KINDS = tuple(dict.fromkeys(kind for kind, *_ in DETECTORS))
WITH_LOWER = (find_credentials, find_contextual)


def find(text: str) -> list[tuple[int, int, str]]:
    """Non-overlapping (start, end, kind) findings, in text order."""
    has = DIGITS if DIGIT_RUN.search(text) else A_DIGIT if ANY_DIGIT.search(text) else ANY_TEXT
    lower = text.lower()
    taken: list[tuple[int, int, str]] = []
    for kind, needs, gate, finder in DETECTORS:
        if needs > has or (gate and not gate(text, lower)):
            continue
        # find_credentials reuses the lower case made here (most of its gates are word tests)
        for start, end in (finder(text, lower) if finder in WITH_LOWER else finder(text)):
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


STRUCTURAL_KEYS = frozenset({"role", "type", "id", "tool_call_id"})  # a message's shape, not its text


def scrub_value(value):
    """Scrub every string inside nested lists and dicts (message lists, rows), but a message's role, type
    and ids: a tool call's id must still match its result's."""
    if isinstance(value, str):
        return scrub(value)
    if isinstance(value, list):
        return [scrub_value(v) for v in value]
    if isinstance(value, dict):
        return {k: v if k in STRUCTURAL_KEYS and isinstance(v, str) else scrub_value(v) for k, v in value.items()}
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
