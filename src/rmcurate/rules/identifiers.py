"""Personal identifiers that are not numbers with a checksum: names a user gives, dates of birth,
street addresses, passport numbers, MAC addresses, bitcoin addresses, SSNs without dashes.

Each rule needs a cue a reader would need too ("my name is", "born", "passport", a street word
after a house number), because the same shapes fill code and prose: a 9-digit number is an SSN
only after "SSN", a date is a birth date only after "born" or "DOB". Bitcoin addresses are
checked by `stdnum.bitcoin` (base58check and bech32 checksums), so a random base58 string stays.
"""
import re

from stdnum import bitcoin

from rmcurate.rules.credentials import longest_word

# "My name is Jane Q. Roe", "my full name's jane roe", "I'm called Jane": up to four words, stopping at
# punctuation or a word that starts the rest of the sentence.
NAME = re.compile(r"(?i:\b(?:my\s+(?:full\s+|real\s+|legal\s+|first\s+|last\s+|sur)?name(?:\s+is|'s|’s|\s*:)"
                  r"|i(?:'m|’m|\s+am)\s+called|je\s+m'appelle|me\s+llamo|ich\s+heiße|ich\s+heisse)\s+)"
                  r"(?P<name>[^\W\d_][\w'’-]*\.?(?:[ \t]+[^\W\d_][\w'’-]*\.?){0,3})")
# A form's field: "Name: Jane Roe", "Full name: Maria Garcia Lopez" (two capitalised words or more).
# Capitalised, at a line's start or after a field before it on one line ("Name: Jane Roe, Email: ...");
# YAML's indented `name: Build Image` is not a person.
NAME_FIELD = re.compile(r"(?m)(?:^|(?<=[,;|•])[ \t]*)(?:(?:Full|Legal|Your)[ \t]+name|Name)[ \t]*:[ \t]*"
                        r"(?P<name>[A-Z][a-z'’-]+(?:[ \t]+[A-Z][a-z'’.-]*){1,3})")
NAME_LOWER = re.compile(NAME.pattern.replace("(?i:", "(?:"))  # run on the lower-cased text: 3x faster
# Other ways people give a name, all capitalised: "I'm Jane Roe", "this is Jane from billing", "Hi Jane,"
# / "Dear Mr. Roe," (a greeting's addressee), and a sign-off's next line ("Best regards,\nJane Roe").
CAP = r"[A-Z][a-z'’-]+"
PERSON = rf"(?:(?:Mr|Mrs|Ms|Dr|Prof)\.?[ \t]+)?{CAP}(?:[ \t]+(?:[A-Z]\.[ \t]+)?{CAP}){{0,2}}"
INTRODUCTION = re.compile(rf"\b(?:I'm|I’m|I am|[Mm]y name's|[Cc]all me|[Ss]igned)"
                          rf"[ \t]+(?P<name>{PERSON})(?=[ \t]*(?:[,.!;:\n]|$|[ \t]+(?:from|and|here|at|with|of)\b))")
# "this is Jane" only at a line's start or after a greeting: mid-sentence it names places and things.
THIS_IS = re.compile(rf"(?m:^|\b(?:[Hh]i|[Hh]ello|[Hh]ey|[Hh]iya)\b[ \t,!]*)(?:[Tt]his is|[Ii]t's|[Ii]t’s)"
                     rf"[ \t]+(?P<name>{PERSON})(?=[ \t]*(?:[,.!;:\n]|$|[ \t]+(?:from|and|here|at|with|of)\b))")
GREETING = re.compile(rf"(?m)^[ \t]*(?:Dear|Hi|Hello|Hey|Hiya|Greetings|Bonjour|Hallo|Hola|Ciao)[ \t,]+(?P<name>{PERSON})[ \t]*[,!:\n]")
SIGN_OFF = re.compile(rf"(?im)^[ \t]*(?:(?:best|kind|warm|warmest)(?:[ \t]+regards)?|regards|cheers|thanks|thank[ \t]+you|many[ \t]+thanks"
                      rf"|sincerely|yours(?:[ \t]+(?:sincerely|truly|faithfully))?|best[ \t]+wishes|all[ \t]+the[ \t]+best|take[ \t]+care"
                      rf"|mit[ \t]+freundlichen[ \t]+grüßen|cordialement|saludos|un[ \t]+saluto)[ \t]*[,.!]?[ \t]*\n[ \t]*"
                      rf"(?-i:(?P<name>{PERSON}))[ \t]*(?:\n|$)")
