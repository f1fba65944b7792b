"""Secrets no vendor rule names, found by where they stand (after `password`, in a .netrc line, a
cookie, a join command, an auth tuple, a YAML key) or by looking random after a secret's keyword.
Organised as detect-secrets, gitleaks and trufflehog organise theirs: a keyword that must be
near, a value shape or an entropy floor, and an allow-list of what people write instead of a
secret (placeholders, code, paths, booleans). Each finder yields the value's span only.
"""
import hashlib
import math
import re
from collections import Counter

from stdnum import bitcoin

from rmcurate.rules.credentials import CODE_VALUE, PLACEHOLDER, longest_word

# `password is hunter`: prose says "the password is incorrect" as often; these words are not passwords.
PROSE = set("""incorrect wrong invalid required expired empty missing weak strong correct right same different
wrong saved stored hashed encrypted encoded set reset changed updated sent shown hidden visible needed necessary
optional mandatory secret secure insecure long short too very not also still just only never always the a an
case sensitive protected ready generated random unique valid known unknown blank null none nothing something
fine good bad ok okay working accepted rejected there here what this that your my our their his her its being
please simple easy hard complex compromised leaked stolen lost forgotten forgot changed managed handled kept""".split())
PROSE_SUFFIXES = ("ed", "ing", "ly", "ive", "ble", "ful", "ous", "ent", "ant", "al", "ic", "less", "ness", "ion")

PASSWORD_IS = re.compile(r"(?i)\b(?:password|passwd|passcode|passphrase|pwd|pin)\s+(?:is|was|=|:)\s+"
                         r"[\"'“]?(?P<value>[A-Za-z]{4,32})[\"'”]?(?=[\s.,;!)]|$)")
NETRC = re.compile(r"\bmachine\s+\S+\s+login\s+\S+\s+password\s+(?P<value>\S+)")
PGPASS = re.compile(r"(?m)^[\w.-]+:(?:\d+|\*):[\w*.-]+:[\w*.@-]+:(?P<value>[^\s:]{4,})$")
AUTH_TUPLE = re.compile(r"\b(?:auth|HTTPBasicAuth|HTTPDigestAuth|BasicAuth|basic_auth|DigestAuth|credentials)\s*[=(]\s*"
                        r"\(?\s*[\"'][^\"'\n]+[\"']\s*,\s*[\"'](?P<value>[^\"'\n]{3,})[\"']")
JOIN = re.compile(r"--token[= ](?P<value>[a-z0-9]{6}\.[a-z0-9]{16})\b|(?P<swarm>SWMTKN-1-[a-z0-9]{40,}-[a-z0-9]{20,})"
                  r"|(?P<k3s>K10[0-9a-f]{40,}::[\w.-]+:[\w.-]+)|--certificate-key[= ](?P<cert>[0-9a-f]{64})\b")
COOKIE = re.compile(r"(?i)(?:\b(?:set-)?cookie\b[\"']?\s*[:=]\s*[\"']?|\bdocument\.cookie\s*=\s*[\"']|(?<!\w)(?:-b|--cookie)\s+[\"'])"
                    r"(?P<pairs>[^\n\"']+)")
COOKIE_PAIR = re.compile(r"(?P<name>[\w.-]+)=(?P<value>[^;,\s]+)")
COOKIE_ATTRIBUTES = {"path", "domain", "expires", "max-age", "samesite", "secure", "httponly", "priority", "version"}
SHELL = re.compile(r"\b(?:sqlcmd|bcp|osql)\b[^\n]*?\s-P\s*(?P<sql>[^\s\"']+|\"[^\"]+\"|'[^']+')"
                   r"|\b(?:mongo|mongosh|mongodump|mongorestore|mongoexport|mongoimport)\b[^\n]*?\s(?:-p|--password)[= ]\s*"
                   r"(?P<mongo>[^\s\"'-][^\s\"']*|\"[^\"]+\"|'[^']+')"
                   r"|\b(?:clickhouse-client|influx|cqlsh|vertica|vsql)\b[^\n]*?\s(?:--password|-p|-w)[= ]\s*"
                   r"(?P<other>[^\s\"'-][^\s\"']*)")
