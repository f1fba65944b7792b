"""Follow-ups that are neutral on their face, settled without a judge call.

Only the unambiguous: a bare request to go on ("continue", "next", "go on",
"继续"), or a message that is nothing but a pasted block of code or data.
Anything with a word of judgement in it goes to the judge.
"""
import re

_GO_ON = re.compile(r"^\s*(please\s+)?(continue|cont|go on|keep going|next|more|proceed|carry on|and\??|"
                    r"continue (please|writing|from where you (left off|stopped))|继续|继续写|接着写|下一个)"
                    r"\s*[.!。！…]*\s*$", re.I)
_JUDGEMENT = re.compile(r"\b(thanks?|thank you|great|good|perfect|wrong|no\b|not|bad|error|incorrect|doesn'?t|"
                        r"didn'?t|awesome|nice|love|hate|useless)\b|谢谢|不对|错", re.I)


def obviously_neutral(feedback: str) -> str | None:
    """Why the follow-up is neutral without asking (a short rule name), or None."""
    if _GO_ON.match(feedback):
        return "asks to continue"
    text = feedback.strip()
    if text.startswith("```") and text.endswith("```") and not _JUDGEMENT.search(text.strip("`").split("\n", 1)[0]):
        return "pasted code only"
    return None