# Capitalised words that open such a line but name nobody.
NOT_PERSON = {"Everyone", "All", "There", "Team", "Sir", "Madam", "World", "Guys", "Folks", "Friends", "Chat", "ChatGPT",
              "GPT", "Assistant", "Claude", "Bard", "Gemini", "Copilot", "Bot", "AI", "Again", "Thanks", "Thank", "Sure",
              "Here", "Please", "Hope", "Just", "Can", "Could", "Would", "What", "How", "Why", "When", "Where", "Who",
              "Is", "Are", "Do", "Does", "The", "This", "That", "It", "Not", "So", "Yes", "No", "Ok", "Okay", "Good",
              "Great", "Well", "Now", "Then", "Also", "Still", "Sorry", "Trying", "Looking", "Working", "Going", "Back",
              "Happy", "Glad", "Excited", "Interested", "New", "Fine", "Done", "Ready", "Writing", "Using", "Getting",
              "Having", "Making", "Asking", "Wondering", "Curious", "Confused", "Stuck", "Afraid", "Aware", "Able",
              "Python", "Java", "Javascript", "English", "French", "German", "Spanish", "Chinese", "User", "Human",
              "Customer", "Support", "Admin", "Manager", "Student", "Teacher", "Developer", "Engineer", "Doctor",
              "Morning", "Afternoon", "Evening", "Day", "Monday", "Friday", "Best", "Regards", "Cheers", "Sincerely",
              "Professor", "Colleague", "Colleagues", "Friend", "Hiring", "Recruiter", "Editor", "Members", "Board",
              "Committee", "Valued", "Dear", "Mom", "Dad", "Heavenly", "Lord", "God", "Father", "Valentine's", "Sirs", "Reader", "Readers", "Santa", "Whatever", "Alright"}
NOT_NAME = {"and", "but", "or", "so", "i", "im", "i'm", "is", "was", "not", "the", "a", "an", "in", "on", "at",
            "from", "to", "with", "of", "for", "by", "here", "there", "also", "just", "still", "which", "who",
            "because", "as", "if", "when", "it", "this", "that", "my", "your", "you", "we", "he", "she", "they",
            "please", "thanks", "thank", "hi", "hello", "nothing", "unknown", "none", "n/a", "name", "irrelevant",
            "important", "secret", "private", "what", "how", "why", "can", "could", "would", "will", "do", "does",
            "did", "am", "are", "be", "have", "has", "had", "all", "no", "yes", "ok", "okay", "full", "first", "last"}
HONORIFICS = {"mr", "mrs", "ms", "dr", "prof"}
HONORIFICS_CAP = {"Mr", "Mrs", "Ms", "Dr", "Prof"}

MONTH = (r"(?:jan|feb|mar|apr|may|jun|jul|aug|sep|sept|oct|nov|dec|janv|févr|fevr|mars|avr|mai|juin|juil|août|aout"
         r"|déc|ene|abr|ago|dic|gen|mag|giu|lug|set|ott|jän|mär|märz|okt|dez|fev|out|dez)[a-zéèûäöü]*\.?")
DATE = (r"(?:\d{1,4}[./-]\d{1,2}[./-]\d{2,4}"
        rf"|(?:(?:the\s+)?\d{{1,2}}(?:st|nd|rd|th|er|\.|º)?\s+(?:of\s+|de\s+|di\s+)?)?{MONTH}(?:\s+\d{{1,2}}(?:st|nd|rd|th)?)?,?\s+(?:de\s+)?\d{{4}}"
        r"|\d{4}\s*年\s*\d{1,2}\s*月\s*\d{1,2}\s*日)")
DOB = re.compile(r"(?i)\b(?:born(?:\s+on|\s+in)?|date\s+of\s+birth|birth\s*date|birthdate|d\.?o\.?b\.?|birthday(?:\s+is)?"
                 r"|geboren(?:\s+am)?|geburtsdatum|geb\.|né(?:e)?\s+le|date\s+de\s+naissance|fecha\s+de\s+nacimiento"
                 r"|nacid[oa]\s+el|data\s+di\s+nascita|nat[oa]\s+il|data\s+de\s+nascimento|nascid[oa]\s+em"
                 r"|geboortedatum|urodzon[ya]|f[øo]dt|född)\s*(?:is|was|:|-|=)?\s*(?:on\s+)?(?:the\s+)?"
                 rf"(?P<date>{DATE})|出生(?:日期)?[:：]?\s*(?P<cn>{DATE})")

STREET = (r"(?:Street|St|Avenue|Ave|Road|Rd|Boulevard|Blvd|Lane|Ln|Drive|Dr|Court|Ct|Way|Place|Pl|Terrace|Ter"
          r"|Circle|Cir|Parkway|Pkwy|Highway|Hwy|Square|Sq|Trail|Trl|Crescent|Cres|Close|Row|Alley|Plaza|Broadway"
          r"|Gardens|Grove|Hill|Mews|Walk)")
