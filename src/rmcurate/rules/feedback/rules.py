"""Deterministic checks on a turn. Each returns a drop reason, or None to keep.

The reasons are stored with every dropped item, so they read as sentences.
"""
import re

from rmcurate.rules import pii as personal

# Feedback about things the assistant could not have shown in text: the reply is not what is judged.
TOPICS = {
    "image generation": re.compile(r"\b(draw|generate|create|make)\b.{0,30}\b(image|picture|photo|drawing|logo)s?\b"
                                   r"|\b(image|picture|photo)s?\b.{0,20}\b(generat|render)", re.I),
    "web search or URL": re.compile(r"https?://|www\.|\b(search|browse|google)\b.{0,20}\b(web|internet|online)\b"
                                    r"|\b(web|internet|online) search\b", re.I),
    "the model's identity": re.compile(r"\b(who|what) (are|r) (you|u)\b|\bwhat (model|version|gpt)\b"
                                       r"|\bare you (gpt|chatgpt|an? ai|human|a bot)\b|\byour (name|creator)\b", re.I),
    # Talk about a file the user sent, not about files in general: "the csv output is wrong" or
    # "fix the file path" judge the reply and stay.
    "files or screenshots": re.compile(r"\b(attach(ed|ment)|upload(ed|ing)?|screenshots?|screen shots?)\b"
                                       r"|\b(see|open|read|check|look at|review|summari[sz]e) (the|this|my|that) "
                                       r"(file|pdf|document|docx?|image|picture|photo|spreadsheet)\b"
                                       r"|\b(the|this|my) (file|pdf|document|image|picture|photo) (i|that i) "
                                       r"(sent|shared|gave you|posted)\b", re.I),
}


def topic(feedback: str) -> str | None:
    for name, pattern in TOPICS.items():
        if pattern.search(feedback):
            return f"feedback about {name}"
    return None


PII_NAMES = {"email": "an email address", "phone": "a phone number", "card": "a card number", "iban": "an IBAN",
             "ssn": "a social security number", "secret": "a credential", "mac": "a MAC address",
             "ip": "an IP address", "wallet": "a bitcoin address", "passport": "a passport number",
             "dob": "a date of birth", "address": "a street address", "name": "a person's name",
             "national_id": "a national identity number", "bank": "a bank account number",
             "mrn": "a medical record number"}


def pii(feedback: str) -> str | None:
    kind = personal.first_kind(feedback)
    return f"feedback contains {PII_NAMES[kind]}" if kind else None


# A CJK character is a word of its own (Chinese and Japanese put no spaces between words);
# any other run of non-space characters is one word, as WildReward's whitespace split counts.
_CJK = "\u3040-\u30ff\u3400-\u4dbf\u4e00-\u9fff\uac00-\ud7af\uf900-\ufaff"
WORD = re.compile(f"[{_CJK}]|[^\\s{_CJK}]+")
WORD_SQL = WORD.pattern  # the same pattern for DuckDB (RE2), which counts history words


def words(text: str | None) -> int:
    return len(WORD.findall(text)) if text else 0


def short_conversation(n_messages: int, minimum: int = 4) -> str | None:
    return f"conversation under {minimum} messages" if n_messages < minimum else None


def long_history(n_history: int, limit: int = 20) -> str | None:
    return f"history over {limit} messages" if n_history > limit else None


def short_reply(response: str, min_words: int = 10) -> str | None:
    return f"reply under {min_words} words" if words(response) < min_words else None


def short_feedback(feedback: str, min_words: int = 5) -> str | None:
    return f"feedback under {min_words} words" if words(feedback) < min_words else None


def over_budget(history_words: int, response: str, max_words: int = 4096) -> str | None:
    """Too long to train on: history plus reply over the budget (words, as WildReward counts)."""
    return f"history plus reply over {max_words} words" if history_words + words(response) > max_words else None
