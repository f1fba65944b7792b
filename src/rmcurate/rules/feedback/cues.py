"""Explicit cues in a follow-up that settle its category without a judge.

Only strong, explicit evidence counts, as the five definitions ask:
- the opening words thank or praise the reply: 5 when that is all the message
  says, 4 when a real follow-up comes after it ("Thanks! Now add a button");
- the message reports an error, says the reply is wrong or not what was asked,
  or that it still does not work: 2, or 1 when it dismisses the reply
  outright ("useless", "you are wrong", "that's nonsense").
Anything else is left to the judge (or, with no trustworthy judge, counted
neutral). `judges/gold` (the dev set) measures each cue's precision on real follow-ups.
"""
import re

# Praise or thanks at the very start of the message, and not negated ("not bad but ...").
_PRAISE = re.compile(
    r"^\W*(ok(ay)?[,.!]?\s+|oh[,.!]?\s+|wow[,.!]?\s+|yes[,.!]?\s+|alright[,.!]?\s+)?"
    r"(thanks?( you)?( (so|very) much| a (lot|million|ton)| again)?|thank u|thx|ty|many thanks|cheers|"
    r"(this|that|it)('s| is| was| looks| sounds| works)( (so|really|very|absolutely))? "
    r"(great|perfect|awesome|excellent|amazing|wonderful|fantastic|helpful|brilliant|good|nice|beautiful|lovely)|"
    r"(great|perfect|awesome|excellent|amazing|wonderful|fantastic|brilliant|nice|cool|good|very good|very nice|"
    r"nice work|great work|good job|great job|well done|exactly|love it|i love (it|this|that)|"
    r"i like (it|this|that)|you('re| are) (the best|amazing|awesome|great))"
    r"|谢谢|感谢|太好了|很好|完美)"
    r"(?P<after>\b|(?<=\W)|$)", re.I)
# What is left after the praise when the message says nothing more: names, emoji, "for your help".
_ONLY_THANKS = re.compile(r"^[\W_]*((for|so much|very much|again|for (all )?(your|the) help|a lot|buddy|man|mate|"
                          r"bro|friend|[a-z]+|you|!|\s)\W*){0,4}$", re.I)
_NEGATED = re.compile(r"^\W*(not|no)\b", re.I)

# Reports of failure or error, looked for near the start of the message.
_ERROR = re.compile(
    r"\b(error|exception|traceback|stack ?trace|undefined is not|is not defined|not found|cannot find|can'?t find|"
    r"doesn'?t (work|compile|run)|does not (work|compile|run)|didn'?t work|did not work|not working|isn'?t working|"
    r"still (not|no|getting|doesn'?t|the same|broken)|no (change|output|email is sent)|nothing (happens|changed)|"
    r"compile error|syntax ?error|type ?error|failed|failure)\b|报错|错误|不行", re.I)
_WRONG = re.compile(
    r"\b(that'?s|this is|it'?s|you'?re|you are|is|are|was) (wrong|incorrect|not (right|correct|true|what i))|"
    r"\b(wrong|incorrect|not correct|not true|not right|not what i (asked|wanted|meant|need))\b|"
    r"\byou (made a mistake|forgot|missed|didn'?t (include|finish|add|answer|do|follow|read|use))|"
    r"^\W*(no|nope)\b[,.!]|^\W*(but )?i (meant|said|asked)\b|\bthere is no such\b|\bis not true\b|不对|错了", re.I)
_DISMISS = re.compile(
    r"\b(useless|nonsense|rubbish|garbage|terrible|awful|stupid|pointless|you are wrong|you'?re wrong|"
    r"(is|are|were) bad\b|not helpful|unhelpful|waste of time|forget it|never ?mind|you('re| are) (constantly|"
    r"always|still) )", re.I)

CUE_CHARS = 300  # how much of the message the negative cues read: a pasted log further down is not a verdict


def praise(feedback: str) -> tuple[int, str] | None:
    m = _PRAISE.match(feedback)
    if not m or _NEGATED.match(feedback):
        return None
    rest = feedback[m.end():]
    if _ONLY_THANKS.match(rest):
        return 5, "thanks or praise only"
    if _ERROR.search(rest[:CUE_CHARS]) or _WRONG.search(rest[:CUE_CHARS]) or re.match(r"\W*(but|however)\b", rest,
                                                                                      re.I):
        return None  # "Great, but it still fails": mixed, for the judge
    return 4, "thanks or praise, then a follow-up"


def complaint(feedback: str) -> tuple[int, str] | None:
    head = feedback[:CUE_CHARS]
    if _DISMISS.search(head):
        return 1, "dismisses the reply"
    if _WRONG.search(head):
        return 2, "says the reply is wrong or missed the request"
    if _ERROR.search(head):
        return 2, "reports an error or failure"
    return None


def cue(feedback: str | None) -> tuple[int, str] | None:
    """(category 1-5, the cue's name) when the follow-up is explicit on its face; else None."""
    text = (feedback or "").strip()
    if not text:
        return None
    return praise(text) or complaint(text)
