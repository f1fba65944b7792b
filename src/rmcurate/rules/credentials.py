"""Credentials in chat text: vendor tokens by their documented shapes, and secrets inside other text
(URLs, headers, env files, JSON, command lines, connection strings). Each finder yields the spans
to replace; where a key names the secret, only its value is replaced, so the text stays readable.

detect-secrets was measured on credentials pasted into chat text and missed `sk-` and `sk-proj-`
keys, `password: hunter2` and AWS secrets, and cut GitHub tokens and JWTs short, so the shapes
below come from the vendors' documentation. Placeholders people write instead of a secret
(`YOUR_API_KEY`, `<token>`, `${DB_PASSWORD}`, `$PASS`, `********`) are left alone.
"""
import base64
import re
from functools import lru_cache

TOKEN = re.compile(
    r"(?<![\w-])(?:"
    r"sk-(?:proj-|svcacct-|admin-|ant-(?:api\d\d-)?)?[A-Za-z0-9_-]{20,}"  # OpenAI, Anthropic
    r"|(?:AKIA|ASIA|ABIA|ACCA)[A-Z0-9]{16}"                   # AWS access key id
    r"|gh[pousr]_[A-Za-z0-9]{30,}|github_pat_[A-Za-z0-9_]{22,}"  # GitHub
    r"|glpat-[A-Za-z0-9_-]{20,}"                              # GitLab
    r"|xox[abposr]-[A-Za-z0-9-]{10,}"                         # Slack
    r"|(?:sk|rk|pk)_(?:live|test)_[A-Za-z0-9]{16,}|whsec_[A-Za-z0-9]{24,}"  # Stripe
    r"|AIza[0-9A-Za-z_-]{35}|ya29\.[\w-]{20,}|GOCSPX-[\w-]{24,}"  # Google API key, OAuth token, client secret
    r"|eyJ[A-Za-z0-9_-]{8,}\.eyJ[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]*"  # JWT
    r"|hf_[A-Za-z0-9]{30,}|api_org_[A-Za-z0-9]{30,}"          # Hugging Face
    r"|npm_[A-Za-z0-9]{36}"                                   # npm
    r"|(?:SK|AC)[0-9a-fA-F]{32}"                              # Twilio API key and account SIDs
    r"|SG\.[\w-]{16,32}\.[\w-]{16,64}"                        # SendGrid
    r"|shp(?:at|ss|ca|pa)_[a-fA-F0-9]{32}"                    # Shopify
    r"|pypi-AgE[\w-]{50,}"                                    # PyPI
    r"|do[opr]_v1_[a-f0-9]{64}"                               # DigitalOcean
    r"|gsk_[A-Za-z0-9]{40,}|r8_[A-Za-z0-9]{30,}|pplx-[A-Za-z0-9]{40,}"  # Groq, Replicate, Perplexity
    r"|dapi[a-f0-9]{32}|lin_api_[A-Za-z0-9]{40}|ntn_[A-Za-z0-9]{40,}|dp\.pt\.[A-Za-z0-9]{40,}"  # Databricks, Linear, Notion, Doppler
    r"|key-[0-9a-zA-Z]{32}|[0-9a-f]{32}-us\d{1,2}"            # Mailgun, Mailchimp
    r"|sq0(?:atp|csp)-[\w-]{22,}|ATATT3[\w=-]{100,}|EAA[A-Za-z0-9]{60,}"  # Square, Atlassian, Meta
    # chat platforms: Discord bot tokens, Slack app-level tokens
    r"|[MNO](?=[A-Za-z\d_-]{0,26}\d)[A-Za-z\d_-]{23,27}\.[A-Za-z\d_-]{6}\.[A-Za-z\d_-]{27,40}|xapp-\d-[A-Z0-9]+-\d+-[a-f0-9]{32,}"
    # container registries and CI: Docker Hub, GitLab's other tokens, Bitbucket
    r"|dckr_(?:pat|oat)_[\w-]{20,}|gl(?:ptt|dt|rt|cbt|imt|agent|oas|ft|sot)-[\w-]{20,}|GR1348941[\w-]{20,}|ATBB[\w=.-]{32,}"
    # secret managers: HashiCorp Vault and Terraform Cloud, 1Password, Infisical, Doppler, Pulumi, age
    r"|hv[sbr]\.[\w-]{24,}|[A-Za-z0-9]{14}\.atlasv1\.[\w=-]{60,}|ops_eyJ[\w+/=-]{100,}"
    r"|st\.[a-f0-9-]{36}\.[a-f0-9]{32}\.[a-f0-9]{32}|dp\.(?:ct|st|sa|scim|audit)\.[A-Za-z0-9]{40,}|pul-[a-f0-9]{40}"
    r"|AGE-SECRET-KEY-1[QPZRY9X8GF2TVDW0S3JN54KHCE6MUA7L]{58}"
    # identity providers: Azure AD client secrets, Okta API tokens (after SSWS)
    r"|[A-Za-z0-9_~.]{3}\dQ~[A-Za-z0-9_~.-]{31,34}|(?<=SSWS )00[\w-]{40}"
    # observability: New Relic, Sentry, Grafana, Dynatrace
    r"|NR(?:AK|AA|II|IQ|SP)-[A-Z0-9]{27}|NRJS-[a-f0-9]{19}|sntry[su]_[\w+/=]{60,}|gl(?:c|sa)_[\w+/=]{32,}"
    r"|dt0[a-z]\d{2}\.[A-Z0-9]{24}\.[A-Z0-9]{64}"
    # API tools and platforms: Postman, Mapbox, Airtable, Figma, Netlify, Supabase, PlanetScale, Fly.io,
    # Tailscale, Pinecone, LangSmith, Heroku, Brevo, Prefect, Sourcegraph, xAI, Notion, Dropbox
    r"|PMAK-[a-f0-9]{24}-[a-f0-9]{34}|[ps]k\.eyJ[\w-]{20,}\.[\w-]{20,}|pat[A-Za-z0-9]{14}\.[a-f0-9]{64}|figd_[\w-]{40,}"
    r"|nfp_[A-Za-z0-9]{36,}|sbp_[a-f0-9]{40}|pscale_(?:tkn|pw|oauth)_[\w.-]{32,64}|fo1_[\w-]{40,}"
    r"|tskey-(?:api|auth|client)-[\w-]{10,}|pcsk_[\w]{40,}|lsv2_(?:pt|sk)_[a-f0-9]{32}_[a-f0-9]{10}|HRKU-[\w-]{40,}"
    r"|xkeysib-[a-f0-9]{64}-[A-Za-z0-9]{16}|pnu_[A-Za-z0-9]{36}|sgp_[a-f0-9]{16,}_?[a-f0-9]{16,}|xai-[A-Za-z0-9]{60,}"
    r"|secret_[A-Za-z0-9]{43}|sl\.[\w-]{130,}"
    r")(?![\w-])")
