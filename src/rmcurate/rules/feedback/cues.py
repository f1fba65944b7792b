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
# Praise that follows the thanks and says nothing more ("Thank you. You have been very helpful.").
_PRAISE_TAIL = re.compile(r"^(\W*(you('ve| have) been|that('s| is| was)|this (is|was)|it('s| is| was))( (so|very|really|"
                          r"super|extremely))?( a)?( (very|really))? (helpful|great|perfect|amazing|useful|awesome|"
                          r"good|excellent)( \w+)?( indeed)?)+\W*$", re.I)

# Reports of failure or error, looked for near the start of the message.
_ERROR = re.compile(
    r"\b(error|exception|traceback|stack ?trace|undefined is not|is not defined|not found|cannot find|can'?t find|"
    r"doesn'?t (work|compile|run)|does not (work|compile|run)|didn'?t work|did not work|not working|isn'?t working|"
    r"still (not|no|getting|doesn'?t|the same|broken)|no (change|output|email is sent)|nothing (happens|changed)|"
    r"compile error|syntax ?error|type ?error|failed|failure)\b|报错|错误|不行", re.I)
_WRONG = re.compile(
    r"\b(that'?s|this is|it'?s|you'?re|you are|is|are|was) (wrong|incorrect|not (right|correct|true|what i))|"
    r"^\W*(wrong|incorrect|not correct|not true|not right)\b|\bnot what i (asked|wanted|meant|need)|"
    r"\b(got|get|gave|have|had) (it|this|that|them|the \w+|\w+) (all )?wrong\b|"
    r"\bwrong (again|answer|result|output|number|link|format|code|package|name|file|date|year)\b|"
    r"\b(still|again|totally|completely|all) (wrong|incorrect)\b|"
    r"\byou (made a mistake|forgot|missed|didn'?t (include|finish|add|answer|do|follow|read|use))|"
    r"^\W*(no|nope)\b[,.!]|^\W*(but )?i (meant|said|asked)\b|\bthere is no such\b|\bis not true\b|不对|错了", re.I)
# Outright dismissal, not a pointer to what is wrong (the dev set's rule 1): contempt for the reply,
# exasperation at a repeated failure, or a bare verdict with nothing else said.
_DISMISS = re.compile(
    r"\b(useless|nonsense|rubbish|pointless|waste of (my )?time|not helpful|unhelpful|makes no sense|"
    r"doesn'?t make (any )?sense|you are wrong|you'?re wrong|you are lying|you'?re lying|making (stuff|things) up|"
    r"(wrong|incorrect) again|again,? (wrong|incorrect)|still (wrong|incorrect)|"
    r"you (keep|always) (going|giving|repeating|posting|making|saying|changing|getting|doing)|"
    r"(this|that|it|these|those|your \w+)('s| is| was| are| were)( (so|really|completely|totally|just|utterly|a))? "
    r"(total |complete )?(garbage|terrible|awful|stupid|bad|useless|rubbish)"
    # said of the reply, not of an idea or a question: the adjective ends the clause or names the reply
    r"(?=\s*([.!,;:)]|$)|\s+(and|but|again|too)\b|\s+(answer|reply|response|code|solution|output|result|job|"
    r"attempt|explanation|suggestion|list|story|summary|translation|example)s?\b)|"
    r"you('re| are) (constantly|always|still) )", re.I)
# A verdict and nothing more ("incorrect", "that's not what I asked"): no pointer to what is wrong.
_BARE_VERDICT = re.compile(
    r"^\W*(no[,.!]?\s+)?(that'?s|this is|it'?s|thats|that is)?\s*(still\s+)?(wrong|incorrect|not (right|correct|true|"
    r"the case|what i (asked|wanted|meant)( for)?))\W*$", re.I)
# A follow-up that quotes or discusses wrongness instead of judging the reply.
_NOT_A_VERDICT = re.compile(r"\b(correct me if i'?m wrong|i was wrong|what'?s wrong with (this|my|it)|right or wrong|"
                            r"go(es)? wrong|went wrong)\b", re.I)

CUE_CHARS = 300  # how much of the message the negative cues read: a pasted log further down is not a verdict


def praise(feedback: str) -> tuple[int, str] | None:
    m = _PRAISE.match(feedback)
    if not m or _NEGATED.match(feedback):
        return None
    rest = feedback[m.end():]
    if re.match(r"\W*anyway", rest, re.I):
        return None  # "thanks anyway": the reply did not help
    if _ONLY_THANKS.match(rest) or _PRAISE_TAIL.match(rest):
        return 5, "thanks or praise only"
    if _ERROR.search(rest[:CUE_CHARS]) or _WRONG.search(rest[:CUE_CHARS]) or re.match(r"\W*(but|however)\b", rest,
                                                                                      re.I):
        return None  # "Great, but it still fails": mixed, for the judge
    return 4, "thanks or praise, then a follow-up"


def complaint(feedback: str) -> tuple[int, str] | None:
    head = feedback[:CUE_CHARS]
    if _DISMISS.search(head) or _BARE_VERDICT.match(feedback):
        return 1, "dismisses the reply"
    if _NOT_A_VERDICT.search(head):
        return None
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
