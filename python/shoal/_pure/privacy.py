"""Secrets and personal data in text, in pure Python.

The reference for ``rust/privacy.rs``; both return the same findings. Each detector is a
pattern for candidates plus a check that rejects look-alikes:

* Patterns use only ASCII literals, positive ASCII classes and bounded repetition (no ``.``, no
  negated classes, no look-around), so Python's ``re`` (with ``re.ASCII``) and Rust's ``regex``
  crate (bytes, Unicode off) find the same leftmost-first matches, and every bounded pattern
  costs at most a fixed number of steps per start position: linear time in both.
* A non-ASCII character never belongs to a class, so it ends every candidate; Rust scans UTF-8
  bytes, Python scans characters, and the candidates are the same. A password or API-key value
  that its pattern stops at a letter with a diacritic (U+00C0-U+024F) is read on by its check,
  by code point in both languages, and an e-mail address is read around its ``@`` the same way.
* Checks (boundaries, Luhn, mod 97, placeholders) are written the same way in both languages.

Findings are ``(kind, category, start, end)`` with ``start``/``end`` character offsets into the
Python ``str`` (``text[start:end]`` is the sensitive part); the matched value itself is never
returned. Overlapping findings keep the earliest, then the longest, then the first detector.

Documentation values are not findings: keys containing ``EXAMPLE`` or placeholders such as
``xxxx`` or ``your_token``, a short list of values published in vendor documentation, masked or
templated passwords, e-mail addresses at reserved domains (``example.com``/``.net``/``.org``,
``.example``, ``.test``, ``.invalid``, ``.localhost``: RFC 2606 and 6761 reserve them, so no
person receives mail there), telephone numbers reserved for fiction (North American
``555-0100``-``555-0199``, UK Ofcom drama ranges), published test card numbers and IBANs,
and the Social Security numbers the SSA printed on sample cards.
"""

from __future__ import annotations

import functools
import re
import string
from collections.abc import Callable
from itertools import pairwise

from shoal import shipped_data

SECRET = "secret"
PERSONAL = "personal"

_WORD = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_")
_ALNUM = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789")
_DIGITS = frozenset("0123456789")
_BASE64 = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/")
_BASE64_DELETE = {ord(c): None for c in _BASE64}
_LOWER = frozenset("abcdefghijklmnopqrstuvwxyz")
_UPPER = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZ")
_SCHEME = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+.-"
_MAX_SCHEME = 32
_USERINFO = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789._~%!$&'()*+,;=-"
# A connection string's password characters, as its pattern reads them.
_URL_PASSWORD = frozenset(
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789._~%!$&'()*+,;=:#/?[]{}-"
)
# How far ``scheme://user:password`` reaches back from an address found inside it.
_MAX_USERINFO = 3 + 128 + 1 + 256
# Digest algorithms of a container image pinned as ``name:tag@sha256:hex``, which reads like
# ``user:password@host:port``.
_DIGEST_ALGORITHMS = frozenset(("sha256", "sha384", "sha512"))
# The most digits a port has (65535).
_MAX_PORT_DIGITS = 5

_SURROGATE = re.compile("[\ud800-\udfff]")

# Lower-case fragments that mark a value as a placeholder, never a live credential.
# Fragments that mark a password value as a mask or a template wherever they appear.
_MASKS = ("example", "xxxx", "placeholder", "redacted", "changeme", "****", "0000000", "1234567")

# Words documentation writes where a password goes; a value whose letters are only one of them
# (``password123``, ``Secret!``) stands in for a password rather than being one.
_STAND_IN_PASSWORDS = frozenset((
    "password", "passwd", "passphrase", "pass", "pwd", "secret", "dummy", "sample", "test", "pw",
    "guest",
))

# A template's opening bracket escaped for HTML (``&lt;string>``, ``&#x3C;string>``).
_ESCAPED_OPENERS = ("&lt;", "&#x3c;", "&#60;")

_PLACEHOLDERS = (
    "example", "xxxx", "your", "placeholder", "redacted", "changeme", "dummy", "sample",
    "****", "0000000", "1234567", "abcdefg",
)

# Values published in vendor documentation (keys, tokens, test cards, IBANs).
_PUBLISHED_EXAMPLES = frozenset({
    "sk_test_4eC39HqLyjWDarjtT1zdp7dc",
    "sk_test_BQokikJOvBiI2HlWgH4olfQ2",
    "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJzdWIiOiIxMjM0NTY3ODkwIiwibmFtZSI6IkpvaG4gRG9lIiwia"
    "WF0IjoxNTE2MjM5MDIyfQ.SflKxwRJSMeKKF2QT4fwpMeJf36POk6yJV_adQssw5c",
    "4111111111111111", "4242424242424242", "4012888888881881", "4000056655665556",
    "5555555555554444", "5105105105105100", "5200828282828210", "2223003122003222",
    "378282246310005", "371449635398431", "6011111111111117", "6011000990139424",
    "3056930009020004", "36227206271667", "3530111333300000", "3566002020360505",
    "6200000000000005", "4000000000000002", "4000000000009995",
    "DE89370400440532013000", "GB82WEST12345698765432", "GB29NWBK60161331926819",
    "FR1420041010050500013M02606", "NL91ABNA0417164300", "CH9300762011623852957",
    "GB33BUKB20201555555555",
})

_RESERVED_MAIL_DOMAINS = ("example.com", "example.net", "example.org")

# The top-level domains in the root zone (IANA's list, shipped as package data and compiled into
# the Rust core): an address's last label is one of them. The names RFC 2606/6761 reserve
# (``.example``, ``.test``, ``.invalid``, ``.localhost``) are not, nor are the suffixes that
# follow an ``@`` in other notations: systemd template units (``getty@tty1.service``), gettext
# locales (``ca@valencia.po``), UUCP Message-IDs (``<2752@sun.uucp>``), files (``icon@2x.png``).
# Read on the first address met, not at import, so that a missing or damaged list stops the
# scan with one line naming it and leaves every other command alone; the digest check keeps a
# list short of a domain from finding fewer addresses than the Rust core, which compiles it in.
_TLD_FILE = "tlds-alpha-by-domain.txt"


# Names for networks of one's own, which a person's address on their machine ends in
# (``user@laptop.local``): mDNS's ``.local`` (RFC 6762), ICANN's ``.internal``, and the defaults
# of Linux distributions and home routers.
_PRIVATE_USE_DOMAINS = frozenset(("local", "internal", "localdomain", "lan", "home"))


@functools.cache
def _top_level_domains() -> frozenset[str]:
    lines = shipped_data.read_text(_TLD_FILE).splitlines()
    listed = frozenset(line.strip().lower() for line in lines if line.strip() and line[0] != "#")
    return listed | _PRIVATE_USE_DOMAINS


# Characters of an address's local part and of a domain's labels, besides letters with
# diacritics, and their bounds (RFC 5321: 64 characters, labels of 63; at most ten labels).
_LOCAL_PART = frozenset(string.ascii_letters + string.digits + "._%+-")
_LABEL = frozenset(string.ascii_letters + string.digits + "-")
_MAX_LOCAL_PART = 64
_MAX_LABEL = 63
_MAX_LABELS = 10
# Escapes a backslash starts in front of an address, which are not part of it: C and JSON's
# ``\n``, ``\t``, ``\r`` and troff's ``\%`` (no hyphenation here), one character long; troff's
# ``\fX`` (font X) is two. Troff's ``\-`` (a hyphen) joins the parts of a local part.
_ONE_CHARACTER_ESCAPES = frozenset("ntr%")