CONFIG_KEY = re.compile(r"(?m)^[ \t-]*[\"']?(?P<key>[\w.-]*?(?:password|passwd|pwd|secret|token|api_?key|apikey|access_?key"
                        r"|private_?key|client_?secret|auth_?token|credentials?|pass))[\"']?[ \t]*[:=][ \t]*"
                        r"(?P<q>[\"']?)(?P<value>[^\s\"'#,;]{4,})(?P=q)[ \t]*(?:[#;].*)?$", re.I)
CONFIG_GATE = re.compile(r"(?:pass\w*|pwd|secret|token|key|credentials?)[\"']?[ \t]*[:=]")
SEED = re.compile(r"(?i)\b(?:seed\s+phrase|recovery\s+phrase|mnemonic(?:\s+phrase)?|backup\s+phrase|seed\s+words"
                  r"|wallet\s+words|secret\s+phrase|seed)\b[^\n\w]{0,20}(?:is|are|was|:)?[^\n\w]{0,5}"
                  r"(?P<value>(?:[a-z]{3,8}[ ,]+){11,23}[a-z]{3,8})\b")
HEX_KEY = re.compile(r"(?i)\b(?:private\s*key|priv\s*key|privkey|secret\s*key|signing\s*key|wallet\s*key)\b[^\n]{0,24}?"
                     r"(?P<value>\b(?:0x)?[0-9a-f]{64})\b")
WIF = re.compile(r"(?<![\w])(?:[5][HJK][1-9A-HJ-NP-Za-km-z]{49}|[KL][1-9A-HJ-NP-Za-km-z]{51}"
                 r"|[xyzt]prv[1-9A-HJ-NP-Za-km-z]{100,112})(?!\w)")
# Entropy: a random-looking value within the same line after a strong keyword.
ENTROPY_KEY = re.compile(r"(?i)(?:secret|token|passw(?:or)?d|api[\s_-]?key|access[\s_-]?key|private[\s_-]?key|auth"
                         r"|credential|bearer|signing[\s_-]?key|license[\s_-]?key|client[\s_-]?id)")
# The same keywords on the lower-cased text, without re.I's cost (lower() keeps every index where it
# keeps the length; find_contextual falls back to the case-blind pattern where it does not).
ENTROPY_KEY_LOWER = re.compile(ENTROPY_KEY.pattern.removeprefix("(?i)"))
ENTROPY_WORDS = ("secret", "token", "passw", "key", "auth", "credential", "bearer", "client")
VALUE_AFTER = re.compile(r"(?:[\"']?\s*(?:[:=]|=>|:=)?\s*[\"'`]?|\s+(?:is|was)\s+[\"']?)"
                         r"(?P<value>[A-Za-z0-9+/_.~-]{20,200}={0,2})(?![\w+/=])")
NOT_SECRET_KEY = re.compile(r"(?i)(?:hash|sha\d*|checksum|digest|commit|etag|uuid|guid|_id|name|url|path|file|type"
                            r"|length|count|max|min|limit|size|version|expires?|ttl|s)$")
KEY_WORD = re.compile(r"[\w.-]*")
KEY_END = re.compile(ENTROPY_KEY.pattern + r"$")  # the key ends in its secret word (`tokens`, `tokenizer`: no)


def entropy(s: str) -> float:
    n = len(s)
    return -sum(c / n * math.log2(c / n) for c in Counter(s).values())


def allowed(value: str) -> bool:
    """What people write where a secret would go, or code that is not a literal."""
    bare = value.strip("\"'")
    return bool(PLACEHOLDER.search(bare) or CODE_VALUE.search(bare) or re.match(r"(?i)my[_-]|.*_here$|<.*>$", bare)
                or re.fullmatch(r"[A-Za-z_]\w*(?:\.[A-Za-z_]\w*)+(?:\(.*)?", bare)  # Class.method, module.attr
                or bare.startswith(("/", "~/", "./", "http://", "https://", "$", "%", "{{")) or bare.isdigit() and len(bare) < 4)