TELEGRAM = re.compile(r"\d{6,12}:[\w-]{35}(?![\w-])")  # a bot token, also inside api.telegram.org/bot<token>/
WEBHOOK = re.compile(r"https?://(?:hooks\.slack\.com/(?:services|workflows|triggers)"
                     r"|(?:ptb\.|canary\.)?discord(?:app)?\.com/api/webhooks"
                     r"|[\w-]+\.webhook\.office\.com)/[\w/@.-]+")
PRIVATE_KEY = re.compile(r"-----BEGIN [A-Z0-9 ]*PRIVATE KEY(?: BLOCK)?-----[\s\S]*?"
                         r"(?:-----END [A-Z0-9 ]*PRIVATE KEY(?: BLOCK)?-----|\Z)")
# An AWS secret access key: 40 base64 characters, mixed case (a git hash is lowercase hex).
AWS_SECRET = re.compile(r"(?<![A-Za-z0-9/+])(?=[A-Za-z0-9/+]*[a-z])(?=[A-Za-z0-9/+]*[A-Z])[A-Za-z0-9/+]{40}"
                        r"(?![A-Za-z0-9/+=])")
AWS_CONTEXT = ("akia", "asia", "aws", "secret")  # in the lower-cased text
# Every TOKEN shape holds one of these: a text with none of them skips the pattern (most texts).
TOKEN_PREFIXES = ("sk-", "AKIA", "ASIA", "ABIA", "ACCA", "ghp_", "gho_", "ghu_", "ghs_", "ghr_", "github_pat_", "glpat-", "xox", "_live_", "_test_",
                  "whsec_", "AIza", "ya29.", "GOCSPX-", "eyJ", "hf_", "api_org_", "npm_", "SK", "AC", "SG.", ":AA",
                  "shpat_", "shpss_", "shpca_", "shppa_", "pypi-", "_v1_", "gsk_", "r8_", "pplx-", "dapi", "lin_api_", "ntn_", "dp.pt.", "key-", "-us",
                  "sq0", "ATATT3", "EAA", "xapp-", "dckr_", "glptt-", "gldt-", "glrt-", "glcbt-", "glimt-", "glagent-",
                  "gloas-", "glft-", "glsot-", "glc_", "glsa_", "GR1348941", "ATBB", "hvs.", "hvb.", "hvr.", "ops_",
                  "dp.", "pul-", "AGE-SECRET-KEY-", "Q~", "SSWS", "NRAK-", "NRAA-", "NRII-", "NRIQ-", "NRSP-", "NRJS-",
                  "sntry", "dt0", "PMAK-", "figd_", "nfp_", "sbp_", "pscale_", "fo1_", "tskey-", "pcsk_", "lsv2_",
                  "HRKU-", "xkeysib-", "pnu_", "sgp_", "xai-", "secret_")