# IBAN length by country (ISO 13616 registry).
_IBAN_LENGTHS = {
    "AD": 24, "AE": 23, "AL": 28, "AT": 20, "AZ": 28, "BA": 20, "BE": 16, "BG": 22, "BH": 22,
    "BR": 29, "BY": 28, "CH": 21, "CR": 22, "CY": 28, "CZ": 24, "DE": 22, "DK": 18, "DO": 28,
    "EE": 20, "EG": 29, "ES": 24, "FI": 18, "FO": 18, "FR": 27, "GB": 22, "GE": 22, "GI": 23,
    "GL": 18, "GR": 27, "GT": 28, "HR": 21, "HU": 28, "IE": 22, "IL": 23, "IQ": 23, "IS": 26,
    "IT": 27, "JO": 30, "KW": 30, "KZ": 20, "LB": 28, "LC": 32, "LI": 21, "LT": 20, "LU": 20,
    "LV": 21, "MC": 27, "MD": 24, "ME": 22, "MK": 19, "MR": 27, "MT": 31, "MU": 30, "NL": 18,
    "NO": 15, "PK": 24, "PL": 28, "PS": 29, "PT": 25, "QA": 29, "RO": 24, "RS": 22, "SA": 24,
    "SC": 31, "SE": 24, "SI": 19, "SK": 24, "SM": 27, "ST": 25, "SV": 28, "TL": 23, "TN": 24,
    "TR": 26, "UA": 29, "VA": 22, "VG": 24, "XK": 20,
}

_ASSIGN = r"""["']?[ \t]{0,4}(?:=>|:=|=|:)[ \t]{0,4}["']?"""
# Symbols a password or API-key value holds besides ASCII letters and digits.
_PASSWORD_SYMBOLS = "!#$%&*+,./:;?@^_|~-"
_API_KEY_SYMBOLS = "_./+=-"
_PEM_LABEL = r"(?:[A-Z0-9]{1,20} ){0,3}PRIVATE KEY(?: BLOCK)?-----"

# (kind, category, pattern); the order breaks ties between overlapping findings.
PRIVACY_PATTERNS: tuple[tuple[str, str, str], ...] = (
    ("private_key", SECRET, r"-----BEGIN " + _PEM_LABEL),
    ("aws_access_key_id", SECRET, r"(?:A3T[A-Z0-9]|AKIA|ASIA|ABIA|ACCA)[A-Z2-7]{16}"),
    ("aws_secret_access_key", SECRET,
     r"(?i:aws_?secret_?access_?key|aws_?secret_?key|secret_?access_?key)" + _ASSIGN
     + r"([A-Za-z0-9/+]{40})"),
    ("gcp_api_key", SECRET, r"AIza[A-Za-z0-9_-]{35}"),
    ("azure_key", SECRET,
     r"(?:AccountKey|SharedAccessKey|[?&]sig)=([A-Za-z0-9+/%]{40,100}(?:={1,2}|%3[Dd]){0,2})"),
    ("github_token", SECRET,
     r"(?:ghp|gho|ghu|ghs|ghr)_[A-Za-z0-9]{36}|github_pat_[A-Za-z0-9_]{82}"),
    ("gitlab_token", SECRET, r"glpat-[A-Za-z0-9_-]{20}"),
    ("slack_token", SECRET,
     r"xox[abposr]-[A-Za-z0-9-]{10,100}|https://hooks\.slack\.com/services/"
     r"T[A-Z0-9]{6,12}/B[A-Z0-9]{6,12}/[A-Za-z0-9]{20,32}"),
    ("stripe_key", SECRET, r"(?:sk|rk)_(?:live|test)_[A-Za-z0-9]{20,99}"),
    ("anthropic_key", SECRET, r"sk-ant-(?:api|admin|sid)[0-9]{2}-[A-Za-z0-9_-]{20,200}"),
    ("openai_key", SECRET, r"sk-(?:proj-|svcacct-|admin-)?[A-Za-z0-9_-]{20,200}"),
    ("huggingface_token", SECRET, r"hf_[A-Za-z0-9]{34}"),
    ("jwt", SECRET,
     r"eyJ[A-Za-z0-9_-]{10,4096}\.eyJ[A-Za-z0-9_-]{10,8192}\.[A-Za-z0-9_-]{20,4096}"),
    ("connection_string", SECRET,
     r"://([A-Za-z0-9._~%!$&'()*+,;=-]{0,128}):"
     r"([A-Za-z0-9._~%!$&'()*+,;=:#/?\[\]{}-]{1,256})@"
     r"([A-Za-z0-9-]{1,63}(?:\.[A-Za-z0-9-]{1,63}){0,8}|\[[0-9A-Fa-f:.]{2,64}\])"),
    ("authorization_header", SECRET,
     r"(?i:authorization)" + _ASSIGN
     + r"(?:(?i:bearer|basic|token|digest|bot|apikey)[ \t]{1,4})?([A-Za-z0-9._~+/=-]{12,4096})"),
    ("bearer_token", SECRET, r"(?i:bearer)[ \t]{1,4}([A-Za-z0-9._~+/-]{20,4096}=*)"),
    ("password", SECRET,
     r"(?i:password|passwd|passphrase|pwd|db_pass)" + _ASSIGN
     + r"([A-Za-z0-9" + _PASSWORD_SYMBOLS + r"]{0,128})"),
    ("api_key", SECRET,
     r"(?i:api[_-]?key|api[_-]?secret|api[_-]?token|secret[_-]?key|access[_-]?token|"
     r"auth[_-]?token|client[_-]?secret|private[_-]?token|secret)" + _ASSIGN
     + r"([A-Za-z0-9" + _API_KEY_SYMBOLS + r"]{0,256})"),
    # The check reads the address around the ``@``, across letters with diacritics.
    ("email", PERSONAL, r"@"),
    ("phone", PERSONAL, r"\+?\(?[0-9][0-9 ()./-]{5,22}[0-9]"),
    ("card_number", PERSONAL, r"[0-9][0-9 -]{10,28}[0-9]"),
    ("iban", PERSONAL, r"[A-Z]{2}[0-9]{2}(?:[ ]?[A-Z0-9]){10,30}"),
    ("us_ssn", PERSONAL, r"[0-9]{3}-[0-9]{2}-[0-9]{4}"),
)

# Patterns anchored at a position inside the checks.
PEM_BODY = r"[A-Za-z0-9+/=:,. \t\r\n\\]*(?:-[A-Za-z0-9][A-Za-z0-9+/=:,. \t\r\n\\]*)*"
PEM_END = r"-----END " + _PEM_LABEL

# A detector whose pattern starts with a case-insensitive keyword runs only when the lower-cased
# text holds one of these; without them no match is possible (a shortcut, same results).
_KEYWORDS = {
    "aws_secret_access_key": ("secret",),
    "authorization_header": ("authorization",),
    "bearer_token": ("bearer",),
    "password": ("passw", "pwd", "passphrase", "db_pass"),
    "api_key": ("api", "secret", "token"),
}

_COMPILED = tuple(
    (kind, category, re.compile(pattern, re.ASCII)) for kind, category, pattern in PRIVACY_PATTERNS
)
_PEM_BODY = re.compile(PEM_BODY, re.ASCII)
_PEM_END = re.compile(PEM_END, re.ASCII)

Span = tuple[int, int]
Check = Callable[[str, "re.Match[str]"], "Span | None"]


# ---- shared checks ----


def _is_word(text: str, index: int) -> bool:
    """Whether ``text[index]`` exists and is an ASCII letter, digit or underscore."""
    return 0 <= index < len(text) and text[index] in _WORD


def _is_alnum(text: str, index: int) -> bool:
    return 0 <= index < len(text) and text[index] in _ALNUM


# Rust lowers ASCII letters only; str.lower() would also turn the Kelvin sign into "k".
_ASCII_LOWER = str.maketrans(string.ascii_uppercase, string.ascii_lowercase)


def _is_placeholder(value: str) -> bool:
    lowered = value.translate(_ASCII_LOWER)
    return any(fragment in lowered for fragment in _PLACEHOLDERS)