def looks_random(value: str) -> bool:
    """High entropy and mixed: base64-ish 20+ characters, not a hex digest, a word or a path."""
    classes = sum(bool(re.search(p, value)) for p in (r"[a-z]", r"[A-Z]", r"\d"))
    if re.fullmatch(r"[0-9a-f]+|[0-9A-F]+", value) or re.fullmatch(r"[\w-]+\.(?:py|js|ts|json|txt|md|html)", value):
        return False  # hashes and commit ids in code are everywhere; a hex secret needs a keyword rule
    return classes >= 3 and entropy(value) >= 4.0 or classes >= 2 and entropy(value) >= 4.5


def _wif_valid(value: str) -> bool:
    try:
        raw = bitcoin.b58decode(value)
    except (KeyError, ValueError):
        return False
    return hashlib.sha256(hashlib.sha256(raw[:-4]).digest()).digest()[:4] == raw[-4:]


def find_contextual(text: str, lower: str):
    if "pass" in lower or "pwd" in lower or "pin " in lower:
        for m in PASSWORD_IS.finditer(text):
            value = m.group("value")
            if value.lower() not in PROSE and not value.lower().endswith(PROSE_SUFFIXES) and not allowed(value):
                yield m.span("value")
    if "machine" in lower:
        for m in NETRC.finditer(text):
            yield m.span("value")
    if text.count(":") >= 4:
        for m in PGPASS.finditer(text):
            if not allowed(m.group("value")):
                yield m.span("value")
    if "auth" in lower or "credentials" in lower:
        for m in AUTH_TUPLE.finditer(text):
            if not allowed(m.group("value")):
                yield m.span("value")
    if "--token" in lower or "swmtkn" in lower or "k10" in lower or "--certificate-key" in lower:
        for m in JOIN.finditer(text):
            group = next(g for g in ("value", "swarm", "k3s", "cert") if m.group(g))
            yield m.span(group)
    if "cookie" in lower or "-b " in text:
        for m in COOKIE.finditer(text):
            for p in COOKIE_PAIR.finditer(m.group("pairs")):
                if p.group("name").lower() not in COOKIE_ATTRIBUTES and len(p.group("value")) >= 8 \
                        and not allowed(p.group("value")):
                    yield m.start("pairs") + p.start("value"), m.start("pairs") + p.end("value")
    if any(w in lower for w in ("sqlcmd", "bcp", "osql", "mongo", "clickhouse", "influx", "cqlsh", "vsql")):
        for m in SHELL.finditer(text):
            group = next(g for g in ("sql", "mongo", "other") if m.group(g))
            if not allowed(m.group(group)):
                yield m.span(group)
    if any(w in lower for w in ("pass", "pwd", "secret", "token", "key", "credential")) and CONFIG_GATE.search(lower):
        for m in CONFIG_KEY.finditer(text):
            if not allowed(m.group("value")) and m.group("value").lower() not in PROSE:
                yield m.span("value")
    if "seed" in lower or "phrase" in lower or "mnemonic" in lower or "words" in lower:
        for m in SEED.finditer(text):
            yield m.span("value")
    if "key" in lower:
        for m in HEX_KEY.finditer(text):
            yield m.span("value")
    if longest_word(text) >= 51:
        for m in WIF.finditer(text):
            if _wif_valid(m.group(0)):
                yield m.span()
    keys = () if not any(w in lower for w in ENTROPY_WORDS) else \
        ENTROPY_KEY_LOWER.finditer(lower) if len(lower) == len(text) else ENTROPY_KEY.finditer(text)
    for k in keys:
        key = text[k.start():k.end()] + KEY_WORD.match(text, k.end()).group(0)  # `token_type`, `api_key_id`, `tokenizer`: no
        if NOT_SECRET_KEY.search(key) or not KEY_END.search(key):
            continue
        v = VALUE_AFTER.match(text, k.start() + len(key))
        if v and looks_random(v.group("value")) and not allowed(v.group("value")):
            yield v.span("value")
