"""National identifiers, bank accounts and medical record numbers: a cue a reader would need
("my CPF", "BSN", "Aadhaar", "account number", "MRN"), then a value the country's own checksum
accepts (python-stdnum's validators), so an order number after "ID" stays. A few formats are
distinctive enough, with their checksum, to need no cue: Brazil's CPF written 000.000.000-00,
Italy's codice fiscale, Spain's DNI/NIE, Mexico's CURP, the UK's National Insurance number.
"""
import re
from importlib import import_module

# (cue words, stdnum modules that may validate what follows). Cues are lower case, matched as words.
NATIONAL = (
    (("cpf",), ("br.cpf",)),
    (("aadhaar", "aadhar", "uidai"), ("in_.aadhaar",)),
    (("pan card", "pan number", "pan no", "permanent account number"), ("in_.pan",)),
    (("dni", "nie", "documento nacional"), ("es.dni", "es.nie", "ar.dni")),
    (("codice fiscale", "tax code"), ("it.codicefiscale",)),
    (("bsn", "burgerservicenummer"), ("nl.bsn",)),
    (("nir", "sécurité sociale", "securite sociale", "numéro de sécu", "insee"), ("fr.nir",)),
    (("steuer-id", "steuerid", "steueridentifikationsnummer", "identifikationsnummer"), ("de.idnr",)),
    (("pesel",), ("pl.pesel",)),
    (("personnummer", "personal identity number"), ("se.personnummer",)),
    (("cpr",), ("dk.cpr",)),
    (("henkilötunnus", "hetu"), ("fi.hetu",)),
    (("fødselsnummer", "fodselsnummer"), ("no.fodselsnummer",)),
    (("rijksregisternummer", "national register number", "numéro national"), ("be.nn",)),
    (("curp",), ("mx.curp",)),
    (("resident registration", "rrn", "주민등록번호"), ("kr.rrn",)),
    (("sin number", "social insurance"), ("ca.sin",)),
    (("tfn", "tax file number"), ("au.tfn",)),
    (("身份证", "resident identity", "id card number", "identity card"), ("cn.ric",)),
    (("ahv", "avs"), ("ch.ssn",)),
    (("my number", "individual number", "マイナンバー"), ("jp.in_",)),
    (("rut",), ("cl.rut",)),
    (("nif", "contribuinte"), ("pt.nif",)),
    (("tc kimlik", "kimlik no", "t.c. kimlik"), ("tr.tckimlik",)),
    (("pps number", "ppsn"), ("ie.pps",)),
    (("teudat zehut", "israeli id"), ("il.idnr",)),
    (("cnp",), ("ro.cnp",)),
    (("south african id", "rsa id", "id number"), ("za.idnr",)),
    (("ird",), ("nz.ird",)),
    (("national id", "national identity", "id number", "identity number", "personal number", "tax id",
      "tin number"), ("br.cpf", "es.dni", "it.codicefiscale", "nl.bsn", "fr.nir", "de.idnr", "pl.pesel", "se.personnummer",
               "fi.hetu", "no.fodselsnummer", "be.nn", "mx.curp", "kr.rrn", "ca.sin", "cn.ric", "za.idnr", "ro.cnp")),
)
# What follows a cue: letters and digits, grouped by spaces, dots, dashes or slashes, with a digit.
VALUE = re.compile(r"(?=[\w .\-/]*\d)[A-Za-z0-9][A-Za-z0-9 .\-/]{4,24}[A-Za-z0-9]")
GAP = re.compile(r"[^\w\n]{0,6}(?:(?:no|nr|number|num|n°|#|is|was|:)\b[^\w\n]{0,4})*")
# Without a cue: formats that are themselves the cue, each with its checksum.
SHAPES = (
    (re.compile(r"(?<![\d.])\d{3}\.\d{3}\.\d{3}-\d{2}(?![\d-])"), "br.cpf"),
    (re.compile(r"\b[A-Z]{6}\d{2}[A-EHLMPR-T]\d{2}[A-Z]\d{3}[A-Z]\b"), "it.codicefiscale"),
    (re.compile(r"\b\d{8}-?[A-HJ-NP-TV-Z]\b"), "es.dni"),
    (re.compile(r"\b[XYZ]-?\d{7}-?[A-HJ-NP-TV-Z]\b"), "es.nie"),
    (re.compile(r"\b[A-Z][AEIOUX][A-Z]{2}\d{6}[HM][A-Z]{5}[A-Z\d]\d\b"), "mx.curp"),
)
# The UK's National Insurance number has no checksum, but a strict shape (HMRC's prefix rules).
NINO = re.compile(r"\b(?!BG|GB|KN|NK|NT|TN|ZZ)[A-CEGHJ-PR-TW-Z][A-CEGHJ-NPR-TW-Z] ?\d{2} ?\d{2} ?\d{2} ?[A-D]\b")