def _distinct_enough(value: str) -> bool:
    return len(set(value)) >= min(8, len(value) // 2)


def _prefixed_token(text: str, start: int, end: int, prefix_length: int) -> Span | None:
    """A vendor-prefixed token: word boundaries, and a body that is not a placeholder."""
    if _is_word(text, start - 1) or _is_word(text, end) or text[end : end + 1] == "-":
        return None
    value = text[start:end]
    body = value[prefix_length:]
    if value in _PUBLISHED_EXAMPLES or _is_placeholder(body) or not _distinct_enough(body):
        return None
    return start, end


def _random_credential(value: str) -> bool:
    """A credential without a vendor prefix: no placeholder, two character classes, varied."""
    if value in _PUBLISHED_EXAMPLES or _is_placeholder(value):
        return False
    return _character_classes(value) >= 2 and len(set(value)) >= min(10, len(value) // 2)


def _character_classes(value: str) -> int:
    """How many of lower-case letters, upper-case letters and digits ``value`` holds."""
    return (
        any(c in _LOWER for c in value) + any(c in _UPPER for c in value)
        + any(c in _DIGITS for c in value)
    )


# ---- secrets ----


def _check_private_key(text: str, match: re.Match[str]) -> Span | None:
    body = _PEM_BODY.match(text, match.end())
    if body is None:  # never: the body pattern matches the empty string
        return None
    content = body.group()
    key_characters = len(content) - len(content.translate(_BASE64_DELETE))
    if key_characters < 40 or len(set(content) & _BASE64) < 16:
        return None
    ending = _PEM_END.match(text, body.end())
    if ending is not None:
        return match.start(), ending.end()
    return match.start(), match.end() + len(content.rstrip(" \t\r\n"))


def _check_vendor(prefix_length: Callable[[str], int]) -> Check:
    def check(text: str, match: re.Match[str]) -> Span | None:
        return _prefixed_token(text, match.start(), match.end(), prefix_length(match.group()))

    return check


def _fixed(length: int) -> Callable[[str], int]:
    return lambda value: length


def _up_to(separator: str, occurrence: int) -> Callable[[str], int]:
    def length(value: str) -> int:
        position = -1
        for _ in range(occurrence):
            position = value.index(separator, position + 1)
        return position + 1

    return length


def _check_openai(text: str, match: re.Match[str]) -> Span | None:
    # A bare ``sk-`` prefix is common in prose (``sk-learn``): the body must mix classes.
    value = match.group()
    if value.startswith("sk-ant-") or _character_classes(value[3:]) < 2:
        return None
    return _prefixed_token(text, match.start(), match.end(), _up_to("-", 1)(match.group()))


def _check_slack(text: str, match: re.Match[str]) -> Span | None:
    prefix = 5 if match.group().startswith("xox") else len("https://hooks.slack.com/services/")
    return _prefixed_token(text, match.start(), match.end(), prefix)


def _check_jwt(text: str, match: re.Match[str]) -> Span | None:
    start, end = match.start(), match.end()
    if _is_word(text, start - 1) or _is_word(text, end) or text[end : end + 1] in ("-", "."):
        return None
    if match.group() in _PUBLISHED_EXAMPLES:
        return None
    return start, end


# How far an assigned value may run past the end of its pattern's group.
_MAX_VALUE_TAIL = 256

# Characters that continue an unquoted value: printable ASCII except quotes, backticks and angle
# brackets, which close a value in shell, Markdown and HTML.
_UNQUOTED_VALUE = frozenset(map(chr, range(0x21, 0x7F))) - frozenset("'\"`<>")

# Letters with diacritics: Latin-1 Supplement and Latin Extended-A and -B (U+00C0-U+024F) less
# ``×`` and ``÷``. Letters of other scripts end a value: prose written without spaces (Chinese,
# Japanese) would run on into it, and a password rarely holds them.
_DIACRITIC_LETTERS = "\u00c0-\u00d6\u00d8-\u00f6\u00f8-\u024f"
_DIACRITIC_LETTER = re.compile(f"[{_DIACRITIC_LETTERS}]")


def _value_run(ascii_characters: str) -> re.Pattern[str]:
    """Up to ``_MAX_VALUE_TAIL`` characters of a value: ``ascii_characters`` and letters with
    diacritics."""
    return re.compile(
        f"[{re.escape(ascii_characters)}{_DIACRITIC_LETTERS}]{{0,{_MAX_VALUE_TAIL}}}"
    )


def _run_end(text: str, start: int, run: re.Pattern[str]) -> int | None:
    """The end of ``run`` from ``start``, or None if the run goes on past its bound."""
    found = run.match(text, start)
    end = start if found is None else found.end()
    next_character = run.match(text, end, end + 1)
    return None if next_character is not None and next_character.end() > end else end


_UNQUOTED_VALUE_RUN = _value_run("".join(sorted(_UNQUOTED_VALUE)))
_PASSWORD_RUN = _value_run(string.ascii_letters + string.digits + _PASSWORD_SYMBOLS)
_API_KEY_RUN = _value_run(string.ascii_letters + string.digits + _API_KEY_SYMBOLS)

_OPENERS = {")": "(", "]": "[", "}": "{"}


def _assigned_value_end(text: str, start: int, end: int) -> int | None:
    """Where the value assigned to a keyword ends, or None to keep the pattern's end.

    A value class stops at the first character outside it, so without this the rest of a
    secret such as ``'Xk9#mP2$vL(8)qR'`` would survive redaction. A quoted value runs to its
    closing quote on the same line; an unquoted one over the characters that can continue it,
    less sentence punctuation and closing brackets it does not open. The bound (in characters)
    keeps the work per candidate fixed; a value that passes it, or a quote not closed within it,
    keeps the pattern's end.

    Only the span grows: the checks still judge the value as the pattern read it. Judged whole,
    a quoted message (``"password": "Password is too short"``) would pass as a password with
    symbols, and an unquoted tail (``api_key=...&redirect=https://example.com``) would turn a key
    into a placeholder.
    """
    limit = min(len(text), end + _MAX_VALUE_TAIL)
    quote = text[start - 1 : start]
    if quote in ("'", '"'):
        # A quote after a backslash is part of the value, as JSON and most languages escape it.
        escaped = False
        for position in range(end, limit):
            character = text[position]
            if character == quote and not escaped:
                return position
            if character in "\r\n":
                return None
            escaped = character == "\\" and not escaped
        return None

    run_end = _run_end(text, end, _UNQUOTED_VALUE_RUN)
    return None if run_end is None else _trim_value(text, start, run_end)


def _trim_value(text: str, start: int, end: int) -> int:
    """``end`` less trailing ``.,;:`` and closing brackets the value does not open: they end the
    sentence or the bracket around the assignment (``(password=...)``), not the value."""
    closers = {closer: text.count(closer, start, end) for closer in _OPENERS}
    openers = {closer: text.count(opener, start, end) for closer, opener in _OPENERS.items()}
    while end > start:
        last = text[end - 1]
        if last in ".,;:":
            end -= 1
        elif last in _OPENERS and openers[last] < closers[last]:
            closers[last] -= 1
            end -= 1
        else:
            break
    return end


def _check_assigned(group: int) -> Check:
    """The value of ``keyword: value``: whole, random-looking, not a placeholder."""

    def check(text: str, match: re.Match[str]) -> Span | None:
        start, end = match.span(group)
        if _code_expression(text, start, end):
            return None
        value_end = _assigned_value_end(text, start, end)
        # A value character right after the group means the value ran past the bound.
        runs_on = _is_word(text, end) or text[end : end + 1] in ("-", "/", "+", "=", ".", "~")
        if value_end is None and runs_on:
            return None
        value = text[start:end].rstrip(".")
        if not _random_credential(value):
            return None
        return start, (start + len(value) if value_end is None else value_end)

    return check


_check_assigned_value = _check_assigned(1)


def _check_azure(text: str, match: re.Match[str]) -> Span | None:
    start, end = match.span(1)
    if _is_word(text, end) or not _random_credential(text[start:end]):
        return None
    return start, end


def _check_connection_string(text: str, match: re.Match[str]) -> Span | None:
    left = text[max(0, match.start() - _MAX_SCHEME) : match.start()]
    scheme = left[len(left.rstrip(_SCHEME)) :]
    if len(scheme) < 2 or (scheme[0] not in _LOWER and scheme[0] not in _UPPER):
        return None
    if _is_word(text, match.end()) or not _host_ends_the_authority(text, *match.span(3)):
        return None
    start, end = match.span(2)
    user, password = match.group(1), text[start:end]
    # ``:method:user@host`` (CVS's ``:pserver:anoncvs@host``) names no password.
    if not user and ":" in password:
        return None
    if _masked_password(password) or not _url_password_shaped(password):
        return None
    if _reads_as_host_and_port(user, password) or _reads_as_more_hosts(password):
        return None
    return start, end


def _url_password_shaped(password: str) -> bool:
    """Six characters or more with a digit, a symbol or letters of both cases: a word such as
    ``xyz``, ``repo`` or ``token`` in ``abc:xyz@``, ``github://org:repo@sha`` or
    ``gist://username:token@id`` names a field or stands in for a password."""
    has_digit_or_symbol = any(c not in _LOWER and c not in _UPPER for c in password)
    both_cases = any(c in _LOWER for c in password) and any(c in _UPPER for c in password)
    return len(password) >= 6 and (has_digit_or_symbol or both_cases)


def _reads_as_more_hosts(password: str) -> bool:
    """Whether ``user:password@`` reads as a host, its port and more hosts of a multi-host URL
    (``https://db1.io:5432,db2.io:5433@``, ``postgresql://a:123,b:456/x``): digits then a comma."""
    comma = password.find(",")
    return comma > 0 and all(c in _DIGITS for c in password[:comma])


def _host_ends_the_authority(text: str, host_start: int, host_end: int) -> bool:
    """Whether the host is followed by what may follow a host in a URL: anything but ``:``, or
    ``:`` and a port (up to five digits, then no letter, digit or ``_``). An image pinned by
    digest (``alpine:3.19@sha256:0f04…``) puts the digest's ``algorithm:hex`` where the host
    and port would be."""
    if host_end >= len(text) or text[host_end] != ":":
        return True
    if text[host_start:host_end].translate(_ASCII_LOWER) in _DIGEST_ALGORITHMS:
        return False
    port_end = host_end + 1
    limit = min(len(text), port_end + _MAX_PORT_DIGITS)
    while port_end < limit and text[port_end] in _DIGITS:
        port_end += 1
    return not _is_word(text, port_end)


def _reads_as_host_and_port(user: str, password: str) -> bool:
    """Whether ``user:password@`` also reads as ``host:port`` and a path or query that holds an
    ``@`` (``localhost:3000/users/@ana``, ``ssh://github.com:org/repo.git@v1``). A raw ``/`` or
    ``?`` in a password ends the part of a URL before its host, so the URL reads as a password
    only where that other reading fails: something other than digits before the first of them
    (no port), and a user name that is no host name (no dot, not ``localhost``)."""
    cut = min((i for i in (password.find("/"), password.find("?")) if i >= 0), default=-1)
    if cut < 0:
        return False
    return (
        all(c in _DIGITS for c in password[:cut])
        or "." in user
        or user.translate(_ASCII_LOWER) == "localhost"
    )


def _masked_password(password: str) -> bool:
    """Masked (``****``, ``xxx``), templated (``$VAR``, ``%s``, ``<pw>``, ``{pw}``, ``[pw]``), a
    stand-in word with digits or symbols added (``password123``), or a fill-in
    (``your_password_here``). Only the whole value decides: a real password may contain
    ``Passw0rd`` or ``sample``."""
    if all(c in "*xX." for c in password) or password[0] in "$%<{[":
        return True
    lowered = password.translate(_ASCII_LOWER)
    if lowered.startswith(_ESCAPED_OPENERS):
        return True
    letters = "".join(c for c in lowered if "a" <= c <= "z")
    return (
        letters in _STAND_IN_PASSWORDS
        or lowered.startswith("your")
        or any(fragment in lowered for fragment in _MASKS)
    )


def _check_password(text: str, match: re.Match[str]) -> Span | None:
    start, end = match.span(1)
    name = _assigned_name(text, match.start())
    no_password = name.translate(_ASCII_LOWER) in _NAMES_OF_NO_PASSWORD
    if no_password or _code_expression(text, start, end):
        return None
    value = text[start:end].rstrip(".,;:")
    if _field_names(value):
        return None
    shaped = _password_shaped(value, padded=_base64_padding(text, start, end))
    if not shaped and not _typed_passphrase(name, value):
        return _typed_password_value(text, start, end, _PASSWORD_RUN)
    value_end = _assigned_value_end(text, start, end)
    return start, (start + len(value) if value_end is None else value_end)


def _password_shaped(value: str, padded: bool = False) -> bool:
    """Six characters or more, four distinct, not masked, with a digit or a symbol; the ``=``
    padding of a base64 value (``padded``) counts as one, as a Kubernetes Secret's ``data``
    holds passwords encoded (``UzNjdXJlUGEkJHcwcmQxMjM=``)."""
    if len(value) < 6 or _masked_password(value) or len(set(value)) < 4:
        return False
    has_digit = any(c in _DIGITS for c in value)
    has_symbol = any(c not in _ALNUM and c not in "._-" for c in value)
    return has_digit or has_symbol or padded


# Names that hold the keyword but no password: the shell's working directories (``PWD``,
# ``OLDPWD``) and sudoers' tag for commands run without one (``NOPASSWD: /usr/bin/apt-get``).
_NAMES_OF_NO_PASSWORD = frozenset(("pwd", "oldpwd", "nopasswd"))
# How far back the name a keyword is part of is read.
_MAX_NAME = 64


def _assigned_name(text: str, keyword_start: int) -> str:
    """The name the keyword at ``keyword_start`` ends: its word characters and up to
    ``_MAX_NAME`` before it (``DB_PASSWORD``, ``OLDPWD``)."""
    start = keyword_start
    while start > keyword_start - _MAX_NAME and _is_word(text, start - 1):
        start -= 1
    end = keyword_start
    while _is_word(text, end):
        end += 1
    return text[start:end]


def _code_expression(text: str, start: int, end: int) -> bool:
    """Whether an unquoted value is code, not a literal: a path of identifiers called or indexed
    from a name written in one case or capitalised (``hashlib.sha256(pw)``,
    ``os.environ["PW"]``, ``SecretStr(...)``), or a path of attributes from a lower-case name
    (``settings.API_KEY_V2``, ``self.token``). A password mixes cases and digits
    (``Xk9mP2vL[8]qR7``)."""
    if text[start - 1 : start] in ("'", '"'):
        return False
    segments = text[start:end].split(".")
    if not all(_identifier(segment) for segment in segments):
        return False
    first = segments[0]
    if text[end : end + 1] in ("(", "["):
        one_case = not (any(c in _LOWER for c in first) and any(c in _UPPER for c in first))
        capitalised = first[0] in _UPPER and all(c in _LOWER or c in _UPPER for c in first)
        return one_case or capitalised
    return len(segments) > 1 and all(c in _LOWER or c in _DIGITS or c == "_" for c in first)


def _identifier(word: str) -> bool:
    return word != "" and word[0] not in _DIGITS and all(c in _WORD for c in word)


def _field_names(value: str) -> bool:
    """Whether the value is a list of field names parted by colons, as ``passwd(5)`` documents
    its lines (``account:password:UID:GID:GECOS:directory:shell``)."""
    fields = value.split(":")
    return len(fields) > 1 and all(
        field and all(c in _LOWER or c in _UPPER or c == "_" for c in field) for field in fields
    )


def _base64_padding(text: str, start: int, end: int) -> bool:
    """Whether ``text[start:end]`` is base64 that one or two ``=`` complete to a multiple of four
    characters, the value ending there."""
    padding = 0
    while padding < 2 and text[end + padding : end + padding + 1] == "=":
        padding += 1
    ends = text[end + padding : end + padding + 1] not in _UNQUOTED_VALUE
    value = text[start:end]
    whole_quads = (len(value) + padding) % 4 == 0
    return padding > 0 and ends and whole_quads and all(c in _BASE64 for c in value)


def _typed_passphrase(name: str, value: str) -> bool:
    """A passphrase of letters alone under an upper-case name, as shells, ``.env`` files and
    container settings write them (``DB_PASSWORD=CorrectHorseBatteryStaple``): eight letters or
    more, four distinct, not masked, with a capital after a small letter. Prose after
    ``password:`` holds single words (``Password``) and lower-case names hold variables
    (``password = password``)."""
    upper_name = any(c in _UPPER for c in name) and not any(c in _LOWER for c in name)
    joined_words = any(a in _LOWER and b in _UPPER for a, b in pairwise(value))
    return (
        upper_name
        and len(value) >= 8
        and all(c in _LOWER or c in _UPPER for c in value)
        and joined_words
        and len(set(value)) >= 4
        and not _masked_password(value)
    )


# An API key is at least this long; the pattern reads shorter values too, for
# ``_typed_password_value`` to read on across letters with diacritics.
_MIN_API_KEY = 16


def _check_api_key(text: str, match: re.Match[str]) -> Span | None:
    start, end = match.span(1)
    span = _check_assigned_value(text, match) if end - start >= _MIN_API_KEY else None
    return span or _typed_password_value(text, start, end, _API_KEY_RUN)


def _typed_password_value(text: str, start: int, end: int, run: re.Pattern[str]) -> Span | None:
    """A value its pattern stopped at a letter with a diacritic (``password: "Pässwörd123"``),
    read on across such letters and the pattern's own characters (``run``).

    A person typed it, as no generator of keys writes such letters, so it is judged as a
    password whatever its keyword: six characters or more, four distinct, not masked, and with
    an ASCII digit. Not a symbol alone: prose after ``password:`` in German or French holds
    symbols (``Groß-/Kleinschreibung``, ``Ungültig!``) far more often than digits inside a word.
    """
    if _DIACRITIC_LETTER.match(text, end) is None:
        return None
    read_end = _run_end(text, end, run)
    if read_end is None:
        return None
    value = text[start:read_end].rstrip(".,;:")
    typed = (
        len(value) >= 6
        and len(set(value)) >= 4
        and any(c in _DIGITS for c in value)
        and not _masked_password(value)
    )
    if not typed:
        return None
    value_end = _assigned_value_end(text, start, read_end)
    return start, (start + len(value) if value_end is None else value_end)


# ---- personal data ----


def _check_email(text: str, match: re.Match[str]) -> Span | None:
    """An address around the ``@`` at the match: a local part, a domain whose last label is a
    top-level domain, neither at a URL's user information, a reserved domain or ``git@``."""
    at = match.start()
    start = _local_part_start(text, at)
    end = None if start is None else _domain_end(text, at + 1)
    if start is None or end is None:
        return None
    if _is_word(text, end) or text[end : end + 1] == "-":
        return None
    local = text[start:at]
    stripped = local.lstrip(".")
    # A local part that starts with ``-`` is a command-line option (``zip -x@list``).
    if not stripped or stripped[0] == "-" or stripped.endswith(".") or ".." in stripped:
        return None
    start += len(local) - len(stripped)
    if _in_url_userinfo(text, start):
        return None
    domain = text[at + 1 : end].translate(_ASCII_LOWER)
    if any(domain == d or domain.endswith("." + d) for d in _RESERVED_MAIL_DOMAINS):
        return None
    if stripped.translate(_ASCII_LOWER) == "git":
        return None  # ssh remotes such as git@github.com:owner/repo
    return start, end


def _is_diacritic_letter(character: str) -> bool:
    return "\u00c0" <= character <= "\u024f" and character not in "\u00d7\u00f7"


def _local_part_start(text: str, at: int) -> int | None:
    """Where the local part before ``text[at]`` starts, or None if it runs on past its bound.

    It holds ``_LOCAL_PART`` characters, letters with diacritics and troff's escaped hyphen
    ``\\-`` between them; a backslash escape in front of it (``\\fI``, ``\\n``) is not part of
    it.
    """
    position = at
    characters = 0
    while position > 0:
        before = text[position - 1]
        joins = (
            before == "\\"
            and text[position : position + 1] == "-"
            and position >= 2
            and (text[position - 2] in _LOCAL_PART or _is_diacritic_letter(text[position - 2]))
        )
        if not (before in _LOCAL_PART or _is_diacritic_letter(before) or joins):
            break
        if characters == _MAX_LOCAL_PART:
            return None
        position -= 1
        characters += 1
    if text[position - 1 : position] == "\\" and position < at:
        if text[position] == "f":
            position += 2
        elif text[position] in _ONE_CHARACTER_ESCAPES:
            position += 1
    return min(position, at)


def _domain_end(text: str, start: int) -> int | None:
    """The end of the domain at ``start``: labels of ``_LABEL`` characters and letters with
    diacritics, parted by dots, up to the last label that is a top-level domain; None if none
    is."""
    label_ends: list[int] = []
    position = start
    while len(label_ends) < _MAX_LABELS:
        label_start = position
        limit = min(len(text), label_start + _MAX_LABEL + 1)
        while position < limit and (
            text[position] in _LABEL or _is_diacritic_letter(text[position])
        ):
            position += 1
        label = text[label_start:position]
        if not label or len(label) > _MAX_LABEL or label[0] == "-" or label[-1] == "-":
            break
        label_ends.append(position)
        if text[position : position + 1] != ".":
            break
        position += 1
    for index in range(len(label_ends) - 1, 0, -1):
        label = text[label_ends[index - 1] + 1 : label_ends[index]]
        if label.translate(_ASCII_LOWER) in _top_level_domains():
            return label_ends[index]
    return None


def _in_url_userinfo(text: str, start: int) -> bool:
    """Whether ``start`` follows ``scheme://``, ``scheme://user:`` or ``scheme://user:`` and the
    start of a password (a URL, not a mailbox): ``ss@db.internal`` in
    ``postgres://admin:pa/ss@db.internal`` is the end of a password and a host. Not where the URL
    reads as ``host:port`` and a path or query (``http://host:8080/share?to=ana@mail.de``): the
    address there is one."""
    before = text[max(0, start - _MAX_USERINFO) : start]
    if before.endswith("://"):
        return True
    scheme_end = before.rfind("://")
    if scheme_end < 0:
        return False
    user, colon, password = before[scheme_end + 3 :].partition(":")
    return (
        colon == ":"
        and len(user) <= 128
        and len(password) <= 256
        and all(c in _USERINFO for c in user)
        and all(c in _URL_PASSWORD for c in password)
        and not _reads_as_host_and_port(user, password)
    )


def _phone_groups(value: str) -> tuple[list[str], set[str]] | None:
    """Digit groups and separators of a phone-shaped string, or None if it is malformed."""
    groups: list[str] = []
    separators: set[str] = set()
    position = 1 if value.startswith("+") else 0
    while position < len(value):
        opened = value[position] == "("
        position += opened
        digits_start = position
        while position < len(value) and value[position] in _DIGITS:
            position += 1
        if position == digits_start:
            return None
        groups.append(value[digits_start:position])
        if opened:
            if value[position : position + 1] != ")":
                return None
            position += 1
        if position == len(value):
            break
        separator = value[position]
        if separator == "/" or value.startswith(" / ", position):
            # A slash parts the area code from the number: 030/12345678, 089 / 123 456 78.
            if len(groups) != 1:
                return None
            separators.add("/")
            position += 1 if separator == "/" else 3
            if value[position : position + 1] not in _DIGITS:
                return None
        elif separator in " -.":
            separators.add(separator)
            position += 1
            if value[position : position + 1] in (" ", "-", ".", ")"):
                return None
        elif not (opened or separator == "("):
            return None
    return groups, separators


def _fictional_phone(digits: str) -> bool:
    """North American 555-0100..0199 and the UK Ofcom drama ranges."""
    national = digits[1:] if len(digits) == 11 and digits[0] == "1" else digits
    if len(national) == 10 and national[3:6] == "555" and national[6:8] == "01":
        return True
    uk = digits[2:] if digits.startswith("44") else digits[1:] if digits.startswith("0") else ""
    return uk.startswith(("7700900", "2079460", "1134960", "1214960", "1314960", "1614960"))


def _number_goes_on(text: str, end: int) -> bool:
    """Whether a number ending at ``end`` runs on: a word character, or a separator and a digit.

    A comma is not one: ``536-90-4399,1985`` is a field of a CSV row far more often than a number
    with a decimal comma. A colon is: ``01 00000000:00000001`` is a field of a table in hex.
    """
    return _is_word(text, end) or (
        text[end : end + 1] in (".", "-", "/", ":") and text[end + 1 : end + 2] in _DIGITS
    )


def _check_phone(text: str, match: re.Match[str]) -> Span | None:
    """A telephone number at the match's start: the whole match, or else a number written with
    ``-``, ``(`` or ``.`` that a space and more digits follow (``(212) 867-5309 9am``), cut before
    that space, or else the first of two numbers a slash lists (``0151 23456789/0151 23456780``).
    Numbers spaced alone are not cut: spaces also part a table's columns."""
    start, end = match.start(), match.end()
    if _is_word(text, start - 1) or (
        text[start - 1 : start] in ("_", ".", "/", "-", "#", "$", "+")
        and not _listed_after_phone(text, start)
    ):
        return _phone_after_slash(text, start, end)
    whole = _phone_at(text, start, end)
    if whole is not None:
        return whole
    for cut in range(end - 1, start, -1):
        if text[cut] == " " and any(c in "-(." for c in text[start:cut]):
            span = _phone_at(text, start, cut)
            if span is not None:
                return span
    return _phone_listed_before(text, start, end) or _phone_after_slash(text, start, end)


# Most characters a phone match holds: ``+``, ``(``, a digit, 22 more characters and a digit.
_MAX_PHONE = 25


def _phone_listed_before(text: str, start: int, end: int) -> Span | None:
    """The number from ``start`` to a slash inside the match, whatever follows the slash: another
    number a list holds (``0151 23456789/0151 23456780``, ``(415) 867-5309 / (415) 867-5310``)
    or a short one (``415-867-5309/12``); read whole, the slash would part an area code from the
    number."""
    for slash in range(start + 1, end):
        if text[slash] != "/":
            continue
        number_end = slash - 1 if text[slash - 1] == " " else slash
        if _phone_value(text, start, number_end):
            return start, number_end
    return None


_WHITESPACE = frozenset(" \t\r\n\f\v")
_ASCII_LETTERS = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz")


def _phone_after_slash(text: str, start: int, end: int) -> Span | None:
    """The number from a slash just before or inside the match to the match's end, when what
    precedes the slash is a label, a short number or an e-mail address (``room 12/415-867-5309``,
    ``v1.2/415-867-5309``, ``a@b.com/415-867-5309``) rather than a path or an address."""
    for slash in range(start - 1, end):
        if text[slash : slash + 1] != "/" or text[slash + 1 : slash + 2] not in "+(0123456789":
            continue
        if _starts_path_or_address(text, slash):
            return None
        span = _phone_at(text, slash + 1, end)
        if span is not None:
            return span
    return None


def _starts_path_or_address(text: str, slash: int) -> bool:
    """Whether the word before ``slash`` makes it part of a path or a web address: it is empty,
    starts with ``~`` or ``.``, holds another ``/`` (``/usr/``, ``https://``) or is a host name
    (``example.com``)."""
    word_start = slash
    while word_start > 0 and text[word_start - 1] not in _WHITESPACE:
        word_start -= 1
        if text[word_start] == "/":
            return True
    word = text[word_start:slash]
    if word == "" or word[0] in "~.":
        return True
    last_label = word.rsplit(".", 1)[-1]
    return (
        "." in word
        and "@" not in word
        and len(last_label) >= 2
        and all(c in _ASCII_LETTERS for c in last_label)
    )


def _listed_after_phone(text: str, start: int) -> bool:
    """Whether a number starting at ``start`` follows a slash that ends a list's number
    (``+1 415 867 5309/+1 415 867 5310``): a slash after anything else starts a path or date."""
    if text[start - 1 : start] != "/":
        return False
    end = start - 2 if text[start - 2 : start - 1] == " " else start - 1
    return any(
        text[first] in "+(0123456789"
        and not _is_word(text, first - 1)
        and text[first - 1 : first] not in ("_", ".", "-", "#", "$", "+")
        and _phone_value(text, first, end)
        for first in range(max(0, end - _MAX_PHONE), end)
    )


def _phone_at(text: str, start: int, end: int) -> Span | None:
    # A number joined to the next by ``+`` is part of a version (``~++20220202101403+91632c8``).
    if _number_goes_on(text, end) or text[end : end + 1] == "+":
        return None
    return (start, end) if _phone_value(text, start, end) else None


def _phone_value(text: str, start: int, end: int) -> bool:
    """Whether ``text[start:end]`` is a telephone number, whatever follows it."""
    value = text[start:end]
    parsed = _phone_groups(value)
    if parsed is None:
        return False
    groups, separators = parsed
    if "." in separators and len(separators) > 1:
        return False
    if value.startswith("00") and len(groups[0]) > 2 and len(groups) > 1:
        # The international prefix 00 written in place of ``+`` (0043 664 1234567).
        groups = [groups[0][2:], *groups[1:]]
        valid = "/" not in separators and _international(groups, separators)
    elif value.startswith("+"):
        valid = "/" not in separators and _international(groups, separators)
    elif "/" in separators:
        # A subscriber number never starts with the trunk prefix 0, so two numbers that do
        # are a list of postal codes or other figures (``zip 02139/02140``).
        valid = _national(groups, separators) and groups[1][0] != "0"
    else:
        valid = (
            _north_american(groups, separators)
            or _national(groups, separators)
            or _brazilian(value, groups)
        )
    digits = "".join(groups)
    return valid and not _fictional_phone(digits) and not _counts_up(groups, digits)


def _international(groups: list[str], separators: set[str]) -> bool:
    """An E.164 number after ``+``: at most 15 digits, a country code that does not start with 0.

    Dots after a sign are a signed decimal (``+3.14159265``) unless they split 3+ groups. Digits
    with no separator at all are a signed integer (``+12500000``) unless there are 10 or more,
    which leaves out only the shortest plans written unspaced. Country code 1 is the North
    American Numbering Plan: 10 national digits whose area code and exchange start with 2-9.
    """
    digits = "".join(groups)
    decimal = "." in separators and (len(groups) < 3 or min(map(len, groups[1:])) < 2)
    if not 8 <= len(digits) <= 15 or digits[0] == "0" or len(groups) > 7 or decimal:
        return False
    if len(groups) == 1 and len(digits) < 10:
        return False
    if digits[0] == "1":
        return len(digits) == 11 and digits[1] in "23456789" and digits[4] in "23456789"
    return True


def _north_american(groups: list[str], separators: set[str]) -> bool:
    if len(groups) == 4 and groups[0] == "1":
        groups = groups[1:]
    if [len(g) for g in groups] != [3, 3, 4]:
        return False
    return groups[0][0] in "23456789" and groups[1][0] in "23456789"


def _national(groups: list[str], separators: set[str]) -> bool:
    """A number after the trunk prefix 0: 10 to 12 digits (German mobile numbers have 12) in
    groups of two or more, the first starting with 0 and a digit 1-9. Pairs alone are a French
    number when there are five (dots may part them: 01.42.68.53.00) and a run of bytes when there
    are more (``<Buffer 3f 01 00 00 00 50 32>``)."""
    digits = "".join(groups)
    pairs = all(len(g) == 2 for g in groups)
    return (
        ("." not in separators or pairs)
        and (not pairs or len(groups) == 5)
        and len(groups) >= 2
        and 10 <= len(digits) <= 12
        and groups[0][0] == "0"
        and len(groups[0]) >= 2
        and groups[0][1] != "0"
        and all(len(g) >= 2 for g in groups)
    )


def _brazilian(value: str, groups: list[str]) -> bool:
    """A Brazilian number: a two-digit area code (11-99) in brackets, then a landline
    (2-5 and three digits) or a mobile (9 and four), a hyphen and four digits:
    ``(11) 91234-5678``."""
    if len(groups) != 3 or [len(g) for g in groups[::2]] != [2, 4] or groups[0][0] == "0":
        return False
    area, first, last = groups
    mobile = len(first) == 5 and first[0] == "9"
    landline = len(first) == 4 and first[0] in "2345"
    return (mobile or landline) and value in (f"({area}) {first}-{last}", f"({area}){first}-{last}")


def _counts_up(groups: list[str], digits: str) -> bool:
    """Digits that count up one by one (``0123 4567 89``), or groups of one width that do
    (``01 02 03 04 05``, a buffer's bytes): fillers, not numbers."""
    if all((int(b) - int(a)) % 10 == 1 for a, b in pairwise(digits)):
        return True
    widths = {len(group) for group in groups}
    return (
        len(groups) >= 3
        and len(widths) == 1
        and all(int(b) == int(a) + 1 for a, b in pairwise(groups))
    )


# Social Security numbers printed in advertising and on sample cards (SSA), and the
# ``123-45-6789`` of forms and tutorials.
_PUBLISHED_SSNS = frozenset({"078-05-1120", "219-09-9999", "123-45-6789"})


def _check_ssn(text: str, match: re.Match[str]) -> Span | None:
    """A dashed ``AAA-GG-SSSS`` the SSA could have issued: area 001-899 except 666, group and
    serial not all zeros, standing alone (not inside a longer run of digits and dashes)."""
    start, end = match.start(), match.end()
    if _is_word(text, start - 1) or text[start - 1 : start] in (".", "-", "/", "+", "#", "$"):
        return None
    if _number_goes_on(text, end):
        return None
    value = match.group()
    area, group, serial = value[0:3], value[4:6], value[7:11]
    issuable = area not in ("000", "666") and area[0] != "9"
    valid = issuable and group != "00" and serial != "0000"
    return (start, end) if valid and value not in _PUBLISHED_SSNS else None


def _luhn(digits: str) -> bool:
    total = 0
    for position, character in enumerate(reversed(digits)):
        value = ord(character) - 48
        if position % 2 == 1:
            value *= 2
            if value > 9:
                value -= 9
        total += value
    return total % 10 == 0


# Maestro's issuer prefixes. Its numbers have 12 to 19 digits; 12 are too few to tell from other
# numbers, as the candidates have 13 or more.
_MAESTRO = frozenset({5018, 5020, 5038, 5893, 6304, 6759, 6761, 6762, 6763})


def _card_brand_length(digits: str) -> bool:
    """Whether the issuer prefix allows this length (Visa, Mastercard, Amex, Discover, JCB,
    Diners, UnionPay, Maestro, Mir)."""
    length = len(digits)
    two, four, six = int(digits[:2]), int(digits[:4]), int(digits[:6])
    if digits[0] == "4":
        return length in (13, 16, 19)
    if 51 <= two <= 55 or 2221 <= four <= 2720:
        return length == 16
    if 2200 <= four <= 2204:  # Mir
        return 16 <= length <= 19
    if four in _MAESTRO:
        return 13 <= length <= 19
    if two in (34, 37):
        return length == 15
    if four == 6011 or 644 <= int(digits[:3]) <= 649 or two == 65 or 622126 <= six <= 622925:
        return 16 <= length <= 19
    if 3528 <= four <= 3589:
        return 16 <= length <= 19
    if 300 <= int(digits[:3]) <= 305 or two in (36, 38, 39):
        return 14 <= length <= 19
    if two == 62:
        return 16 <= length <= 19
    return False


def _check_card(text: str, match: re.Match[str]) -> Span | None:
    start = match.start()
    if _is_word(text, start - 1) or text[start - 1 : start] in (".", "-", "+"):
        return None
    if text[start - 1 : start] == "/" and not _listed_after_card(text, start - 1):
        return None
    value = match.group()
    separators = {c for c in value if c in " -"}
    pieces = value.replace("-", " ").split(" ")
    if "" in pieces or len(separators) > 1:
        return None
    offsets = []
    position = 0
    for piece in pieces:
        offsets.append((position, position + len(piece)))
        position += len(piece) + 1

    # The whole run first, then shorter runs of whole groups (a card next to other numbers):
    # earliest first group, then the most groups. Several groups need 3-6 digits each.
    for first in range(len(pieces)):
        lasts = []
        total = 0
        for last in range(first, len(pieces)):
            if last > first and not all(3 <= len(p) <= 6 for p in (pieces[first], pieces[last])):
                break
            total += len(pieces[last])
            if total > 19:
                break
            if total >= 13:
                lasts.append(last)
        for last in reversed(lasts):
            span = _card_in(text, start + offsets[first][0], start + offsets[last][1])
            if span is not None:
                return span
    return None


# Most characters a card's match holds: two digits and 28 between them.
_MAX_CARD_RUN = 30
_CARD_CHARACTERS = frozenset("0123456789 -")
# The fewest digits a card number the scan finds has.
_MIN_CARD_DIGITS = 13


def _listed_after_card(text: str, slash: int) -> bool:
    """Whether ``slash`` ends a card number that starts a run of its own
    (``4539148803436467/4916338506082832``): a slash after anything else starts a path."""
    run_start = slash
    while run_start > max(0, slash - _MAX_CARD_RUN) and text[run_start - 1] in _CARD_CHARACTERS:
        run_start -= 1
    return any(
        text[first] in _DIGITS
        and _starts_a_run(text, first)
        and sum(c in _DIGITS for c in text[first:slash]) >= _MIN_CARD_DIGITS
        and _card_in(text, first, slash) is not None
        for first in range(run_start, slash)
    )


def _starts_a_run(text: str, first: int) -> bool:
    """Whether a card number may start at ``first``: as ``_check_card`` allows, and not inside a
    run of groups (``4539 1488 …``)."""
    before = text[first - 1 : first]
    if _is_word(text, first - 1) or before in (".", "-", "+", "/"):
        return False
    return not (before == " " and text[first - 2 : first - 1] in _DIGITS)


def _card_in(text: str, start: int, end: int) -> Span | None:
    if _is_word(text, end) or (
        text[end : end + 1] == "." and text[end + 1 : end + 2] in _DIGITS
    ):
        return None
    digits = text[start:end].replace(" ", "").replace("-", "")
    if not _card_brand_length(digits) or not _luhn(digits) or digits in _PUBLISHED_EXAMPLES:
        return None
    separator = next((c for c in text[start:end] if c in " -"), None)
    if separator is not None and _in_a_longer_run(text, start, end, separator):
        return None
    if separator is None and _beside_a_long_integer(text, start, end):
        return None
    return start, end


# The most groups and digits a card number has: 19 digits, written 4-4-4-4-3.
_MAX_CARD_GROUPS = 5
_MAX_CARD_DIGITS = 19
# A number of this many digits or more is a 64-bit integer (a seed, an id), not a card.
_LONG_INTEGER = 17
# How many spaces, tabs and line breaks may part the numbers of a list.
_MAX_LIST_SPACE = 16


def _in_a_longer_run(text: str, start: int, end: int, separator: str) -> bool:
    """Whether the groups at ``start:end`` go on, parted by the same separator, to more groups or
    digits than a card number has: a row of figures (``4584 4615 4646 4677 4708 4740 …``).

    Only up to one group or digit past those bounds is read."""
    groups = text.count(separator, start, end) + 1
    digits = end - start - groups + 1

    def within() -> bool:
        return groups <= _MAX_CARD_GROUPS and digits <= _MAX_CARD_DIGITS

    position = end
    while within() and text[position : position + 1] == separator and _is_digit(text, position + 1):
        position += 1
        groups += 1
        while within() and _is_digit(text, position):
            position += 1
            digits += 1
    position = start
    while within() and text[position - 1 : position] == separator and _is_digit(text, position - 2):
        position -= 1
        groups += 1
        while within() and _is_digit(text, position - 1):
            position -= 1
            digits += 1
    return not within()


def _is_digit(text: str, index: int) -> bool:
    return 0 <= index < len(text) and text[index] in _DIGITS


def _beside_a_long_integer(text: str, start: int, end: int) -> bool:
    """Whether a number of ``_LONG_INTEGER`` digits or more stands next to the one at
    ``start:end``, parted by a comma or spaces: a list of 64-bit integers
    (``seed = [4220315081820346526, 7177518203184491332]``), not cards."""
    after = end + (text[end : end + 1] == ",")
    after += _list_space(text, after, 1)
    before = start - _list_space(text, start, -1)
    before -= text[before - 1 : before] == ","
    before -= _list_space(text, before, -1)
    return (after > end and _digits_from(text, after, 1) >= _LONG_INTEGER) or (
        before < start and _digits_from(text, before, -1) >= _LONG_INTEGER
    )


def _list_space(text: str, position: int, step: int) -> int:
    """How many spaces, tabs and line breaks (up to ``_MAX_LIST_SPACE``) run from ``position``
    forward (``step`` 1) or back (-1)."""
    count = 0
    index = position if step == 1 else position - 1
    while count < _MAX_LIST_SPACE and 0 <= index < len(text) and text[index] in " \t\r\n":
        count += 1
        index += step
    return count


def _digits_from(text: str, position: int, step: int) -> int:
    """How many digits (up to ``_LONG_INTEGER``) run from ``position`` forward or back."""
    count = 0
    index = position if step == 1 else position - 1
    while count < _LONG_INTEGER and _is_digit(text, index):
        count += 1
        index += step
    return count


def _iban_checksum(compact: str) -> bool:
    rearranged = compact[4:] + compact[:4]
    remainder = 0
    for character in rearranged:
        value = ord(character) - 48 if character in _DIGITS else ord(character) - 55
        remainder = (remainder * (100 if value > 9 else 10) + value) % 97
    return remainder == 1


def _check_iban(text: str, match: re.Match[str]) -> Span | None:
    start = match.start()
    if _is_word(text, start - 1):
        return None
    value = match.group()
    length = _IBAN_LENGTHS.get(value[:2])
    if length is None:
        return None
    grouped = value[4:5] == " "
    count = 0
    cut = 0
    for position, character in enumerate(value):
        if character == " ":
            if not grouped or position % 5 != 4:
                return None
            continue
        if grouped and position % 5 == 4:
            return None
        count += 1
        if count == length:
            cut = position + 1
            break
    if count < length or _is_alnum(text, start + cut):
        return None
    compact = value[:cut].replace(" ", "")
    if compact in _PUBLISHED_EXAMPLES or not _iban_checksum(compact):
        return None
    return start, start + cut


_CHECKS: dict[str, Check] = {
    "private_key": _check_private_key,
    "aws_access_key_id": _check_vendor(_fixed(4)),
    "aws_secret_access_key": _check_assigned_value,
    "gcp_api_key": _check_vendor(_fixed(4)),
    "azure_key": _check_azure,
    "github_token": _check_vendor(_up_to("_", 1)),
    "gitlab_token": _check_vendor(_fixed(6)),
    "slack_token": _check_slack,
    "stripe_key": _check_vendor(_up_to("_", 2)),
    "anthropic_key": _check_vendor(_up_to("-", 3)),
    "openai_key": _check_openai,
    "huggingface_token": _check_vendor(_fixed(3)),
    "jwt": _check_jwt,
    "connection_string": _check_connection_string,
    "authorization_header": _check_assigned_value,
    "bearer_token": _check_assigned_value,
    "password": _check_password,
    "api_key": _check_api_key,
    "email": _check_email,
    "phone": _check_phone,
    "card_number": _check_card,
    "iban": _check_iban,
    "us_ssn": _check_ssn,
}


def _check_text(text: object) -> str:
    if not isinstance(text, str):
        raise TypeError(f"text must be str, not {type(text).__name__}")
    surrogate = _SURROGATE.search(text)
    if surrogate is not None:
        raise ValueError(
            f"text has an unpaired surrogate at index {surrogate.start()}; text must be valid "
            "Unicode (replace or drop lone surrogates, e.g. with str.encode('utf-8', 'replace'))"
        )
    return text


# Detectors whose check can find a number in the first part of a match only.
_CUT_SHORT = frozenset({"phone", "card_number"})


def _next_search(
    text: str, kind: str, match: re.Match[str], span: Span | None, resumed_end: int | None
) -> tuple[int, int | None]:
    """Where to search after ``match``, and the end of the rejected match that search resumes
    inside (``resumed_end`` is the one the search that found ``match`` resumed inside).

    A number found short of its match's end (a phone before " 9am", the first of two cards)
    leaves the rest of the match to be searched again. A rejected match may be a short number
    run into a real one (``Ticket 7 415-867-5309``): the search resumes after its first space,
    not at its next character. Once only: when that search is rejected too, more numbers lie
    ahead in the same run (an IBAN's groups, a table's columns), and the search moves past them.
    """
    if kind == "connection_string" and span is None:
        # A password reads on over ``/``, so a rejected connection string may hold the start of
        # the next one (``https://cdn.io:443/a,postgres://u:pw@db``): search again from its
        # next character.
        return match.start() + 1, None
    if kind not in _CUT_SHORT:
        return match.end(), None
    if span is not None:
        return span[1], None
    resumed = resumed_end is not None and match.start() < resumed_end
    space = -1 if resumed else text.find(" ", match.start(), match.end())
    if space == -1 or (kind == "phone" and not _marked_as_phone(text, space + 1, match.end())):
        return match.end(), None
    return space + 1, match.end()


def _marked_as_phone(text: str, start: int, end: int) -> bool:
    """Whether the rest of a rejected phone match holds a mark of a telephone number (``-``,
    ``(``, ``.``): digits parted by spaces alone after a short number are a row of figures
    (``channels 128 256 512 1024``) far more often than a number."""
    return any(mark in text[start:end] for mark in "-(.")


def scan_privacy(text: str) -> list[tuple[str, str, int, int]]:
    """Secrets and personal data in ``text``: ``(kind, category, start, end)`` sorted by start.

    Offsets count characters of ``text``; overlapping findings keep the earliest, then the
    longest, then the first detector in :data:`PRIVACY_PATTERNS`.

    Raises:
        TypeError: If ``text`` is not a str.
        ValueError: If ``text`` holds an unpaired surrogate.
    """
    text = _check_text(text)
    lowered: str | None = None
    found: list[tuple[int, int, int, str, str]] = []
    for order, (kind, category, pattern) in enumerate(_COMPILED):
        keywords = _KEYWORDS.get(kind)
        if keywords is not None:
            lowered = text.lower() if lowered is None else lowered
            if not any(keyword in lowered for keyword in keywords):
                continue
        check = _CHECKS[kind]
        position = 0
        resumed_end = None
        while (match := pattern.search(text, position)) is not None:
            span = check(text, match)
            position, resumed_end = _next_search(text, kind, match, span, resumed_end)
            if span is not None:
                found.append((span[0], -(span[1] - span[0]), order, kind, category))

    found.sort()
    findings: list[tuple[str, str, int, int]] = []
    covered = 0
    for start, negative_length, _, kind, category in found:
        if start >= covered:
            findings.append((kind, category, start, start - negative_length))
            covered = start - negative_length
    return findings