ADDRESS = re.compile(
    # 221B Baker Street, 1600 Pennsylvania Avenue NW, Apt 4
    r"\d{1,6}[A-Za-z]?(?:-\d{1,4})?,?\s+(?:(?:[NSEW]\.?|North|South|East|West)\s+)?"
    rf"(?:[A-Z][\w'’.-]*\s+){{1,4}}{STREET}\b\.?(?:\s+(?:NW|NE|SW|SE|N|S|E|W)\b)?"
    r"(?:,?\s*(?:Apt|Apartment|Suite|Ste|Unit|Flat|#)\.?\s*[\w-]+)?"
    # 12 rue de la Paix; Hauptstraße 5; Calle Mayor 10
    r"|\d{1,5}(?:\s?bis)?,?\s+(?i:rue|avenue|boulevard|bd|place|chemin|allée|impasse|quai)\s+"
    r"(?:(?:de|du|des|la|le|l'|d')\s*)*[A-Z][\w'’-]+(?:\s+[A-Z][\w'’-]+){0,3}"
    r"|\b[A-Z][a-zäöüß]+(?:straße|strasse|weg|gasse|platz|allee|ring|damm)\s+\d{1,4}[a-z]?\b"
    r"|\b(?:Calle|Avenida|Via|Viale|Piazza|Rua)\s+(?:[A-Z][\w'’-]+\s+){1,3}\d{1,4}\b")

PO_BOX = re.compile(r"(?i)\b(?:p\.?\s?o\.?\s?box|post\s+office\s+box|postfach|apartado(?:\s+de\s+correos)?|casella\s+postale"
                    r"|bo[iî]te\s+postale|caixa\s+postal|bus)\s*#?\s*\d{1,7}\b")
# The UK's postcode and Canada's postal code have their own shapes; a 5-digit ZIP after a US state's code.
POSTCODE = re.compile(r"\b(?:[A-Z]{1,2}\d[A-Z\d]?\s\d[ABD-HJLNP-UW-Z]{2}|[ABCEGHJ-NPRSTVXY]\d[ABCEGHJ-NPRSTV-Z]\s\d[ABCEGHJ-NPRSTV-Z]\d"
                      r"|(?<=, )(?:A[LKZR]|C[AOT]|DE|FL|GA|HI|I[DLNA]|K[SY]|LA|M[EDAINSOT]|N[EVHJMYCD]|O[HKR]|PA|RI|S[CD]|T[NX]|UT"
                      r"|V[TA]|W[AVIY]|DC)\s\d{5}(?:-\d{4})?)\b")
# "I live at ...", "my address is ...", "Adresse: ...": the rest of the line, when it holds a number.
ADDRESS_CUE = re.compile(r"(?i)\b(?:i\s+live\s+(?:at|on)|my\s+(?:home\s+|postal\s+|mailing\s+|street\s+)?address\s*(?:is|:)"
                         r"|(?:home|postal|mailing|shipping|billing)\s+address\s*(?:is|:)|ship\s+(?:it\s+)?to|send\s+it\s+to"
                         r"|adresse\s*:|anschrift\s*:|dirección\s*:|indirizzo\s*:|endereço\s*:|ich\s+wohne\s+in|j'habite\s+au)"
                         r"[ \t]*(?P<value>[^\n.;!?]{6,100})")
PASSPORT = re.compile(r"(?i:\bpassport(?:\s*(?:no\.?|number|num\.?|#|id))?\s*(?:is|:|=|-)?\s*)"
                      r"(?P<value>(?=(?:[A-Z]*\d){5})[A-Z0-9]{6,9})\b")
# Patterns lead with their character class (the regex engine then skips to candidates fast); the
# character before a match is checked in Python instead of by a lookbehind.
MAC = re.compile(r"([:-])(?:[0-9A-Fa-f]{2}\1){4}[0-9A-Fa-f]{2}(?![\w:-])")  # led by its first separator
MAC_DOTTED = re.compile(r"\.[0-9A-Fa-f]{4}\.[0-9A-Fa-f]{4}(?!\w|\.\w)")  # Cisco's 001a.2b3c.4d5e, after its first group
BITCOIN = re.compile(r"[13bB](?:(?<=[13])[1-9A-HJ-NP-Za-km-z]{25,34}|(?<=[bB])[cC]1[02-9ac-hj-np-zAC-HJ-NP-Z]{6,87})(?!\w)")
# SSNs: 123-45-6789 anywhere; 123 45 6789 anywhere; 123456789 only after a cue.
SSN = re.compile(r"\d{3}([- ])\d{2}\1\d{4}(?![\d-])")
SSN_CUE = re.compile(r"(?i:\b(?:ssn|social\s+security(?:\s+(?:number|no\.?|#))?|sozialversicherungsnummer)\b)"
                     r"[^\d\n]{0,20}(?P<value>(?!000|666|9\d\d)\d{3}[ .-]?(?!00)\d{2}[ .-]?(?!0000)\d{4})(?!\d)")