BANK_CUE = re.compile(r"(?i)\b(?:(?:bank\s+)?account\s*(?:number|no\.?|nr\.?|#)|acct\.?\s*(?:no\.?|#|number)?|a/c\s*(?:no\.?)?"
                      r"|routing\s*(?:number|no\.?|#)?|aba\s*(?:number|no\.?)?|sort\s*code|bsb|kontonummer|konto-?nr\.?"
                      r"|blz|bankleitzahl|n[uú]mero\s+de\s+cuenta|numéro\s+de\s+compte|rib|clabe|ifsc)\b")
BANK_VALUE = re.compile(r"[^\w\n]{0,12}(?:is\s+|:\s*)?(?P<value>\d[\d \-]{4,22}\d|[A-Z]{4}0[A-Z0-9]{6})(?![\d-])")
MRN_CUE = re.compile(r"(?i)\b(?:mrn|medical\s+record\s*(?:number|no\.?|#)?|patient\s*(?:id|number|no\.?|#)"
                     r"|chart\s*(?:number|no\.?|#)|health\s*(?:card|insurance)\s*(?:number|no\.?|#)?|nhs\s*(?:number|no\.?)"
                     r"|medicare\s*(?:number|no\.?|#)?|member\s*id)\b")
MRN_VALUE = re.compile(r"[^\w\n]{0,8}(?:is\s+|:\s*)?(?P<value>(?=[A-Za-z0-9-]*\d{4})[A-Za-z0-9][A-Za-z0-9-]{3,18}[A-Za-z0-9])\b")


def _validator(name: str):
    module = import_module(f"stdnum.{name}")
    return module.is_valid


VALIDATORS = {name: _validator(name) for _, names in NATIONAL for name in names} | \
    {name: _validator(name) for _, name in SHAPES}
# One pass finds every cue; the validators to try are those of the cue found.
VALIDATORS_OF: dict[str, tuple[str, ...]] = {}
for _cues, _names in NATIONAL:
    for _cue in _cues:
        VALIDATORS_OF[_cue] = VALIDATORS_OF.get(_cue, ()) + _names
CUE = re.compile(r"(?<!\w)(?:" + "|".join(re.escape(c) for c in sorted(VALIDATORS_OF, key=len, reverse=True)) + r")(?!\w)")
SHAPE_GATE = re.compile(r"\d(?:\.\d{3}\.\d{3}-\d|\d{6}| ?\d{2} ?\d{2} ?[A-D]\b|\d[A-EHLMPR-T]\d)")


ONE_WORD = {c for c in VALIDATORS_OF if " " not in c}
PHRASES = [c for c in VALIDATORS_OF if " " in c]
WORDS = re.compile(r"[^\s:;,()\[\]\"'=#]+")


def maybe_national(text: str, lower: str) -> bool:
    """A one-word cue among the text's words, a cue phrase in it, or a digit run a self-evident format has."""
    return SHAPE_GATE.search(text) is not None or any(c in lower for c in PHRASES) \
        or not ONE_WORD.isdisjoint(w.strip(".-") for w in WORDS.findall(lower))


def national_ids(text: str):
    lower = text.lower()
    if len(lower) == len(text):
        for m in CUE.finditer(lower):
            names = VALIDATORS_OF[m.group(0)]
            gap = GAP.match(lower, m.end())
            v = VALUE.match(text, gap.end())
            if not v:
                continue
            # the longest leading run of its groups that a validator accepts (the value may run into words)
            parts = re.split(r"(?<=\s)", v.group(0))
            for k in range(len(parts), 0, -1):
                value = "".join(parts[:k]).strip()
                compact = re.sub(r"[ .\-/]", "", value)
                if len(compact) >= 5 and any(VALIDATORS[n](compact) for n in names):
                    yield v.start(), v.start() + len(value)
                    break
    for pattern, name in SHAPES:
        for m in pattern.finditer(text):
            if VALIDATORS[name](m.group(0).replace(".", "").replace("-", "")):
                yield m.span()
    for m in NINO.finditer(text):
        yield m.span()


def after_cue(cue: re.Pattern, value: re.Pattern, text: str):
    """The span of `value` right after each match of `cue`."""
    for m in cue.finditer(text):
        if v := value.match(text, m.end()):
            yield v.span("value")


def bank_accounts(text: str):
    return after_cue(BANK_CUE, BANK_VALUE, text)


def maybe_bank(text: str, lower: str) -> bool:
    return any(w in lower for w in ("account", "acct", "a/c", "routing", "aba", "sort code", "bsb", "konto", "blz",
                                    "bankleitzahl", "cuenta", "compte", "rib", "clabe", "ifsc"))


def medical_record_numbers(text: str):
    return after_cue(MRN_CUE, MRN_VALUE, text)


def maybe_mrn(text: str, lower: str) -> bool:
    return any(w in lower for w in ("mrn", "medical record", "patient", "chart", "health", "nhs", "medicare", "member id"))