# Shapes whose only mark is a dot inside a long word (Discord bot tokens, Airtable, Terraform Cloud,
# Infisical, Mapbox, Dropbox): the token pattern runs for them only where a word is this long.
DOTTED_MIN = 40

# --- a secret inside other text: only the value is replaced ---------------------------------
# scheme://user:password@host (postgres, mysql, redis, amqp, mongodb+srv, https, ...)
URL_USERINFO = re.compile(r"\b[a-zA-Z][\w+.-]*://[^\s/:@\"'<>]+:(?P<value>[^\s/@\"'<>]+)@[\w.-]")
# Authorization: Bearer ..., Basic ..., Token ...; a bare `Bearer <token>`; X-API-Key: ...
HEADER = re.compile(r"(?i:\b(?:proxy-)?authorization\b[\"']?\s*[:=]\s*[\"']?(?:bearer|basic|token|bot|digest|apikey)[ \t]+)"
                    r"(?P<value>[\w.~+/=-]{8,})"
                    r"|(?i:\b(?:proxy-)?authorization\b[\"']?[ \t]*[:=][ \t]*[\"']?)(?P<raw>(?=[\w.~+/=-]*\d)[\w.~+/=-]{16,})"
                    r"|(?i:\bbearer\s+)(?P<bearer>[\w.~+/-]{12,}=*)"
                    r"|(?i:\bx-(?:api-key|auth-token|access-token)[\"']?\s*:\s*[\"']?)(?P<xkey>[\w.~+/=-]{8,})")
BASIC = re.compile(r"\bBasic\s+(?P<value>[A-Za-z0-9+/]{8,}={0,2})(?![\w+/=])")
# Secrets as URL query parameters: SAS and presigned signatures, tokens, keys, OAuth codes.
URL_PARAM = re.compile(r"[?&](?i:sig|signature|x-amz-signature|x-amz-credential|x-amz-security-token|x-goog-signature"
                       r"|x-goog-credential|code|token|access_token|refresh_token|id_token|api_key|apikey|key|password"
                       r"|secret|client_secret|auth)=(?P<value>[^&\s#\"'<>]{4,})")
# A key that names a secret, then its value: `password: x`, `"api_key": "x"`, `DB_PASSWORD=x`,
# `SECRET_KEY = 'x'`, `AccountKey=x;`, `my password is x`. The key must end in the secret's word
# (`max_tokens`, `token_type` and `tokenizer` are not keys of secrets).
SECRET_WORD = (r"(?:pass(?:word|wd|phrase)?|pwd|secret|token|api[_ -]?key|apikey|access[_ -]?key|secret[_ -]?key"
               r"|private[_ -]?key|account[_ -]?key|shared[_ -]?access[_ -]?key|credentials?|auth)")