def names(text: str):
    lower = text.lower()
    for m in (NAME_LOWER.finditer(lower) if len(lower) == len(text) else NAME.finditer(text)):
        end, named = None, False
        for w in re.finditer(r"\S+", text[m.start("name"):m.end("name")]):
            bare = w.group(0).lower().rstrip(".")
            if bare in NOT_NAME:
                break
            end = m.start("name") + w.end()
            named = named or bare not in HONORIFICS
            if w.group(0).endswith(".") and len(bare) > 1 and bare not in HONORIFICS:
                end -= 1  # "My name is Ruth." ends the sentence; "Jane Q. Roe" and "Dr. Roe" go on
                break
        if end is not None and named:
            yield m.start("name"), end
    if ":" in text:
        for m in NAME_FIELD.finditer(text):
            yield m.span("name")
    for pattern, words in ((INTRODUCTION, INTRODUCTION_WORDS), (THIS_IS, THIS_IS_WORDS), (GREETING, GREETING_WORDS),
                           (SIGN_OFF, SIGN_OFF_WORDS)):
        if not any(w in lower for w in words) or pattern is SIGN_OFF and "\n" not in text:
            continue
        for m in pattern.finditer(text):
            words = [w.rstrip(".") for w in m.group("name").split() if w.rstrip(".") not in HONORIFICS_CAP]
            if words and words[0] not in NOT_PERSON and all(w not in NOT_PERSON for w in words[:1]):
                yield m.span("name")


def dates_of_birth(text: str):
    for m in DOB.finditer(text):
        yield m.span("date") if m.group("date") else m.span("cn")


def addresses(text: str):
    lower = text.lower()
    if any(w in lower for w in ADDRESS_CUE_WORDS):
        for m in ADDRESS_CUE.finditer(text):
            if re.search(r"\d", m.group("value")):
                yield m.span("value")
    if any(w in lower for w in PO_BOX_WORDS):
        for m in PO_BOX.finditer(text):
            yield m.span()
    if POSTCODE_GATE.search(text):
        for m in POSTCODE.finditer(text):
            yield m.span()
    if HOUSE.search(text) is None and STREET_WORDS.search(lower) is None:
        return
    for m in ADDRESS.finditer(text):
        if not (m.group(0)[0].isdigit() and m.start() and (text[m.start() - 1].isalnum() or text[m.start() - 1] in "_.,-")):
            yield m.span()


def passports(text: str):
    for m in PASSPORT.finditer(text):
        yield m.span("value")


def _starts_word(text: str, start: int, also: str = "") -> bool:
    return start == 0 or not (text[start - 1].isalnum() or text[start - 1] in "_" + also)


def _valid_ssn(digits: str) -> bool:
    return digits[:3] not in ("000", "666") and digits[0] != "9" and digits[3:5] != "00" and digits[5:] != "0000"


def macs(text: str):
    for m in MAC_DOTTED.finditer(text):
        start = m.start() - 4
        group = text[max(start, 0):m.start()]
        if start >= 0 and all(c in HEX for c in group) and _starts_word(text, start, ".") \
                and any(c.isalpha() for c in group + m.group(0)):  # 2024.1234.5678 is not one
            yield start, m.end()
    for m in MAC.finditer(text):
        start = m.start() - 2
        if start >= 0 and all(c in HEX for c in text[start:m.start()]) and _starts_word(text, start, ":-"):
            yield start, m.end()


BECH32 = "qpzry9x8gf2tvdw0s3jn54khce6mua7l"


def _bech32_valid(address: str) -> bool:
    """BIP 173 and BIP 350: the checksum of a segwit address, v0 (bech32) or v1+ (bech32m, taproot)."""
    address = address.lower()
    hrp, _, data = address.rpartition("1")
    if hrp != "bc" or len(data) < 7 or any(c not in BECH32 for c in data):
        return False
    values = [ord(c) >> 5 for c in hrp] + [0] + [ord(c) & 31 for c in hrp] + [BECH32.index(c) for c in data]
    checksum = 1
    for v in values:
        top = checksum >> 25
        checksum = (checksum & 0x1ffffff) << 5 ^ v
        for i, g in enumerate((0x3b6a57b2, 0x26508e6d, 0x1ea119fa, 0x3d4233dd, 0x2a1462b3)):
            checksum ^= g if top >> i & 1 else 0
    return checksum in (1, 0x2bc830a3)


