"""LLM judges: the HTTP client for OpenAI-compatible servers, the cache in front of it, and the
embedded vLLM CPU server. `GOLD` is the judge dev set: labelled real follow-ups (gold/README.md)."""
from pathlib import Path

GOLD = Path(__file__).parent / "gold" / "followups.jsonl"