KEY_VALUE = re.compile(
    SECRET_WORD + r"(?![\w-])[\"']?(?P<sep>[ \t]*[:=][ \t]*|[ \t]+is[ \t]+|[ \t]+)"
    r"(?P<q>[\"']?)(?P<value>[^\s\"',;&]{3,}?)(?P=q)(?=[\s\"',;&)}\]]|$)")
KEY_VALUE_ANY_CASE = re.compile(KEY_VALUE.pattern, re.I)
KEY_START = re.compile(r"[\w.-]*$")
# Command lines: `mysql -u root -pSecret`, `--password=Secret`, `sshpass -p Secret`, `curl -u user:pass`
COMMAND = re.compile(r"\b(?:mysql|mysqldump|mysqladmin|mariadb)\b[^\n]*?\s-p(?P<mysql>[^\s\"']+|'[^']+'|\"[^\"]+\")"
                     r"|(?<![\w-])--pass(?:word|wd)?(?:=|\s+)(?P<flag>[^\s-][^\s]*)"
                     r"|\bsshpass\s+-p\s*(?P<sshpass>\S+)"
                     r"|\bredis-cli\b[^\n]*?\s-a\s+(?P<redis>\S+)"
                     r"|\bcurl\b[^\n]*?\s(?:-u|--user)\s+[\"']?[^\s:\"']+:(?P<curl>[^\s\"']+)")
# What people write where a secret would go: not a secret.
PLACEHOLDER = re.compile(r"^[$%<\[{(\\]|^\*+$|^x+$|^\.+$|your|here|example|xxx|placeholder|redacted|changeme\b|^my[_-]|"
                         r"^(?:pass(?:word)?|secret|token|none|null|true|false|str|string|int|bool|required|optional"
                         r"|undefined|env|value|admin|user|username|test|dummy|include|omit|same-origin)[!?]?$", re.I)
TOKEN_PLACEHOLDER = re.compile(r"your|here|placeholder", re.I)  # not "example": AWS documents real-shaped keys ending in EXAMPLE
# A value in code that is not a literal: `api_key=os.environ`, `token=get_token()`, `pw=cfg::pw`.
# (`password = user_input` and `token: str` hold no digit, so the last rule of _literal keeps them.)
CODE_VALUE = re.compile(r"^[a-z_]\w*(?:\.[a-z_]\w*)+$|\(|::|->|^[A-Za-z_][\w.]*\[")  # ..., an index: sys.argv[5]


def _literal(m: re.Match, text: str) -> bool:
    """A value written out, not code, prose or a placeholder. Quoted values, UPPER_CASE env keys
    (`DB_PASSWORD=hunter`) and connection-string fields (`;Password=hunter;`) are literals whatever
    they hold; elsewhere (`password = user_input`, `the password is incorrect`) the value must hold a
    digit or a symbol, unless the user says it is theirs (`my password is hunter`)."""
    value, sep = text[m.start("value"):m.end("value")], m.group("sep").strip()
    if PLACEHOLDER.search(value) or len(value) < 4 and not m.group("q") or value.startswith(("/", "~/", "./")):
        return False
    key_start = m.start() - len(KEY_START.search(text, max(0, m.start() - 64), m.start()).group(0))
    if key_start > 0 and text[key_start - 1] in ".-":
        return False  # part of a dotted name or a flag, not a key
    key = text[key_start:m.start("sep")].strip("\"'")
    before = text[max(0, key_start - 8):key_start]
    owned = bool(re.search(r"(?i)\b(?:my|our)\s+$", before))
    if sep == "" or sep == "is" and not owned:
        # `pass legislation?`, `Token is missing!`, `my next-auth callbacks` are prose; `password hunter2`,
        # `the token is abc123` are not, nor `my password is hunter` (below)
        return (sep == "is" or owned or key.lower().startswith(("pass", "pwd"))) and bool(re.search(r"\d", value)) \
            and not CODE_VALUE.search(value)
    field = m.group("sep") == "=" and (before.endswith(";") or text[m.end():m.end() + 1] == ";")  # Key=Value;
    if not m.group("q") and CODE_VALUE.search(value):
        return False  # `SECRET = sys.argv[5]`, `TOKEN = os.environ`
    if owned or m.group("q") or field or sep == "=" and key.isupper():
        return True
    return not CODE_VALUE.search(value) and bool(re.search(r"[\d!@#$%^&*+/?~=]", value))