def bitcoin_addresses(text: str):
    for m in BITCOIN.finditer(text):
        address = m.group(0)
        if _starts_word(text, m.start()) and (_bech32_valid(address) if address[:3].lower() == "bc1"
                                              else bitcoin.is_valid(address)):
            yield m.span()


# A house number before a capitalised word, or a street word of the forms written the other way round.
HOUSE = re.compile(r"\d[A-Za-z]?,?[ \t]+(?:[NSEW]\.?[ \t]+)?[A-Z][a-z]")
# The forms written the other way round (rue de la Paix 12 is rarer than 12 rue de la Paix, but both).
STREET_WORDS = re.compile(r"rue |stra(?:ß|ss)e|weg |gasse|platz|allee|calle |avenida |via |viale |piazza |rua "
                          r"|avenue |boulevard |chemin |allée |impasse |quai ")
BITCOIN_LEGACY_GATE = re.compile(r"[13][1-9A-HJ-NP-Za-km-z]{25}")
HEX = set("0123456789abcdefABCDEF")


def maybe_address(text: str, lower: str) -> bool:
    """(Every form has a number: find() asks only texts with a digit.)"""
    return any(w in lower for w in ADDRESS_CUE_WORDS) or any(w in lower for w in PO_BOX_WORDS) \
        or HOUSE.search(text) is not None or STREET_WORDS.search(lower) is not None or bool(POSTCODE_GATE.search(text))


ADDRESS_CUE_WORDS = ("i live", "address", "ship to", "ship it", "send it", "adresse", "anschrift", "dirección", "indirizzo", "endereço",
                     "wohne", "habite")
PO_BOX_WORDS = ("box", "postfach", "apartado", "postale", "postal", "bus ")
POSTCODE_GATE = re.compile(r"[A-Z]\d[A-Z\d]? \d[A-Z]|, [A-Z]{2} \d{5}")


def maybe_bitcoin(text: str, lower: str) -> bool:
    """bech32 starts bc1; a legacy address is a word of 26 characters or more."""
    return "bc1" in lower or longest_word(text) >= 26 and BITCOIN_LEGACY_GATE.search(text) is not None


def ssns(text: str):
    for m in SSN.finditer(text):
        if _starts_word(text, m.start(), "-") and _valid_ssn(re.sub(r"\D", "", m.group(0))):
            yield m.span()
    lower = text.lower()
    if "ssn" in lower or "social" in lower or "sozialversicherung" in lower:
        for m in SSN_CUE.finditer(text):
            yield m.span("value")


INTRODUCTION_WORDS = ("i'm ", "i’m ", "i am ", "name's", "call me", "signed")
THIS_IS_WORDS = ("this is ", "it's ", "it’s ")
GREETING_WORDS = ("dear ", "hi ", "hi,", "hello", "hey ", "hey,", "hiya", "greetings", "bonjour", "hallo", "hola", "ciao")
SIGN_OFF_WORDS = ("regards", "best", "cheers", "thank", "sincerely", "yours", "wishes", "take care", "grüßen",
                  "cordialement", "saludos", "saluto")
NAME_CUES = ("name is", "name's", "name’s", "name:", "name :")
OTHER_NAME_CUES = ("called", "appelle", "llamo", "hei", "i'm ", "i’m ", "i am ", "this is ", "it's ", "it’s ", "call me",
                   "signed", "dear ", "hi ", "hello ", "hey ", "hiya", "greetings", "bonjour", "hallo",
                   "hola", "ciao", "regards", "cheers", "thanks", "thank you", "sincerely", "yours", "best", "take care",
                   "grüßen", "cordialement", "saludos", "saluto")


def maybe_name(text: str, lower: str) -> bool:
    return "name" in lower and any(c in lower for c in NAME_CUES) or any(c in lower for c in OTHER_NAME_CUES)


def maybe_dob(text: str, lower: str) -> bool:
    return any(w in lower for w in ("born", "birth", "dob", "d.o.b", "geboren", "geburt", "geb.", "née", "né ", "naissance",
                                    "nacimiento", "nacid", "nascita", "nato ", "nata ", "nascimento", "nascid", "geboorte",
                                    "urodzon", "født", "fodt", "född", "出生"))