def _is_basic_credential(value: str) -> bool:
    """base64 of `user:password` (what HTTP Basic carries), not any base64 word after "Basic"."""
    try:
        decoded = base64.b64decode(value + "=" * (-len(value) % 4), validate=True).decode("utf-8")
    except (ValueError, UnicodeDecodeError):
        return False
    return ":" in decoded and decoded.isprintable()


@lru_cache(maxsize=4)  # asked by the token and the bitcoin gates of the same text
def longest_word(text: str) -> int:
    return max(map(len, text.split()), default=0)


def _any(lower: str, words: tuple[str, ...]) -> bool:
    return any(w in lower for w in words)


def find_credentials(text: str, lower: str | None = None):
    """(start, end) of every credential, or of the secret part of one. Each rule runs only where the
    words it needs are in the text: most chat text holds none of them."""
    lower = text.lower() if lower is None else lower
    # Every token shape is 15 characters or more without a space: prose has no such word.
    if longest_word(text) >= 15 and (any(p in text for p in TOKEN_PREFIXES)
                                     or longest_word(text) >= DOTTED_MIN and "." in text):
        for m in TOKEN.finditer(text):
            if not TOKEN_PLACEHOLDER.search(m.group(0)):  # `xoxp-your-token-here`
                yield m.span()
    if "hook" in lower:
        for m in WEBHOOK.finditer(text):
            yield m.span()
    if longest_word(text) >= 42 and ":" in text:  # digits, a colon and 35 characters, in one word
        for m in TELEGRAM.finditer(text):
            if not (m.start() and text[m.start() - 1].isdigit()):
                yield m.span()
    if "Basic" in text:
        for m in BASIC.finditer(text):
            if _is_basic_credential(m.group("value")):
                yield m.span("value")
    if "?" in text and "=" in text:
        for m in URL_PARAM.finditer(text):
            if not PLACEHOLDER.search(m.group("value")):
                yield m.span("value")
    if "-----" in text:
        for m in PRIVATE_KEY.finditer(text):
            yield m.span()
    if longest_word(text) >= 20 and any(w in lower for w in AWS_CONTEXT):
        for m in AWS_SECRET.finditer(text):
            yield m.span()
    if "://" in text:
        for m in URL_USERINFO.finditer(text):
            if not PLACEHOLDER.search(m.group("value")):
                yield m.span("value")
    words = [w for w in KEY_WORDS if w in lower]
    if "auth" in words or "bearer" in lower or "x-a" in lower:
        for m in HEADER.finditer(text):
            group = next(g for g in ("value", "raw", "bearer", "xkey") if m.group(g))
            if not PLACEHOLDER.search(m.group(group)) and not CODE_VALUE.search(m.group(group)):
                yield m.span(group)
    if words:
        # lower() keeps every index where it keeps the length (not so for a few letters, such as İ)
        same = len(lower) == len(text)
        for m in (KEY_VALUE.finditer(lower) if same else KEY_VALUE_ANY_CASE.finditer(text)):
            if _literal(m, text):
                yield m.span("value")
    if "-" in text and _any(lower, ("mysql", "mariadb", "--pass", "sshpass", "redis-cli", "curl")):
        for m in COMMAND.finditer(text):
            group = next(g for g in ("mysql", "flag", "sshpass", "redis", "curl") if m.group(g))
            if not PLACEHOLDER.search(m.group(group).strip("'\"")):
                yield m.span(group)


KEY_WORDS = ("pass", "pwd", "secret", "token", "key", "credential", "auth")
