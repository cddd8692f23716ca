//! Secrets and personal data in text: cloud and API keys, private-key blocks, bearer tokens,
//! passwords in connection strings; e-mail addresses, telephone numbers, card numbers (Luhn),
//! IBANs (mod 97) and US Social Security numbers.
//!
//! The pure-Python fallback (`shoal/_pure/privacy.py`) returns the same findings. Each detector
//! is a candidate pattern plus a check that rejects look-alikes:
//!
//! * Patterns use only ASCII literals, positive ASCII classes and bounded repetition, compiled
//!   with Unicode off over bytes. Python's `re` finds the same leftmost-first matches over
//!   characters, because a non-ASCII character (or any byte of one) is never in a class.
//! * The `regex` crate runs in linear time; the checks look at a bounded window around each
//!   candidate, except the private-key body, which is read once.
//! * A password or API-key value that its pattern stops at a letter with a diacritic
//!   (U+00C0-U+024F) is read on by its check, which decodes such letters and counts characters
//!   as the twin does; an e-mail address is read around its `@` the same way.
//! * Offsets are converted from UTF-8 bytes to characters (code points) before overlapping
//!   findings are resolved, so the result is defined on the Python string.
//!
//! Documentation values are not findings: placeholders (`EXAMPLE`, `xxxx`, `your_token`), a
//! short list of values published by vendors, masked or templated passwords, reserved mail
//! domains (RFC 2606/6761), fictional telephone ranges, published test cards, IBANs and Social
//! Security numbers.

use std::collections::HashSet;
use std::fmt;
use std::sync::OnceLock;

use regex::bytes::{Regex, RegexBuilder};

pub const SECRET: &str = "secret";
pub const PERSONAL: &str = "personal";

/// A finding: kind, category and the character offsets of the sensitive part.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Finding {
    pub kind: &'static str,
    pub category: &'static str,
    pub start: usize,
    pub end: usize,
}

/// What can go wrong when scanning.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PrivacyError {
    /// A pattern failed to compile (a bug, reported rather than panicking).
    Pattern(String),
}

impl fmt::Display for PrivacyError {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Pattern(message) => {
                write!(formatter, "privacy pattern does not compile: {message}")
            }
        }
    }
}

impl std::error::Error for PrivacyError {}

macro_rules! assign {
    () => {
        r#"["']?[ \t]{0,4}(?:=>|:=|=|:)[ \t]{0,4}["']?"#
    };
}

/// Symbols a password value holds besides ASCII letters and digits.
macro_rules! password_symbols {
    () => {
        "!#$%&*+,./:;?@^_|~-"
    };
}

/// Symbols an API-key value holds besides ASCII letters and digits.
macro_rules! api_key_symbols {
    () => {
        "_./+=-"
    };
}

macro_rules! pem_label {
    () => {
        r"(?:[A-Z0-9]{1,20} ){0,3}PRIVATE KEY(?: BLOCK)?-----"
    };
}

/// `(kind, category, pattern)`; the order breaks ties between overlapping findings.
pub const PATTERNS: [(&str, &str, &str); 23] = [
    ("private_key", SECRET, concat!(r"-----BEGIN ", pem_label!())),
    (
        "aws_access_key_id",
        SECRET,
        r"(?:A3T[A-Z0-9]|AKIA|ASIA|ABIA|ACCA)[A-Z2-7]{16}",
    ),
    (
        "aws_secret_access_key",
        SECRET,
        concat!(
            r"(?i:aws_?secret_?access_?key|aws_?secret_?key|secret_?access_?key)",
            assign!(),
            r"([A-Za-z0-9/+]{40})"
        ),
    ),
    ("gcp_api_key", SECRET, r"AIza[A-Za-z0-9_-]{35}"),
    (
        "azure_key",
        SECRET,
        r"(?:AccountKey|SharedAccessKey|[?&]sig)=([A-Za-z0-9+/%]{40,100}(?:={1,2}|%3[Dd]){0,2})",
    ),
    (
        "github_token",
        SECRET,
        r"(?:ghp|gho|ghu|ghs|ghr)_[A-Za-z0-9]{36}|github_pat_[A-Za-z0-9_]{82}",
    ),
    ("gitlab_token", SECRET, r"glpat-[A-Za-z0-9_-]{20}"),
    (
        "slack_token",
        SECRET,
        concat!(
            r"xox[abposr]-[A-Za-z0-9-]{10,100}|https://hooks\.slack\.com/services/",
            r"T[A-Z0-9]{6,12}/B[A-Z0-9]{6,12}/[A-Za-z0-9]{20,32}"
        ),
    ),
    (
        "stripe_key",
        SECRET,
        r"(?:sk|rk)_(?:live|test)_[A-Za-z0-9]{20,99}",
    ),
    (
        "anthropic_key",
        SECRET,
        r"sk-ant-(?:api|admin|sid)[0-9]{2}-[A-Za-z0-9_-]{20,200}",
    ),
    (
        "openai_key",
        SECRET,
        r"sk-(?:proj-|svcacct-|admin-)?[A-Za-z0-9_-]{20,200}",
    ),
    ("huggingface_token", SECRET, r"hf_[A-Za-z0-9]{34}"),
    (
        "jwt",
        SECRET,
        r"eyJ[A-Za-z0-9_-]{10,4096}\.eyJ[A-Za-z0-9_-]{10,8192}\.[A-Za-z0-9_-]{20,4096}",
    ),
    (
        "connection_string",
        SECRET,
        concat!(
            r"://([A-Za-z0-9._~%!$&'()*+,;=-]{0,128}):",
            r"([A-Za-z0-9._~%!$&'()*+,;=:#/?\[\]{}-]{1,256})@",
            r"([A-Za-z0-9-]{1,63}(?:\.[A-Za-z0-9-]{1,63}){0,8}|\[[0-9A-Fa-f:.]{2,64}\])"
        ),
    ),
    (
        "authorization_header",
        SECRET,
        concat!(
            r"(?i:authorization)",
            assign!(),
            r"(?:(?i:bearer|basic|token|digest|bot|apikey)[ \t]{1,4})?([A-Za-z0-9._~+/=-]{12,4096})"
        ),
    ),
    (
        "bearer_token",
        SECRET,
        r"(?i:bearer)[ \t]{1,4}([A-Za-z0-9._~+/-]{20,4096}=*)",
    ),
    (
        "password",
        SECRET,
        concat!(
            r"(?i:password|passwd|passphrase|pwd|db_pass)",
            assign!(),
            r"([A-Za-z0-9",
            password_symbols!(),
            r"]{0,128})"
        ),
    ),
    (
        "api_key",
        SECRET,
        concat!(
            r"(?i:api[_-]?key|api[_-]?secret|api[_-]?token|secret[_-]?key|access[_-]?token|",
            r"auth[_-]?token|client[_-]?secret|private[_-]?token|secret)",
            assign!(),
            r"([A-Za-z0-9",
            api_key_symbols!(),
            r"]{0,256})"
        ),
    ),
    // The check reads the address around the `@`, across letters with diacritics.
    ("email", PERSONAL, r"@"),
    ("phone", PERSONAL, r"\+?\(?[0-9][0-9 ()./-]{5,22}[0-9]"),
    ("card_number", PERSONAL, r"[0-9][0-9 -]{10,28}[0-9]"),
    ("iban", PERSONAL, r"[A-Z]{2}[0-9]{2}(?:[ ]?[A-Z0-9]){10,30}"),
    ("us_ssn", PERSONAL, r"[0-9]{3}-[0-9]{2}-[0-9]{4}"),
];

/// Private-key body and end marker, matched at a position.
pub const PEM_BODY: &str =
    r"[A-Za-z0-9+/=:,. \t\r\n\\]*(?:-[A-Za-z0-9][A-Za-z0-9+/=:,. \t\r\n\\]*)*";
pub const PEM_END: &str = concat!(r"-----END ", pem_label!());

const PLACEHOLDERS: [&str; 12] = [
    "example",
    "xxxx",
    "your",
    "placeholder",
    "redacted",
    "changeme",
    "dummy",
    "sample",
    "****",
    "0000000",
    "1234567",
    "abcdefg",
];

/// A template's opening bracket escaped for HTML (`&lt;string>`, `&#x3C;string>`).
const ESCAPED_OPENERS: [&str; 3] = ["&lt;", "&#x3c;", "&#60;"];

/// Fragments that mark a password value as a mask or a template wherever they appear.
const MASKS: [&str; 8] = [
    "example",
    "xxxx",
    "placeholder",
    "redacted",
    "changeme",
    "****",
    "0000000",
    "1234567",
];

/// Words documentation writes where a password goes; a value whose letters are only one of
/// them (`password123`, `Secret!`) stands in for a password rather than being one.
const STAND_IN_PASSWORDS: [&str; 11] = [
    "password",
    "passwd",
    "passphrase",
    "pass",
    "pwd",
    "secret",
    "dummy",
    "sample",
    "test",
    "pw",
    "guest",
];

const PUBLISHED_EXAMPLES: [&str; 29] = [
    "sk_test_4eC39HqLyjWDarjtT1zdp7dc",
    "sk_test_BQokikJOvBiI2HlWgH4olfQ2",
    concat!(
        "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.",
        "eyJzdWIiOiIxMjM0NTY3ODkwIiwibmFtZSI6IkpvaG4gRG9lIiwiaWF0IjoxNTE2MjM5MDIyfQ.",
        "SflKxwRJSMeKKF2QT4fwpMeJf36POk6yJV_adQssw5c"
    ),
    "4111111111111111",
    "4242424242424242",
    "4012888888881881",
    "4000056655665556",
    "5555555555554444",
    "5105105105105100",
    "5200828282828210",
    "2223003122003222",
    "378282246310005",
    "371449635398431",
    "6011111111111117",
    "6011000990139424",
    "3056930009020004",
    "36227206271667",
    "3530111333300000",
    "3566002020360505",
    "6200000000000005",
    "4000000000000002",
    "4000000000009995",
    "DE89370400440532013000",
    "GB82WEST12345698765432",
    "GB29NWBK60161331926819",
    "FR1420041010050500013M02606",
    "NL91ABNA0417164300",
    "CH9300762011623852957",
    "GB33BUKB20201555555555",
];

const RESERVED_MAIL_DOMAINS: [&str; 3] = ["example.com", "example.net", "example.org"];

/// The top-level domains in the root zone (IANA's list, shipped with the Python package, which
/// reads the same file): an address's last label is one of them. The names RFC 2606/6761 reserve
/// (`.example`, `.test`, `.invalid`, `.localhost`) are not, nor are the suffixes that follow an
/// `@` in other notations: systemd template units (`getty@tty1.service`), gettext locales
/// (`ca@valencia.po`), UUCP Message-IDs (`<2752@sun.uucp>`), files (`icon@2x.png`).
const TOP_LEVEL_DOMAINS: &str = include_str!("../python/shoal/data/tlds-alpha-by-domain.txt");
/// Names for networks of one's own, which a person's address on their machine ends in
/// (`user@laptop.local`): mDNS's `.local` (RFC 6762), ICANN's `.internal`, and the defaults of
/// Linux distributions and home routers.
const PRIVATE_USE_DOMAINS: [&str; 5] = ["local", "internal", "localdomain", "lan", "home"];
/// Characters of an address's local part and of a domain's labels, besides letters with
/// diacritics, and their bounds (RFC 5321: 64 characters, labels of 63; at most ten labels).
const LOCAL_PART: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789._%+-";
const MAX_LOCAL_PART: usize = 64;
const MAX_LABEL: usize = 63;
const MAX_LABELS: usize = 10;
/// Escapes a backslash starts in front of an address, which are not part of it: C and JSON's
/// `\n`, `\t`, `\r` and troff's `\%` (no hyphenation here), one character long; troff's `\fX`
/// (font X) is two. Troff's `\-` (a hyphen) joins the parts of a local part.
const ONE_CHARACTER_ESCAPES: &[u8] = b"ntr%";

const SCHEME: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+.-";
const MAX_SCHEME: usize = 32;
const USERINFO: &[u8] =
    b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789._~%!$&'()*+,;=-";
/// A connection string's password characters, as its pattern reads them.
const URL_PASSWORD: &[u8] =
    b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789._~%!$&'()*+,;=:#/?[]{}-";
/// How far `scheme://user:password` reaches back from an address found inside it.
const MAX_USERINFO: usize = 3 + 128 + 1 + 256;
/// Digest algorithms of a container image pinned as `name:tag@sha256:hex`, which reads like
/// `user:password@host:port`.
const DIGEST_ALGORITHMS: [&str; 3] = ["sha256", "sha384", "sha512"];
/// The most digits a port has (65535).
const MAX_PORT_DIGITS: usize = 5;

/// IBAN length by country (ISO 13616 registry).
const IBAN_LENGTHS: [(&[u8; 2], usize); 77] = [
    (b"AD", 24),
    (b"AE", 23),
    (b"AL", 28),
    (b"AT", 20),
    (b"AZ", 28),
    (b"BA", 20),
    (b"BE", 16),
    (b"BG", 22),
    (b"BH", 22),
    (b"BR", 29),
    (b"BY", 28),
    (b"CH", 21),
    (b"CR", 22),
    (b"CY", 28),
    (b"CZ", 24),
    (b"DE", 22),
    (b"DK", 18),
    (b"DO", 28),
    (b"EE", 20),
    (b"EG", 29),
    (b"ES", 24),
    (b"FI", 18),
    (b"FO", 18),
    (b"FR", 27),
    (b"GB", 22),
    (b"GE", 22),
    (b"GI", 23),
    (b"GL", 18),
    (b"GR", 27),
    (b"GT", 28),
    (b"HR", 21),
    (b"HU", 28),
    (b"IE", 22),
    (b"IL", 23),
    (b"IQ", 23),
    (b"IS", 26),
    (b"IT", 27),
    (b"JO", 30),
    (b"KW", 30),
    (b"KZ", 20),
    (b"LB", 28),
    (b"LC", 32),
    (b"LI", 21),
    (b"LT", 20),
    (b"LU", 20),
    (b"LV", 21),
    (b"MC", 27),
    (b"MD", 24),
    (b"ME", 22),
    (b"MK", 19),
    (b"MR", 27),
    (b"MT", 31),
    (b"MU", 30),
    (b"NL", 18),
    (b"NO", 15),
    (b"PK", 24),
    (b"PL", 28),
    (b"PS", 29),
    (b"PT", 25),
    (b"QA", 29),
    (b"RO", 24),
    (b"RS", 22),
    (b"SA", 24),
    (b"SC", 31),
    (b"SE", 24),
    (b"SI", 19),
    (b"SK", 24),
    (b"SM", 27),
    (b"ST", 25),
    (b"SV", 28),
    (b"TL", 23),
    (b"TN", 24),
    (b"TR", 26),
    (b"UA", 29),
    (b"VA", 22),
    (b"VG", 24),
    (b"XK", 20),
];

struct Compiled {
    detectors: Vec<Regex>,
    pem_body: Regex,
    pem_end: Regex,
    top_level_domains: HashSet<Vec<u8>>,
}

fn build(pattern: &str) -> Result<Regex, PrivacyError> {
    RegexBuilder::new(pattern)
        .unicode(false)
        .size_limit(64 << 20)
        .dfa_size_limit(16 << 20)
        .build()
        .map_err(|error| PrivacyError::Pattern(error.to_string()))
}

fn compiled() -> Result<&'static Compiled, PrivacyError> {
    static COMPILED: OnceLock<Result<Compiled, PrivacyError>> = OnceLock::new();
    COMPILED
        .get_or_init(|| {
            let detectors = PATTERNS
                .iter()
                .map(|(_, _, p)| build(p))
                .collect::<Result<_, _>>()?;
            let top_level_domains = TOP_LEVEL_DOMAINS
                .lines()
                .map(str::trim)
                .filter(|line| !line.is_empty() && !line.starts_with('#'))
                .chain(PRIVATE_USE_DOMAINS)
                .map(|line| line.to_ascii_lowercase().into_bytes())
                .collect();
            Ok(Compiled {
                detectors,
                pem_body: build(&format!("^(?:{PEM_BODY})"))?,
                pem_end: build(&format!("^(?:{PEM_END})"))?,
                top_level_domains,
            })
        })
        .as_ref()
        .map_err(Clone::clone)
}

type Span = (usize, usize);

// ---- shared checks ----

fn is_word_byte(byte: u8) -> bool {
    byte.is_ascii_alphanumeric() || byte == b'_'
}

/// Whether the byte at `index` exists and is an ASCII letter, digit or underscore.
fn word_at(text: &[u8], index: usize) -> bool {
    text.get(index).is_some_and(|&b| is_word_byte(b))
}

fn word_before(text: &[u8], start: usize) -> bool {
    start > 0 && is_word_byte(text[start - 1])
}

fn byte_at(text: &[u8], index: usize) -> Option<u8> {
    text.get(index).copied()
}

fn byte_before(text: &[u8], start: usize) -> Option<u8> {
    if start > 0 {
        Some(text[start - 1])
    } else {
        None
    }
}

fn is_in(byte: Option<u8>, set: &[u8]) -> bool {
    byte.is_some_and(|b| set.contains(&b))
}

fn digit_at(text: &[u8], index: usize) -> bool {
    text.get(index).is_some_and(u8::is_ascii_digit)
}

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    haystack
        .windows(needle.len())
        .any(|window| window == needle)
}

fn is_placeholder(value: &[u8]) -> bool {
    let lowered = value.to_ascii_lowercase();
    PLACEHOLDERS
        .iter()
        .any(|fragment| contains(&lowered, fragment.as_bytes()))
}

fn is_published_example(value: &[u8]) -> bool {
    PUBLISHED_EXAMPLES.iter().any(|e| e.as_bytes() == value)
}

fn distinct(value: &[u8]) -> usize {
    value.iter().collect::<HashSet<_>>().len()
}

fn distinct_enough(value: &[u8]) -> bool {
    distinct(value) >= 8.min(value.len() / 2)
}

/// A vendor-prefixed token: word boundaries, and a body that is not a placeholder.
fn prefixed_token(text: &[u8], start: usize, end: usize, prefix_length: usize) -> Option<Span> {
    if word_before(text, start) || word_at(text, end) || byte_at(text, end) == Some(b'-') {
        return None;
    }
    let value = &text[start..end];
    let body = &value[prefix_length..];
    if is_published_example(value) || is_placeholder(body) || !distinct_enough(body) {
        return None;
    }
    Some((start, end))
}

/// A credential without a vendor prefix: no placeholder, two character classes, varied.
fn random_credential(value: &[u8]) -> bool {
    if is_published_example(value) || is_placeholder(value) {
        return false;
    }
    character_classes(value) >= 2 && distinct(value) >= 10.min(value.len() / 2)
}

/// How many of lower-case letters, upper-case letters and digits `value` holds.
fn character_classes(value: &[u8]) -> usize {
    usize::from(value.iter().any(u8::is_ascii_lowercase))
        + usize::from(value.iter().any(u8::is_ascii_uppercase))
        + usize::from(value.iter().any(u8::is_ascii_digit))
}

/// Length of the value up to and including the `occurrence`-th `separator`.
fn up_to(value: &[u8], separator: u8, occurrence: usize) -> usize {
    let mut seen = 0;
    for (position, &byte) in value.iter().enumerate() {
        if byte == separator {
            seen += 1;
            if seen == occurrence {
                return position + 1;
            }
        }
    }
    value.len()
}

fn rstrip<'a>(value: &'a [u8], set: &[u8]) -> &'a [u8] {
    let mut end = value.len();
    while end > 0 && set.contains(&value[end - 1]) {
        end -= 1;
    }
    &value[..end]
}

// ---- secrets ----

fn check_private_key(text: &[u8], compiled: &Compiled, start: usize, end: usize) -> Option<Span> {
    let body_end = end + compiled.pem_body.find(&text[end..]).map_or(0, |m| m.end());
    let content = &text[end..body_end];
    let key_characters = content.iter().filter(|&&b| is_base64(b)).count();
    let key_distinct = content
        .iter()
        .filter(|&&b| is_base64(b))
        .collect::<HashSet<_>>()
        .len();
    if key_characters < 40 || key_distinct < 16 {
        return None;
    }
    if let Some(ending) = compiled.pem_end.find(&text[body_end..]) {
        return Some((start, body_end + ending.end()));
    }
    Some((start, end + rstrip(content, b" \t\r\n").len()))
}

fn is_base64(byte: u8) -> bool {
    byte.is_ascii_alphanumeric() || byte == b'+' || byte == b'/'
}

/// How far an assigned value may run past the end of its pattern's group, in characters.
const MAX_VALUE_TAIL: usize = 256;

/// Closing brackets and their openers.
const BRACKETS: [(u8, u8); 3] = [(b')', b'('), (b']', b'['), (b'}', b'{')];

/// Printable ASCII except quotes, backticks and angle brackets, which close a value in shell,
/// Markdown and HTML.
fn continues_unquoted_value(byte: u8) -> bool {
    byte.is_ascii_graphic() && !b"'\"`<>".contains(&byte)
}

/// Whether a letter with a diacritic starts at `index`: Latin-1 Supplement and Latin Extended-A
/// and -B (U+00C0-U+024F) less `×` and `÷`, all two bytes in UTF-8. Letters of other scripts end
/// a value: prose written without spaces (Chinese, Japanese) would run on into it, and a
/// password rarely holds them.
fn diacritic_letter_at(text: &[u8], index: usize) -> bool {
    let (Some(&lead), Some(&next)) = (text.get(index), text.get(index + 1)) else {
        return false;
    };
    if !(0xC3..=0xC9).contains(&lead) {
        return false;
    }
    let code_point = (u32::from(lead & 0x1F) << 6) | u32::from(next & 0x3F);
    (0xC0..=0x24F).contains(&code_point) && code_point != 0xD7 && code_point != 0xF7
}

/// The end of the run of characters from `from` that `width` accepts (it gives the character's
/// length in bytes, 0 for one that ends the run), or None if the run goes on past
/// `MAX_VALUE_TAIL` characters. Characters, not bytes, as the pure-Python twin counts.
fn run_end(text: &[u8], from: usize, width: impl Fn(&[u8], usize) -> usize) -> Option<usize> {
    let (mut end, mut characters) = (from, 0);
    loop {
        let step = width(text, end);
        if step == 0 {
            return Some(end);
        }
        if characters == MAX_VALUE_TAIL {
            return None;
        }
        end += step;
        characters += 1;
    }
}

/// An unquoted value's characters: `continues_unquoted_value` and letters with diacritics.
fn unquoted_value_width(text: &[u8], index: usize) -> usize {
    if text
        .get(index)
        .is_some_and(|&b| continues_unquoted_value(b))
    {
        1
    } else if diacritic_letter_at(text, index) {
        2
    } else {
        0
    }
}

/// Where the value assigned to a keyword ends, or None to keep the pattern's end.
///
/// A value class stops at the first character outside it, so without this the rest of a secret
/// such as `'Xk9#mP2$vL(8)qR'` would survive redaction. A quoted value runs to its closing quote
/// on the same line; an unquoted one over the characters that can continue it, less sentence
/// punctuation and closing brackets it does not open. The bound (in characters, as in the
/// pure-Python twin) keeps the work per candidate fixed; a value that passes it, or a quote not
/// closed within it, keeps the pattern's end.
///
/// Only the span grows: the checks still judge the value as the pattern read it. Judged whole, a
/// quoted message (`"password": "Password is too short"`) would pass as a password with symbols,
/// and an unquoted tail (`api_key=...&redirect=https://example.com`) would turn a key into a
/// placeholder.
fn assigned_value_end(text: &[u8], value_start: usize, value_end: usize) -> Option<usize> {
    let quote = byte_before(text, value_start).filter(|b| b"'\"".contains(b));
    if let Some(quote) = quote {
        return closing_quote(text, value_end, quote);
    }
    let end = run_end(text, value_end, unquoted_value_width)?;
    Some(trim_value(text, value_start, end))
}

/// The position of `quote` within `MAX_VALUE_TAIL` characters of `from`, on the same line.
fn closing_quote(text: &[u8], from: usize, quote: u8) -> Option<usize> {
    let mut characters = 0;
    // A quote after a backslash is part of the value, as JSON and most languages escape it.
    let mut escaped = false;
    for (position, &byte) in text.iter().enumerate().skip(from) {
        if byte & 0xC0 != 0x80 {
            if characters == MAX_VALUE_TAIL {
                return None;
            }
            characters += 1;
        }
        if byte == quote && !escaped {
            return Some(position);
        }
        if byte == b'\r' || byte == b'\n' {
            return None;
        }
        escaped = byte == b'\\' && !escaped;
    }
    None
}

/// `end` less trailing `.,;:` and closing brackets the value does not open: they end the
/// sentence or the bracket around the assignment (`(password=...)`), not the value.
fn trim_value(text: &[u8], start: usize, mut end: usize) -> usize {
    let count = |byte: u8, end: usize| text[start..end].iter().filter(|&&b| b == byte).count();
    let mut unopened =
        BRACKETS.map(|(closer, opener)| count(closer, end).saturating_sub(count(opener, end)));
    while end > start {
        let last = text[end - 1];
        let bracket = BRACKETS.iter().position(|&(closer, _)| closer == last);
        if b".,;:".contains(&last) {
            end -= 1;
        } else if let Some(index) = bracket.filter(|&index| unopened[index] > 0) {
            unopened[index] -= 1;
            end -= 1;
        } else {
            break;
        }
    }
    end
}

fn check_assigned(text: &[u8], value_start: usize, value_end: usize) -> Option<Span> {
    if code_expression(text, value_start, value_end) {
        return None;
    }
    let assigned_end = assigned_value_end(text, value_start, value_end);
    // A value character right after the group means the value ran past the pattern's bound.
    let runs_on = word_at(text, value_end) || is_in(byte_at(text, value_end), b"-/+=.~");
    if assigned_end.is_none() && runs_on {
        return None;
    }
    let value = rstrip(&text[value_start..value_end], b".");
    if !random_credential(value) {
        return None;
    }
    Some((
        value_start,
        assigned_end.unwrap_or(value_start + value.len()),
    ))
}

/// An API key is at least this long; the pattern reads shorter values too, for
/// `typed_password_value` to read on across letters with diacritics.
const MIN_API_KEY: usize = 16;

fn check_api_key(text: &[u8], value_start: usize, value_end: usize) -> Option<Span> {
    let read = (value_end - value_start >= MIN_API_KEY)
        .then(|| check_assigned(text, value_start, value_end))
        .flatten();
    read.or_else(|| typed_password_value(text, value_start, value_end, &API_KEY_BYTES))
}

fn check_azure(text: &[u8], value_start: usize, value_end: usize) -> Option<Span> {
    if word_at(text, value_end) || !random_credential(&text[value_start..value_end]) {
        return None;
    }
    Some((value_start, value_end))
}

fn check_jwt(text: &[u8], start: usize, end: usize) -> Option<Span> {
    if word_before(text, start) || word_at(text, end) || is_in(byte_at(text, end), b"-.") {
        return None;
    }
    (!is_published_example(&text[start..end])).then_some((start, end))
}

/// Checks a connection string from the spans of its match, user, password and host.
fn check_connection_string(
    text: &[u8],
    (start, end): Span,
    (user, password_span, host): (Span, Span, Span),
) -> Option<Span> {
    let left = &text[start.saturating_sub(MAX_SCHEME)..start];
    let scheme = &left[rstrip(left, SCHEME).len()..];
    if scheme.len() < 2 || !scheme[0].is_ascii_alphabetic() || word_at(text, end) {
        return None;
    }
    if !host_ends_the_authority(text, host) {
        return None;
    }
    let (user, password) = (
        &text[user.0..user.1],
        &text[password_span.0..password_span.1],
    );
    // `:method:user@host` (CVS's `:pserver:anoncvs@host`) names no password.
    if user.is_empty() && password.contains(&b':') {
        return None;
    }
    if masked_password(password) || !url_password_shaped(password) {
        return None;
    }
    if reads_as_host_and_port(user, password) || reads_as_more_hosts(password) {
        return None;
    }
    Some(password_span)
}

/// Six characters or more with a digit, a symbol or letters of both cases: a word such as `xyz`,
/// `repo` or `token` in `abc:xyz@`, `github://org:repo@sha` or `gist://username:token@id` names a
/// field or stands in for a password.
fn url_password_shaped(password: &[u8]) -> bool {
    let digit_or_symbol = password.iter().any(|b| !b.is_ascii_alphabetic());
    let both_cases =
        password.iter().any(u8::is_ascii_lowercase) && password.iter().any(u8::is_ascii_uppercase);
    password.len() >= 6 && (digit_or_symbol || both_cases)
}

/// Whether `user:password@` reads as a host, its port and more hosts of a multi-host URL
/// (`https://db1.io:5432,db2.io:5433@`, `postgresql://a:123,b:456/x`): digits then a comma.
fn reads_as_more_hosts(password: &[u8]) -> bool {
    password
        .iter()
        .position(|&b| b == b',')
        .is_some_and(|comma| comma > 0 && password[..comma].iter().all(u8::is_ascii_digit))
}

/// Whether the host is followed by what may follow a host in a URL: anything but `:`, or `:` and
/// a port (up to five digits, then no letter, digit or `_`). An image pinned by digest
/// (`alpine:3.19@sha256:0f04…`) puts the digest's `algorithm:hex` where the host and port would
/// be.
fn host_ends_the_authority(text: &[u8], (host_start, host_end): Span) -> bool {
    if text.get(host_end) != Some(&b':') {
        return true;
    }
    let host = &text[host_start..host_end];
    if DIGEST_ALGORITHMS
        .iter()
        .any(|algorithm| host.eq_ignore_ascii_case(algorithm.as_bytes()))
    {
        return false;
    }
    let port_start = host_end + 1;
    let window = &text[port_start..text.len().min(port_start + MAX_PORT_DIGITS)];
    let digits = window.iter().take_while(|b| b.is_ascii_digit()).count();
    !word_at(text, port_start + digits)
}

/// Whether `user:password@` also reads as `host:port` and a path or query that holds an `@`
/// (`localhost:3000/users/@ana`, `ssh://github.com:org/repo.git@v1`). A raw `/` or `?` in a
/// password ends the part of a URL before its host, so the URL reads as a password only where
/// that other reading fails: something other than digits before the first of them (no port),
/// and a user name that is no host name (no dot, not `localhost`).
fn reads_as_host_and_port(user: &[u8], password: &[u8]) -> bool {
    let Some(cut) = password.iter().position(|b| b"/?".contains(b)) else {
        return false;
    };
    password[..cut].iter().all(u8::is_ascii_digit)
        || user.contains(&b'.')
        || user.eq_ignore_ascii_case(b"localhost")
}

/// Masked (`****`, `xxx`), templated (`$VAR`, `%s`, `<pw>`, `{pw}`, `[pw]`), a stand-in word
/// with digits or symbols added (`password123`, `secret!`), or a fill-in (`your_password_here`).
/// Only the whole value decides: a real password may contain `Passw0rd` or `sample`.
fn masked_password(password: &[u8]) -> bool {
    if password.iter().all(|b| b"*xX.".contains(b)) || b"$%<{[".contains(&password[0]) {
        return true;
    }
    let lowered = password.to_ascii_lowercase();
    if ESCAPED_OPENERS
        .iter()
        .any(|opener| lowered.starts_with(opener.as_bytes()))
    {
        return true;
    }
    let letters: Vec<u8> = lowered
        .iter()
        .copied()
        .filter(u8::is_ascii_alphabetic)
        .collect();
    STAND_IN_PASSWORDS
        .iter()
        .any(|word| word.as_bytes() == letters.as_slice())
        || lowered.starts_with(b"your")
        || MASKS
            .iter()
            .any(|fragment| contains(&lowered, fragment.as_bytes()))
}

fn check_password(
    text: &[u8],
    keyword_start: usize,
    (value_start, value_end): Span,
) -> Option<Span> {
    let name = assigned_name(text, keyword_start);
    let no_password = NAMES_OF_NO_PASSWORD
        .iter()
        .any(|other| name.eq_ignore_ascii_case(other.as_bytes()));
    if no_password || code_expression(text, value_start, value_end) {
        return None;
    }
    let value = rstrip(&text[value_start..value_end], b".,;:");
    if field_names(value) {
        return None;
    }
    let padded = base64_padding(text, value_start, value_end);
    if !password_shaped(value, padded) && !typed_passphrase(name, value) {
        return typed_password_value(text, value_start, value_end, &PASSWORD_BYTES);
    }
    let assigned_end = assigned_value_end(text, value_start, value_end);
    Some((
        value_start,
        assigned_end.unwrap_or(value_start + value.len()),
    ))
}

/// Six characters or more, four distinct, not masked, with a digit or a symbol; the `=` padding
/// of a base64 value (`padded`) counts as one, as a Kubernetes Secret's `data` holds passwords
/// encoded (`UzNjdXJlUGEkJHcwcmQxMjM=`).
fn password_shaped(value: &[u8], padded: bool) -> bool {
    if value.len() < 6 || masked_password(value) || distinct(value) < 4 {
        return false;
    }
    let has_digit = value.iter().any(u8::is_ascii_digit);
    let has_symbol = value
        .iter()
        .any(|&b| !b.is_ascii_alphanumeric() && !b"._-".contains(&b));
    has_digit || has_symbol || padded
}

/// Names that hold the keyword but no password: the shell's working directories (`PWD`,
/// `OLDPWD`) and sudoers' tag for commands run without one (`NOPASSWD: /usr/bin/apt-get`).
const NAMES_OF_NO_PASSWORD: [&str; 3] = ["pwd", "oldpwd", "nopasswd"];
/// How far back the name a keyword is part of is read.
const MAX_NAME: usize = 64;

/// The name the keyword at `keyword_start` ends: its word characters and up to `MAX_NAME` before
/// it (`DB_PASSWORD`, `OLDPWD`).
fn assigned_name(text: &[u8], keyword_start: usize) -> &[u8] {
    let mut start = keyword_start;
    while start + MAX_NAME > keyword_start && word_before(text, start) {
        start -= 1;
    }
    let mut end = keyword_start;
    while word_at(text, end) {
        end += 1;
    }
    &text[start..end]
}

/// Whether an unquoted value is code, not a literal: a path of identifiers called or indexed from
/// a name written in one case or capitalised (`hashlib.sha256(pw)`, `os.environ["PW"]`,
/// `SecretStr(...)`), or a path of attributes from a lower-case name (`settings.API_KEY_V2`,
/// `self.token`). A password mixes cases and digits (`Xk9mP2vL[8]qR7`).
fn code_expression(text: &[u8], start: usize, end: usize) -> bool {
    if is_in(byte_before(text, start), b"'\"") {
        return false;
    }
    let value = &text[start..end];
    let mut segments = value.split(|&b| b == b'.');
    if !segments.clone().all(identifier) {
        return false;
    }
    let first = segments.next().unwrap_or_default();
    if is_in(byte_at(text, end), b"([") {
        let one_case =
            !(first.iter().any(u8::is_ascii_lowercase) && first.iter().any(u8::is_ascii_uppercase));
        let capitalised =
            first[0].is_ascii_uppercase() && first.iter().all(u8::is_ascii_alphabetic);
        return one_case || capitalised;
    }
    let from_a_name = first
        .iter()
        .all(|&b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_');
    segments.next().is_some() && from_a_name
}

fn identifier(word: &[u8]) -> bool {
    !word.is_empty() && !word[0].is_ascii_digit() && word.iter().all(|&b| is_word_byte(b))
}

/// Whether the value is a list of field names parted by colons, as `passwd(5)` documents its
/// lines (`account:password:UID:GID:GECOS:directory:shell`).
fn field_names(value: &[u8]) -> bool {
    value.contains(&b':')
        && value.split(|&b| b == b':').all(|field| {
            !field.is_empty() && field.iter().all(|&b| b.is_ascii_alphabetic() || b == b'_')
        })
}

/// Whether `text[start..end]` is base64 that one or two `=` complete to a multiple of four
/// characters, the value ending there.
fn base64_padding(text: &[u8], start: usize, end: usize) -> bool {
    let padding = text[end..]
        .iter()
        .take(2)
        .take_while(|&&b| b == b'=')
        .count();
    let ends = !text
        .get(end + padding)
        .is_some_and(|&b| continues_unquoted_value(b));
    let value = &text[start..end];
    padding > 0 && ends && (value.len() + padding) % 4 == 0 && value.iter().all(|&b| is_base64(b))
}

/// A passphrase of letters alone under an upper-case name, as shells, `.env` files and container
/// settings write them (`DB_PASSWORD=CorrectHorseBatteryStaple`): eight letters or more, four
/// distinct, not masked, with a capital after a small letter. Prose after `password:` holds single
/// words (`Password`) and lower-case names hold variables (`password = password`).
fn typed_passphrase(name: &[u8], value: &[u8]) -> bool {
    let upper_name =
        name.iter().any(u8::is_ascii_uppercase) && !name.iter().any(u8::is_ascii_lowercase);
    let joined_words = value
        .windows(2)
        .any(|pair| pair[0].is_ascii_lowercase() && pair[1].is_ascii_uppercase());
    upper_name
        && value.len() >= 8
        && value.iter().all(u8::is_ascii_alphabetic)
        && joined_words
        && distinct(value) >= 4
        && !masked_password(value)
}

/// Which ASCII bytes a value holds: letters, digits and `symbols`.
const fn value_bytes(symbols: &str) -> [bool; 128] {
    let mut table = [false; 128];
    let mut byte = 0;
    while byte < 128 {
        table[byte] = (byte as u8).is_ascii_alphanumeric();
        byte += 1;
    }
    let symbols = symbols.as_bytes();
    let mut index = 0;
    while index < symbols.len() {
        table[symbols[index] as usize] = true;
        index += 1;
    }
    table
}

const PASSWORD_BYTES: [bool; 128] = value_bytes(password_symbols!());
const API_KEY_BYTES: [bool; 128] = value_bytes(api_key_symbols!());

/// A value its pattern stopped at a letter with a diacritic (`password: "Pässwörd123"`), read on
/// across such letters and the pattern's own characters (`value_bytes`).
///
/// A person typed it, as no generator of keys writes such letters, so it is judged as a password
/// whatever its keyword: six characters or more, four distinct, not masked, and with an ASCII
/// digit. Not a symbol alone: prose after `password:` in German or French holds symbols
/// (`Groß-/Kleinschreibung`, `Ungültig!`) far more often than digits inside a word.
fn typed_password_value(
    text: &[u8],
    value_start: usize,
    value_end: usize,
    value_bytes: &[bool; 128],
) -> Option<Span> {
    if !diacritic_letter_at(text, value_end) {
        return None;
    }
    let width = |text: &[u8], index: usize| match text.get(index) {
        Some(&byte) if byte < 0x80 => usize::from(value_bytes[usize::from(byte)]),
        Some(_) if diacritic_letter_at(text, index) => 2,
        _ => 0,
    };
    let read_end = run_end(text, value_end, width)?;
    let value = rstrip(&text[value_start..read_end], b".,;:");
    let characters: Vec<char> = String::from_utf8_lossy(value).chars().collect();
    let distinct_characters = characters.iter().collect::<HashSet<_>>().len();
    let typed = characters.len() >= 6
        && distinct_characters >= 4
        && value.iter().any(u8::is_ascii_digit)
        && !masked_password(value);
    if !typed {
        return None;
    }
    let assigned_end = assigned_value_end(text, value_start, read_end);
    Some((
        value_start,
        assigned_end.unwrap_or(value_start + value.len()),
    ))
}

// ---- personal data ----

/// Whether `start` follows `scheme://`, `scheme://user:` or `scheme://user:` and the start of a
/// password (a URL, not a mailbox): `ss@db.internal` in `postgres://admin:pa/ss@db.internal`
/// is the end of a password and a host. Not where the URL reads as `host:port` and a path or
/// query (`http://host:8080/share?to=ana@mail.de`): the address there is one.
fn in_url_userinfo(text: &[u8], start: usize) -> bool {
    let before = &text[start.saturating_sub(MAX_USERINFO)..start];
    if before.ends_with(b"://") {
        return true;
    }
    let Some(scheme_end) = before.windows(3).rposition(|window| window == b"://") else {
        return false;
    };
    let after_scheme = &before[scheme_end + 3..];
    let Some(colon) = after_scheme.iter().position(|&b| b == b':') else {
        return false;
    };
    let (user, password) = (&after_scheme[..colon], &after_scheme[colon + 1..]);
    user.len() <= 128
        && password.len() <= 256
        && user.iter().all(|b| USERINFO.contains(b))
        && password.iter().all(|b| URL_PASSWORD.contains(b))
        && !reads_as_host_and_port(user, password)
}

/// An address around the `@` at `at`: a local part, a domain whose last label is a top-level
/// domain, neither at a URL's user information, a reserved domain or `git@`.
fn check_email(text: &[u8], compiled: &Compiled, at: usize) -> Option<Span> {
    let start = local_part_start(text, at)?;
    let end = domain_end(text, compiled, at + 1)?;
    if word_at(text, end) || byte_at(text, end) == Some(b'-') {
        return None;
    }
    let local = &text[start..at];
    let leading_dots = local.iter().take_while(|&&b| b == b'.').count();
    let stripped = &local[leading_dots..];
    // A local part that starts with `-` is a command-line option (`zip -x@list`).
    if stripped.is_empty()
        || stripped[0] == b'-'
        || stripped.ends_with(b".")
        || contains(stripped, b"..")
    {
        return None;
    }
    let start = start + leading_dots;
    if in_url_userinfo(text, start) {
        return None;
    }
    let domain = text[at + 1..end].to_ascii_lowercase();
    let reserved = RESERVED_MAIL_DOMAINS.iter().any(|reserved| {
        domain == reserved.as_bytes()
            || (domain.ends_with(reserved.as_bytes())
                && domain[..domain.len() - reserved.len()].ends_with(b"."))
    });
    // `git@` starts the ssh remotes of git hosts (`git@github.com:owner/repo`).
    if reserved || stripped.eq_ignore_ascii_case(b"git") {
        return None;
    }
    Some((start, end))
}

/// Whether a letter with a diacritic ends at `index` (its two bytes are `index - 2..index`).
fn diacritic_letter_before(text: &[u8], index: usize) -> bool {
    index >= 2 && diacritic_letter_at(text, index - 2)
}

/// The length in bytes of the local-part character at `index`: an ASCII one of `LOCAL_PART` or a
/// letter with a diacritic; 0 for any other.
fn local_part_width_before(text: &[u8], index: usize) -> usize {
    if index == 0 {
        0
    } else if LOCAL_PART.contains(&text[index - 1]) {
        1
    } else if diacritic_letter_before(text, index) {
        2
    } else {
        0
    }
}

/// Where the local part before `text[at]` starts, or None if it runs on past its bound.
///
/// It holds `LOCAL_PART` characters, letters with diacritics and troff's escaped hyphen `\-`
/// between them; a backslash escape in front of it (`\fI`, `\n`) is not part of it.
fn local_part_start(text: &[u8], at: usize) -> Option<usize> {
    let (mut position, mut characters) = (at, 0);
    loop {
        let mut width = local_part_width_before(text, position);
        let joins = position >= 2
            && text[position - 1] == b'\\'
            && text.get(position) == Some(&b'-')
            && local_part_width_before(text, position - 1) > 0;
        if joins {
            width = 1;
        }
        if width == 0 {
            break;
        }
        if characters == MAX_LOCAL_PART {
            return None;
        }
        position -= width;
        characters += 1;
    }
    if position > 0 && text[position - 1] == b'\\' && position < at {
        if text[position] == b'f' {
            position += 1 + character_width(text, position + 1);
        } else if ONE_CHARACTER_ESCAPES.contains(&text[position]) {
            position += 1;
        }
    }
    Some(position.min(at))
}

/// The length in bytes of the UTF-8 character starting at `index`, 0 past the end.
fn character_width(text: &[u8], index: usize) -> usize {
    match text.get(index) {
        None => 0,
        Some(&lead) if lead < 0x80 => 1,
        Some(&lead) if lead < 0xE0 => 2,
        Some(&lead) if lead < 0xF0 => 3,
        Some(_) => 4,
    }
}

/// The length in bytes of the label character at `index`: an ASCII letter, digit or `-`, or a
/// letter with a diacritic; 0 for any other.
fn label_width_at(text: &[u8], index: usize) -> usize {
    match text.get(index) {
        Some(&byte) if byte.is_ascii_alphanumeric() || byte == b'-' => 1,
        Some(_) if diacritic_letter_at(text, index) => 2,
        _ => 0,
    }
}

/// The end of the domain at `start`: labels of ASCII letters, digits, `-` and letters with
/// diacritics, parted by dots, up to the last label that is a top-level domain; None if none is.
fn domain_end(text: &[u8], compiled: &Compiled, start: usize) -> Option<usize> {
    let mut labels: Vec<Span> = Vec::new();
    let mut position = start;
    while labels.len() < MAX_LABELS {
        let label_start = position;
        let mut characters = 0;
        while characters <= MAX_LABEL {
            let width = label_width_at(text, position);
            if width == 0 {
                break;
            }
            position += width;
            characters += 1;
        }
        let label = &text[label_start..position];
        if label.is_empty() || characters > MAX_LABEL || label[0] == b'-' || label.ends_with(b"-") {
            break;
        }
        labels.push((label_start, position));
        if text.get(position) != Some(&b'.') {
            break;
        }
        position += 1;
    }
    labels
        .iter()
        .skip(1)
        .rev()
        .find(|&&(label_start, label_end)| {
            let label = text[label_start..label_end].to_ascii_lowercase();
            compiled.top_level_domains.contains(&label)
        })
        .map(|&(_, label_end)| label_end)
}

/// Digit groups and separators of a phone-shaped string, or None if it is malformed.
fn phone_groups(value: &[u8]) -> Option<(Vec<&[u8]>, Vec<u8>)> {
    let mut groups = Vec::new();
    let mut separators = Vec::new();
    let mut position = usize::from(value.first() == Some(&b'+'));
    while position < value.len() {
        let opened = value[position] == b'(';
        position += usize::from(opened);
        let digits_start = position;
        while position < value.len() && value[position].is_ascii_digit() {
            position += 1;
        }
        if position == digits_start {
            return None;
        }
        groups.push(&value[digits_start..position]);
        if opened {
            if value.get(position) != Some(&b')') {
                return None;
            }
            position += 1;
        }
        if position == value.len() {
            break;
        }
        let separator = value[position];
        if separator == b'/' || value[position..].starts_with(b" / ") {
            // A slash parts the area code from the number: 030/12345678, 089 / 123 456 78.
            if groups.len() != 1 {
                return None;
            }
            if !separators.contains(&b'/') {
                separators.push(b'/');
            }
            position += if separator == b'/' { 1 } else { 3 };
            if !value.get(position).is_some_and(u8::is_ascii_digit) {
                return None;
            }
        } else if b" -.".contains(&separator) {
            if !separators.contains(&separator) {
                separators.push(separator);
            }
            position += 1;
            if is_in(value.get(position).copied(), b" -.)") {
                return None;
            }
        } else if !(opened || separator == b'(') {
            return None;
        }
    }
    Some((groups, separators))
}

/// North American 555-0100..0199 and the UK Ofcom drama ranges.
fn fictional_phone(digits: &[u8]) -> bool {
    let national = if digits.len() == 11 && digits[0] == b'1' {
        &digits[1..]
    } else {
        digits
    };
    if national.len() == 10 && &national[3..6] == b"555" && &national[6..8] == b"01" {
        return true;
    }
    let uk: &[u8] = if digits.starts_with(b"44") {
        &digits[2..]
    } else if digits.starts_with(b"0") {
        &digits[1..]
    } else {
        b""
    };
    [
        "7700900", "2079460", "1134960", "1214960", "1314960", "1614960",
    ]
    .iter()
    .any(|prefix| uk.starts_with(prefix.as_bytes()))
}

/// Whether a number ending at `end` runs on: a word character, or a separator and a digit.
/// A comma is not one: `536-90-4399,1985` is a field of a CSV row far more often than a number
/// with a decimal comma. A colon is: `01 00000000:00000001` is a field of a table in hex.
fn number_goes_on(text: &[u8], end: usize) -> bool {
    word_at(text, end) || (is_in(byte_at(text, end), b".-/:") && digit_at(text, end + 1))
}

/// A telephone number at `start`: the whole candidate, or else a number written with `-`, `(`
/// or `.` that a space and more digits follow (`(212) 867-5309 9am`, `212-867-5309 1985`), cut
/// before that space, or else the first of two numbers a slash lists (`0151 23456789/0151
/// 23456780`). Numbers spaced alone are not cut: spaces also part a table's columns.
fn check_phone(text: &[u8], start: usize, end: usize) -> Option<Span> {
    if word_before(text, start)
        || (is_in(byte_before(text, start), b"_./-#$+") && !listed_after_phone(text, start))
    {
        return phone_after_slash(text, start, end);
    }
    phone_at(text, start, end)
        .or_else(|| {
            (start + 1..end)
                .rev()
                .filter(|&cut| {
                    text[cut] == b' ' && text[start..cut].iter().any(|b| b"-(.".contains(b))
                })
                .find_map(|cut| phone_at(text, start, cut))
        })
        .or_else(|| phone_listed_before(text, start, end))
        .or_else(|| phone_after_slash(text, start, end))
}

/// Most bytes a phone candidate holds: `+`, `(`, a digit, 22 more bytes and a digit.
const MAX_PHONE: usize = 25;

/// The number from `start` to a slash inside the candidate, whatever follows the slash: another
/// number a list holds (`0151 23456789/0151 23456780`, `(415) 867-5309 / (415) 867-5310`) or a
/// short one (`415-867-5309/12`); read whole, the slash would part an area code from the number.
fn phone_listed_before(text: &[u8], start: usize, end: usize) -> Option<Span> {
    (start + 1..end)
        .filter(|&slash| text[slash] == b'/')
        .find_map(|slash| {
            let number_end = if text[slash - 1] == b' ' {
                slash - 1
            } else {
                slash
            };
            phone_value(text, start, number_end).then_some((start, number_end))
        })
}

/// The number from a slash just before or inside the candidate to the candidate's end, when
/// what precedes the slash is a label, a short number or an e-mail address (`room
/// 12/415-867-5309`, `v1.2/415-867-5309`, `a@b.com/415-867-5309`) rather than a path or an
/// address.
fn phone_after_slash(text: &[u8], start: usize, end: usize) -> Option<Span> {
    for slash in start.saturating_sub(1)..end {
        if text[slash] != b'/' || !is_in(byte_at(text, slash + 1), b"+(0123456789") {
            continue;
        }
        if starts_path_or_address(text, slash) {
            return None;
        }
        if let Some(span) = phone_at(text, slash + 1, end) {
            return Some(span);
        }
    }
    None
}

/// Whether the word before `slash` makes it part of a path or a web address: it is empty,
/// starts with `~` or `.`, holds another `/` (`/usr/`, `https://`) or is a host name
/// (`example.com`).
fn starts_path_or_address(text: &[u8], slash: usize) -> bool {
    let mut word_start = slash;
    while word_start > 0 && !b" \t\r\n\x0c\x0b".contains(&text[word_start - 1]) {
        word_start -= 1;
        if text[word_start] == b'/' {
            return true;
        }
    }
    let word = &text[word_start..slash];
    if word.is_empty() || b"~.".contains(&word[0]) {
        return true;
    }
    let last_label = word.rsplit(|&b| b == b'.').next().unwrap_or(word);
    word.contains(&b'.')
        && !word.contains(&b'@')
        && last_label.len() >= 2
        && last_label.iter().all(u8::is_ascii_alphabetic)
}

/// Whether a number starting at `start` follows a slash that ends a list's number (`+1 415 867
/// 5309/+1 415 867 5310`): a slash after anything else starts a path or a date.
fn listed_after_phone(text: &[u8], start: usize) -> bool {
    if byte_before(text, start) != Some(b'/') {
        return false;
    }
    let end = if start >= 2 && text[start - 2] == b' ' {
        start - 2
    } else {
        start - 1
    };
    (end.saturating_sub(MAX_PHONE)..end).any(|first| {
        b"+(0123456789".contains(&text[first])
            && !word_before(text, first)
            && !is_in(byte_before(text, first), b"_.-#$+")
            && phone_value(text, first, end)
    })
}

fn phone_at(text: &[u8], start: usize, end: usize) -> Option<Span> {
    // A number joined to the next by `+` is part of a version (`~++20220202101403+91632c8`).
    if number_goes_on(text, end) || byte_at(text, end) == Some(b'+') {
        return None;
    }
    phone_value(text, start, end).then_some((start, end))
}

/// Whether `text[start..end]` is a telephone number, whatever follows it.
fn phone_value(text: &[u8], start: usize, end: usize) -> bool {
    let value = &text[start..end];
    let Some((mut groups, separators)) = phone_groups(value) else {
        return false;
    };
    if separators.contains(&b'.') && separators.len() > 1 {
        return false;
    }
    let slash = separators.contains(&b'/');
    let valid = if value.starts_with(b"00") && groups[0].len() > 2 && groups.len() > 1 {
        // The international prefix 00 written in place of `+` (0043 664 1234567).
        groups[0] = &groups[0][2..];
        !slash && international(&groups, &separators)
    } else if value[0] == b'+' {
        !slash && international(&groups, &separators)
    } else if slash {
        // A subscriber number never starts with the trunk prefix 0, so two numbers that do are
        // a list of postal codes or other figures (`zip 02139/02140`).
        national(&groups, &separators) && groups[1][0] != b'0'
    } else {
        north_american(&groups) || national(&groups, &separators) || brazilian(value, &groups)
    };
    let digits: Vec<u8> = groups.concat();
    valid && !fictional_phone(&digits) && !counts_up(&groups, &digits)
}

/// An E.164 number after `+`: at most 15 digits, a country code that does not start with 0.
///
/// Dots after a sign are a signed decimal (`+3.14159265`) unless they split 3+ groups. Digits
/// with no separator at all are a signed integer (`+12500000`) unless there are 10 or more,
/// which leaves out only the shortest plans written unspaced. Country code 1 is the North
/// American Numbering Plan: 10 national digits whose area code and exchange start with 2-9.
fn international(groups: &[&[u8]], separators: &[u8]) -> bool {
    let digits: Vec<u8> = groups.concat();
    let decimal =
        separators.contains(&b'.') && (groups.len() < 3 || groups[1..].iter().any(|g| g.len() < 2));
    if !(8..=15).contains(&digits.len()) || digits[0] == b'0' || groups.len() > 7 || decimal {
        return false;
    }
    if groups.len() == 1 && digits.len() < 10 {
        return false;
    }
    if digits[0] == b'1' {
        let leading = |digit: u8| (b'2'..=b'9').contains(&digit);
        return digits.len() == 11 && leading(digits[1]) && leading(digits[4]);
    }
    true
}

fn north_american(groups: &[&[u8]]) -> bool {
    let groups = if groups.len() == 4 && groups[0] == b"1" {
        &groups[1..]
    } else {
        groups
    };
    let lengths: Vec<usize> = groups.iter().map(|g| g.len()).collect();
    let leading = |group: &[u8]| (b'2'..=b'9').contains(&group[0]);
    lengths == [3, 3, 4] && leading(groups[0]) && leading(groups[1])
}

/// A number after the trunk prefix 0: 10 to 12 digits (German mobile numbers have 12) in groups
/// of two or more, the first starting with 0 and a digit 1-9. Pairs alone are a French number
/// when there are five (dots may part them: 01.42.68.53.00) and a run of bytes when there are
/// more (`<Buffer 3f 01 00 00 00 50 32>`).
fn national(groups: &[&[u8]], separators: &[u8]) -> bool {
    let digits: usize = groups.iter().map(|g| g.len()).sum();
    let pairs = groups.iter().all(|g| g.len() == 2);
    (!separators.contains(&b'.') || pairs)
        && (!pairs || groups.len() == 5)
        && groups.len() >= 2
        && (10..=12).contains(&digits)
        && groups[0][0] == b'0'
        && groups[0].len() >= 2
        && groups[0][1] != b'0'
        && groups.iter().all(|g| g.len() >= 2)
}

/// A Brazilian number: a two-digit area code (11-99) in brackets, then a landline (2-5 and three
/// digits) or a mobile (9 and four), a hyphen and four digits: `(11) 91234-5678`.
fn brazilian(value: &[u8], groups: &[&[u8]]) -> bool {
    let [area, first, last] = groups else {
        return false;
    };
    if area.len() != 2 || last.len() != 4 || area[0] == b'0' {
        return false;
    }
    let mobile = first.len() == 5 && first[0] == b'9';
    let landline = first.len() == 4 && (b'2'..=b'5').contains(&first[0]);
    let written = |space: &[u8]| [&b"("[..], area, b")", space, first, b"-", last].concat();
    (mobile || landline) && (value == written(b" ") || value == written(b""))
}

/// Digits that count up one by one (`0123 4567 89`), or groups of one width that do
/// (`01 02 03 04 05`, a buffer's bytes): fillers, not numbers.
fn counts_up(groups: &[&[u8]], digits: &[u8]) -> bool {
    if digits
        .windows(2)
        .all(|pair| (pair[1] + 10 - pair[0]) % 10 == 1)
    {
        return true;
    }
    // A candidate has at most 24 characters, so a group's value fits.
    let value = |group: &[u8]| {
        group
            .iter()
            .fold(0u128, |acc, &b| acc * 10 + u128::from(b - b'0'))
    };
    groups.len() >= 3
        && groups.iter().all(|g| g.len() == groups[0].len())
        && groups
            .windows(2)
            .all(|pair| value(pair[1]) == value(pair[0]) + 1)
}

/// Social Security numbers printed in advertising and on sample cards (SSA), and the
/// `123-45-6789` of forms and tutorials.
const PUBLISHED_SSNS: [&[u8]; 3] = [b"078-05-1120", b"219-09-9999", b"123-45-6789"];

/// A dashed `AAA-GG-SSSS` the SSA could have issued: area 001-899 except 666, group and serial
/// not all zeros, standing alone (not inside a longer run of digits and dashes).
fn check_ssn(text: &[u8], start: usize, end: usize) -> Option<Span> {
    if word_before(text, start) || is_in(byte_before(text, start), b".-/+#$") {
        return None;
    }
    if number_goes_on(text, end) {
        return None;
    }
    let value = &text[start..end];
    let (area, group, serial) = (&value[0..3], &value[4..6], &value[7..11]);
    let issuable = area != b"000" && area != b"666" && area[0] != b'9';
    let valid = issuable && group != b"00" && serial != b"0000";
    (valid && !PUBLISHED_SSNS.contains(&value)).then_some((start, end))
}

fn luhn(digits: &[u8]) -> bool {
    let mut total = 0u32;
    for (position, &character) in digits.iter().rev().enumerate() {
        let mut value = u32::from(character - b'0');
        if position % 2 == 1 {
            value *= 2;
            if value > 9 {
                value -= 9;
            }
        }
        total += value;
    }
    total % 10 == 0
}

fn leading_number(digits: &[u8], count: usize) -> u32 {
    digits[..count]
        .iter()
        .fold(0, |acc, &b| acc * 10 + u32::from(b - b'0'))
}

/// Maestro's issuer prefixes. Its numbers have 12 to 19 digits; 12 are too few to tell from
/// other numbers, as the candidates have 13 or more.
const MAESTRO: [u32; 9] = [5018, 5020, 5038, 5893, 6304, 6759, 6761, 6762, 6763];

/// Whether the issuer prefix allows this length (Visa, Mastercard, Amex, Discover, JCB, Diners,
/// UnionPay, Maestro, Mir).
fn card_brand_length(digits: &[u8]) -> bool {
    let length = digits.len();
    let (two, three) = (leading_number(digits, 2), leading_number(digits, 3));
    let (four, six) = (leading_number(digits, 4), leading_number(digits, 6));
    if digits[0] == b'4' {
        return [13, 16, 19].contains(&length);
    }
    if (51..=55).contains(&two) || (2221..=2720).contains(&four) {
        return length == 16;
    }
    if (2200..=2204).contains(&four) {
        // Mir
        return (16..=19).contains(&length);
    }
    if MAESTRO.contains(&four) {
        return (13..=19).contains(&length);
    }
    if two == 34 || two == 37 {
        return length == 15;
    }
    let discover = four == 6011 || (644..=649).contains(&three) || two == 65;
    if discover || (622_126..=622_925).contains(&six) {
        return (16..=19).contains(&length);
    }
    if (3528..=3589).contains(&four) {
        return (16..=19).contains(&length);
    }
    if (300..=305).contains(&three) || [36, 38, 39].contains(&two) {
        return (14..=19).contains(&length);
    }
    if two == 62 {
        return (16..=19).contains(&length);
    }
    false
}

fn check_card(text: &[u8], start: usize, end: usize) -> Option<Span> {
    if word_before(text, start) || is_in(byte_before(text, start), b".-+") {
        return None;
    }
    if byte_before(text, start) == Some(b'/') && !listed_after_card(text, start - 1) {
        return None;
    }
    let value = &text[start..end];
    let has_space = value.contains(&b' ');
    let has_hyphen = value.contains(&b'-');
    let pieces: Vec<&[u8]> = value.split(|&b| b == b' ' || b == b'-').collect();
    if pieces.iter().any(|p| p.is_empty()) || (has_space && has_hyphen) {
        return None;
    }
    let mut offsets = Vec::with_capacity(pieces.len());
    let mut position = 0;
    for piece in &pieces {
        offsets.push((position, position + piece.len()));
        position += piece.len() + 1;
    }

    // The whole run first, then shorter runs of whole groups (a card next to other numbers):
    // earliest first group, then the most groups. Several groups need 3-6 digits each.
    for first in 0..pieces.len() {
        let mut lasts = Vec::new();
        let mut total = 0;
        for last in first..pieces.len() {
            let grouped = |p: &[u8]| (3..=6).contains(&p.len());
            if last > first && !(grouped(pieces[first]) && grouped(pieces[last])) {
                break;
            }
            total += pieces[last].len();
            if total > 19 {
                break;
            }
            if total >= 13 {
                lasts.push(last);
            }
        }
        for &last in lasts.iter().rev() {
            if let Some(span) = card_in(text, start + offsets[first].0, start + offsets[last].1) {
                return Some(span);
            }
        }
    }
    None
}

/// Most bytes a card's candidate holds: two digits and 28 between them.
const MAX_CARD_RUN: usize = 30;

/// Whether `slash` ends a card number that starts a run of its own
/// (`4539148803436467/4916338506082832`): a slash after anything else starts a path.
fn listed_after_card(text: &[u8], slash: usize) -> bool {
    let mut run_start = slash;
    while run_start > slash.saturating_sub(MAX_CARD_RUN)
        && b"0123456789 -".contains(&text[run_start - 1])
    {
        run_start -= 1;
    }
    (run_start..slash).any(|first| {
        text[first].is_ascii_digit()
            && starts_a_run(text, first)
            && text[first..slash]
                .iter()
                .filter(|b| b.is_ascii_digit())
                .count()
                >= 13
            && card_in(text, first, slash).is_some()
    })
}

/// Whether a card number may start at `first`: as `check_card` allows, and not inside a run of
/// groups (`4539 1488 …`).
fn starts_a_run(text: &[u8], first: usize) -> bool {
    let before = byte_before(text, first);
    if word_before(text, first) || is_in(before, b".-+/") {
        return false;
    }
    !(before == Some(b' ') && first >= 2 && text[first - 2].is_ascii_digit())
}

fn card_in(text: &[u8], start: usize, end: usize) -> Option<Span> {
    if word_at(text, end) || (byte_at(text, end) == Some(b'.') && digit_at(text, end + 1)) {
        return None;
    }
    let digits: Vec<u8> = text[start..end]
        .iter()
        .copied()
        .filter(u8::is_ascii_digit)
        .collect();
    if !card_brand_length(&digits) || !luhn(&digits) || is_published_example(&digits) {
        return None;
    }
    let separator = text[start..end].iter().copied().find(|b| b" -".contains(b));
    let in_a_row = match separator {
        Some(separator) => in_a_longer_run(text, (start, end), separator),
        None => beside_a_long_integer(text, start, end),
    };
    (!in_a_row).then_some((start, end))
}

/// The most groups and digits a card number has: 19 digits, written 4-4-4-4-3.
const MAX_CARD_GROUPS: usize = 5;
const MAX_CARD_DIGITS: usize = 19;
/// A number of this many digits or more is a 64-bit integer (a seed, an id), not a card.
const LONG_INTEGER: usize = 17;
/// How many spaces, tabs and line breaks may part the numbers of a list.
const MAX_LIST_SPACE: usize = 16;

/// Whether the groups at `start..end` go on, parted by the same separator, to more groups or
/// digits than a card number has: a row of figures (`4584 4615 4646 4677 4708 4740 …`). Only up
/// to one group or digit past those bounds is read.
fn in_a_longer_run(text: &[u8], (start, end): Span, separator: u8) -> bool {
    let mut groups = text[start..end].iter().filter(|&&b| b == separator).count() + 1;
    let mut digits = end - start - (groups - 1);
    let within =
        |groups: usize, digits: usize| groups <= MAX_CARD_GROUPS && digits <= MAX_CARD_DIGITS;

    let mut position = end;
    while within(groups, digits)
        && text.get(position) == Some(&separator)
        && digit_at(text, position + 1)
    {
        position += 1;
        groups += 1;
        while within(groups, digits) && digit_at(text, position) {
            position += 1;
            digits += 1;
        }
    }
    position = start;
    while within(groups, digits)
        && position >= 2
        && text[position - 1] == separator
        && digit_at(text, position - 2)
    {
        position -= 1;
        groups += 1;
        while within(groups, digits) && position >= 1 && digit_at(text, position - 1) {
            position -= 1;
            digits += 1;
        }
    }
    !within(groups, digits)
}

/// Whether a number of `LONG_INTEGER` digits or more stands next to the one at `start..end`,
/// parted by a comma or spaces: a list of 64-bit integers
/// (`seed = [4220315081820346526, 7177518203184491332]`), not cards.
fn beside_a_long_integer(text: &[u8], start: usize, end: usize) -> bool {
    let mut after = end + usize::from(byte_at(text, end) == Some(b','));
    after += list_space_after(text, after);
    let mut before = start - list_space_before(text, start);
    before -= usize::from(byte_before(text, before) == Some(b','));
    before -= list_space_before(text, before);
    let digits_after = text[after..]
        .iter()
        .take(LONG_INTEGER)
        .take_while(|b| b.is_ascii_digit())
        .count();
    let digits_before = text[..before]
        .iter()
        .rev()
        .take(LONG_INTEGER)
        .take_while(|b| b.is_ascii_digit())
        .count();
    (after > end && digits_after >= LONG_INTEGER)
        || (before < start && digits_before >= LONG_INTEGER)
}

fn is_list_space(byte: u8) -> bool {
    b" \t\r\n".contains(&byte)
}

/// How many spaces, tabs and line breaks (up to `MAX_LIST_SPACE`) follow `position`.
fn list_space_after(text: &[u8], position: usize) -> usize {
    text[position..]
        .iter()
        .take(MAX_LIST_SPACE)
        .take_while(|&&b| is_list_space(b))
        .count()
}

/// How many spaces, tabs and line breaks (up to `MAX_LIST_SPACE`) come before `position`.
fn list_space_before(text: &[u8], position: usize) -> usize {
    text[..position]
        .iter()
        .rev()
        .take(MAX_LIST_SPACE)
        .take_while(|&&b| is_list_space(b))
        .count()
}

fn iban_checksum(compact: &[u8]) -> bool {
    let mut remainder = 0u32;
    for &character in compact[4..].iter().chain(&compact[..4]) {
        let value = if character.is_ascii_digit() {
            u32::from(character - b'0')
        } else {
            u32::from(character) - 55
        };
        remainder = (remainder * if value > 9 { 100 } else { 10 } + value) % 97;
    }
    remainder == 1
}

fn check_iban(text: &[u8], start: usize, end: usize) -> Option<Span> {
    if word_before(text, start) {
        return None;
    }
    let value = &text[start..end];
    let length = IBAN_LENGTHS
        .iter()
        .find(|(code, _)| code[..] == value[..2])?
        .1;
    let grouped = value.get(4) == Some(&b' ');
    let mut count = 0;
    let mut cut = 0;
    for (position, &character) in value.iter().enumerate() {
        if character == b' ' {
            if !grouped || position % 5 != 4 {
                return None;
            }
            continue;
        }
        if grouped && position % 5 == 4 {
            return None;
        }
        count += 1;
        if count == length {
            cut = position + 1;
            break;
        }
    }
    if count < length || text.get(start + cut).is_some_and(u8::is_ascii_alphanumeric) {
        return None;
    }
    let compact: Vec<u8> = value[..cut]
        .iter()
        .copied()
        .filter(|&b| b != b' ')
        .collect();
    if is_published_example(&compact) || !iban_checksum(&compact) {
        return None;
    }
    Some((start, start + cut))
}

// ---- scanning ----

/// Runs detector `order` over `text`, returning byte spans.
fn detect(text: &[u8], compiled: &Compiled, order: usize, spans: &mut Vec<(Span, usize)>) {
    let (kind, _, _) = PATTERNS[order];
    let regex = &compiled.detectors[order];
    if regex.captures_len() > 1 {
        let mut position = 0;
        while let Some(captures) = regex.captures_at(text, position) {
            let whole = captures.get(0).map_or((0, 0), |m| (m.start(), m.end()));
            let group = |index: usize| captures.get(index).map(|m| (m.start(), m.end()));
            let span = match kind {
                "connection_string" => match (group(1), group(2), group(3)) {
                    (Some(user), Some(password), Some(host)) => {
                        check_connection_string(text, whole, (user, password, host))
                    }
                    _ => None,
                },
                "azure_key" => group(1).and_then(|(s, e)| check_azure(text, s, e)),
                "password" => group(1).and_then(|value| check_password(text, whole.0, value)),
                "api_key" => group(1).and_then(|(s, e)| check_api_key(text, s, e)),
                _ => group(1).and_then(|(s, e)| check_assigned(text, s, e)),
            };
            // A password reads on over `/`, so a rejected connection string may hold the start
            // of the next one (`https://cdn.io:443/a,postgres://u:pw@db`): search again from
            // its next byte.
            let rejected_url = kind == "connection_string" && span.is_none();
            position = if rejected_url { whole.0 + 1 } else { whole.1 };
            if let Some(span) = span {
                spans.push((span, order));
            }
        }
        return;
    }
    let (mut position, mut resumed_end) = (0, None);
    while let Some(found) = regex.find_at(text, position) {
        let (start, end) = (found.start(), found.end());
        let value = &text[start..end];
        let span = match kind {
            "private_key" => check_private_key(text, compiled, start, end),
            "aws_access_key_id" | "gcp_api_key" => prefixed_token(text, start, end, 4),
            "github_token" => prefixed_token(text, start, end, up_to(value, b'_', 1)),
            "gitlab_token" => prefixed_token(text, start, end, 6),
            "slack_token" => {
                let prefix = if value.starts_with(b"xox") {
                    5
                } else {
                    "https://hooks.slack.com/services/".len()
                };
                prefixed_token(text, start, end, prefix)
            }
            "stripe_key" => prefixed_token(text, start, end, up_to(value, b'_', 2)),
            "anthropic_key" => prefixed_token(text, start, end, up_to(value, b'-', 3)),
            // A bare `sk-` prefix is common in prose (`sk-learn`): the body must mix classes.
            "openai_key" if value.starts_with(b"sk-ant-") || character_classes(&value[3..]) < 2 => {
                None
            }
            "openai_key" => prefixed_token(text, start, end, up_to(value, b'-', 1)),
            "huggingface_token" => prefixed_token(text, start, end, 3),
            "jwt" => check_jwt(text, start, end),
            "email" => check_email(text, compiled, start),
            "phone" => check_phone(text, start, end),
            "card_number" => check_card(text, start, end),
            "iban" => check_iban(text, start, end),
            "us_ssn" => check_ssn(text, start, end),
            _ => None,
        };
        (position, resumed_end) = next_search(text, kind, (start, end), span, resumed_end);
        if let Some(span) = span {
            spans.push((span, order));
        }
    }
}

/// Detectors whose check can find a number in the first part of a candidate only.
const CUT_SHORT: [&str; 2] = ["phone", "card_number"];

/// Where to search after a candidate, and the end of the rejected candidate that search resumes
/// inside (`resumed_end` is the one the search that found `candidate` resumed inside).
///
/// A number found short of its candidate's end (a phone before ` 9am`, the first of two cards)
/// leaves the rest of the candidate to be searched again. A rejected candidate may be a short
/// number run into a real one (`Ticket 7 415-867-5309`): the search resumes after its first
/// space, not at its next byte. Once only: when that search is rejected too, more numbers lie
/// ahead in the same run (an IBAN's groups, a table's columns), and the search moves past them.
fn next_search(
    text: &[u8],
    kind: &str,
    candidate: Span,
    span: Option<Span>,
    resumed_end: Option<usize>,
) -> (usize, Option<usize>) {
    let (start, end) = candidate;
    if !CUT_SHORT.contains(&kind) {
        return (end, None);
    }
    if let Some((_, found_end)) = span {
        return (found_end, None);
    }
    if resumed_end.is_some_and(|resumed_end| start < resumed_end) {
        return (end, None);
    }
    match text[start..end].iter().position(|&b| b == b' ') {
        Some(space) if kind != "phone" || marked_as_phone(&text[start + space + 1..end]) => {
            (start + space + 1, Some(end))
        }
        _ => (end, None),
    }
}

/// Whether the rest of a rejected phone candidate holds a mark of a telephone number (`-`, `(`,
/// `.`): digits parted by spaces alone after a short number are a row of figures (`channels 128
/// 256 512 1024`) far more often than a number.
fn marked_as_phone(rest: &[u8]) -> bool {
    rest.iter().any(|b| b"-(.".contains(b))
}

/// Maps sorted-or-not byte offsets to character offsets in one pass over `text`.
fn char_offsets(text: &[u8], byte_offsets: &[usize]) -> Vec<usize> {
    let mut order: Vec<usize> = (0..byte_offsets.len()).collect();
    order.sort_by_key(|&i| byte_offsets[i]);
    let mut result = vec![0; byte_offsets.len()];
    let (mut byte, mut chars) = (0, 0);
    for index in order {
        let target = byte_offsets[index];
        while byte < target {
            if text[byte] & 0xC0 != 0x80 {
                chars += 1;
            }
            byte += 1;
        }
        result[index] = chars;
    }
    result
}

/// Secrets and personal data in `text`, sorted by start; offsets count characters (code points).
/// Overlapping findings keep the earliest, then the longest, then the first detector.
pub fn scan(text: &str) -> Result<Vec<Finding>, PrivacyError> {
    let compiled = compiled()?;
    let bytes = text.as_bytes();
    let mut spans = Vec::new();
    for order in 0..PATTERNS.len() {
        detect(bytes, compiled, order, &mut spans);
    }

    let byte_offsets: Vec<usize> = spans.iter().flat_map(|((s, e), _)| [*s, *e]).collect();
    let chars = char_offsets(bytes, &byte_offsets);
    let mut found: Vec<(usize, usize, usize)> = spans
        .iter()
        .enumerate()
        .map(|(i, (_, order))| (chars[2 * i], chars[2 * i + 1], *order))
        .collect();
    found.sort_by_key(|&(start, end, order)| (start, std::cmp::Reverse(end - start), order));

    let mut findings = Vec::new();
    let mut covered = 0;
    for (start, end, order) in found {
        if start >= covered {
            let (kind, category, _) = PATTERNS[order];
            findings.push(Finding {
                kind,
                category,
                start,
                end,
            });
            covered = end;
        }
    }
    Ok(findings)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn kinds(text: &str) -> Vec<(&'static str, String)> {
        let chars: Vec<char> = text.chars().collect();
        scan(text)
            .unwrap()
            .into_iter()
            .map(|f| (f.kind, chars[f.start..f.end].iter().collect()))
            .collect()
    }

    #[test]
    fn patterns_compile() {
        assert!(compiled().is_ok());
    }

    #[test]
    fn finds_keys_and_skips_documentation_examples() {
        let found = kinds("a AKIAQYLPMN5HHHFPZAM2 b AKIAIOSFODNN7EXAMPLE");
        assert_eq!(
            found,
            vec![("aws_access_key_id", "AKIAQYLPMN5HHHFPZAM2".to_owned())]
        );
    }

    #[test]
    fn offsets_count_characters() {
        let found = scan("héllo ✓ bob@mail.de").unwrap();
        assert_eq!((found[0].start, found[0].end), (8, 19));
    }

    #[test]
    fn luhn_and_iban_checks() {
        assert!(luhn(b"4539148803436467"));
        assert!(!luhn(b"4539148803436468"));
        assert!(iban_checksum(b"DE89370400440532013000"));
        assert!(!iban_checksum(b"DE89370400440532013001"));
    }

    #[test]
    fn social_security_numbers_must_be_issuable() {
        let found = kinds("ssn 536-90-4399, part 666-12-3456, 900-12-3456, 536-00-4399");
        assert_eq!(found, vec![("us_ssn", "536-90-4399".to_owned())]);
        assert!(kinds("sample 078-05-1120, isbn 1-536-90-4399-2, 536-90-43991").is_empty());
    }

    #[test]
    fn numbers_cut_short_leave_the_rest_to_search() {
        let found = kinds("Call (212) 867-5309 9am or 212-867-5310 2pm");
        assert_eq!(
            found,
            vec![
                ("phone", "(212) 867-5309".to_owned()),
                ("phone", "212-867-5310".to_owned())
            ]
        );
        let cards = kinds("cards 4539341672110681 5425341672110685 ok");
        assert_eq!(cards.len(), 2);
        assert!(kinds("table 212 867 5309 1985").is_empty());
    }

    #[test]
    fn assigned_values_are_found_whole() {
        let found = kinds("password: 'Xk9#mP2$vL(8)qR' and (api_key=Zq8vL2mN5pR7tW9yB3dF$6h).");
        assert_eq!(
            found,
            vec![
                ("password", "Xk9#mP2$vL(8)qR".to_owned()),
                ("api_key", "Zq8vL2mN5pR7tW9yB3dF$6h".to_owned())
            ]
        );
        let within = format!("Xk9mP2vL({})", "ü".repeat(200));
        assert_eq!(
            kinds(&format!("password: '{within}'")),
            vec![("password", within)]
        );
        let past_the_bound = format!("password: 'Xk9mP2vL({})'", "ü".repeat(300));
        assert_eq!(
            kinds(&past_the_bound),
            vec![("password", "Xk9mP2vL".to_owned())]
        );
    }

    #[test]
    fn a_hash_belongs_to_a_connection_string_password() {
        let found = kinds("postgres://app:Xk9#mP2vL8@db.acme.io/prod");
        assert_eq!(found, vec![("connection_string", "Xk9#mP2vL8".to_owned())]);
    }

    #[test]
    fn letters_with_diacritics_are_two_byte_latin_letters() {
        let at = |text: &str| diacritic_letter_at(text.as_bytes(), 0);
        assert!(at("À") && at("ÿ") && at("ß") && at("ɏ"));
        assert!(!at("×") && !at("÷") && !at("¿") && !at("ɐ") && !at("Ж") && !at("日"));
    }

    #[test]
    fn a_value_is_read_on_across_letters_with_diacritics() {
        let found = kinds("password: \"Pässwörd123\", api_key='Zk3jÜ9vq8LmN2pQ'");
        assert_eq!(
            found,
            vec![
                ("password", "Pässwörd123".to_owned()),
                ("api_key", "Zk3jÜ9vq8LmN2pQ".to_owned())
            ]
        );
        assert_eq!(
            kinds("password=Pässwörd123 ok"),
            vec![("password", "Pässwörd123".to_owned())]
        );
        // No digit, or letters of another script: prose and messages, not passwords.
        assert!(kinds("password: Groß-/Kleinschreibung, \"password\": \"Ungültig!\"").is_empty());
        assert!(kinds("\"password\": \"密码须包含a-z、A-Z、0-9\"").is_empty());
    }

    #[test]
    fn a_connection_string_password_holds_a_raw_slash_unless_the_url_has_a_port() {
        let text = "postgres://admin:Xk9/mP2vL8@db.internal:5432/app";
        assert_eq!(
            kinds(text),
            vec![("connection_string", "Xk9/mP2vL8".to_owned())]
        );
        assert!(kinds("https://registry.npmjs.org:443/@types/node").is_empty());
        assert!(kinds("ssh://github.com:org/repo.git@v1.2").is_empty());
        let next = kinds("https://cdn.io:443/a,postgres://u:Xk9pw2Lm@db");
        assert_eq!(next, vec![("connection_string", "Xk9pw2Lm".to_owned())]);
    }

    #[test]
    fn an_image_digest_is_no_host_and_port() {
        assert!(kinds("docker://alpine:3.19@sha256:abcdef").is_empty());
        assert!(kinds("uses: docker://nginx:1.25.3-alpine@sha256:0f04e4f646a3").is_empty());
        assert!(kinds("docker://busybox:1.36@SHA512:1234").is_empty());
        assert!(kinds("postgres://u:Xk9pass2@db:543210/app").is_empty());
        for (text, password) in [
            ("postgres://u:Xk9pass2@db:5432/app", "Xk9pass2"),
            ("redis://:Secr3tPw@localhost:6379", "Secr3tPw"),
            ("mysql://root:Xk9pass2@db: connection refused", "Xk9pass2"),
        ] {
            assert_eq!(
                kinds(text),
                vec![("connection_string", password.to_owned())]
            );
        }
    }

    #[test]
    fn a_short_number_in_front_is_skipped_once() {
        assert_eq!(
            kinds("Ticket 7 415-867-5309"),
            vec![("phone", "415-867-5309".to_owned())]
        );
        let card = kinds("2024-05-01 4565102275210493");
        assert_eq!(card, vec![("card_number", "4565102275210493".to_owned())]);
        assert!(kinds("DE00 3704 0044 0532 0130 00").is_empty());
    }

    #[test]
    fn signed_integers_are_not_telephone_numbers() {
        assert!(kinds("+12500000, +1234567890, +31415926, +1 234 5678").is_empty());
        assert_eq!(kinds("+14158675309").len(), 1);
    }

    #[test]
    fn groups_inside_a_row_of_figures_are_no_card() {
        assert!(kinds("4584 4615 4646 4677 4708 4740 4771 4803 4835 4867").is_empty());
        assert!(kinds("samples 1024 4539 1488 0343 6467 2048").is_empty());
        assert!(kinds("seed = [4220315081820346526, 7177518203184491332]").is_empty());
        assert_eq!(
            kinds("Ticket 7 4539 1488 0343 6467"),
            vec![("card_number", "4539 1488 0343 6467".to_owned())]
        );
        for card in [
            "6759898904493359155",
            "6759 8989 0449 3359 155",
            "2202 1234 5678 9017",
        ] {
            assert_eq!(
                kinds(&format!("card {card} ok")),
                vec![("card_number", card.to_owned())]
            );
        }
    }

    #[test]
    fn every_number_a_slash_lists_is_found() {
        let phones =
            |text: &str| -> Vec<String> { kinds(text).into_iter().map(|(_, v)| v).collect() };
        assert_eq!(
            phones("0151 23456789/0151 23456780, (415) 867-5309 / (415) 867-5310"),
            [
                "0151 23456789",
                "0151 23456780",
                "(415) 867-5309",
                "(415) 867-5310"
            ]
        );
        assert_eq!(
            phones("+1 415 867 5309/+1 415 867 5310"),
            ["+1 415 867 5309", "+1 415 867 5310"]
        );
        assert!(phones("see example.com/+14158675309 or /srv/415-867-5309/12").is_empty());
        assert!(phones("zip 02139/02140, MA 02139 / 02140").is_empty());
        assert_eq!(
            phones("4539148803436467/4916338506082832 and /4916338506082832"),
            ["4539148803436467", "4916338506082832"]
        );
    }

    #[test]
    fn a_number_beside_a_slash_and_a_short_number_is_found() {
        let phones =
            |text: &str| -> Vec<String> { kinds(text).into_iter().map(|(_, v)| v).collect() };
        assert_eq!(phones("0151 23456789/2024"), ["0151 23456789"]);
        assert_eq!(phones("415-867-5309/12"), ["415-867-5309"]);
        assert_eq!(phones("room 12/415-867-5309"), ["415-867-5309"]);
        assert_eq!(phones("a@b.com/415-867-5309"), ["a@b.com", "415-867-5309"]);
    }

    #[test]
    fn versions_and_bytes_are_no_phone_and_more_national_formats_are() {
        for text in [
            "llvm-toolchain-14 (1:14~++20220202101403+91632c8ac97f-1~exp1)",
            "<Buffer 01 02 03 04 05> <Buffer a0 8b 28 3f 01 00 00 00 50 32>",
            " 1: 01642C89:0201 0C642C89:03FF 01 00000000:00000001",
        ] {
            assert!(kinds(text).is_empty(), "{text}");
        }
        for phone in [
            "0151 23456789",
            "030/12345678",
            "089 / 123 456 78",
            "01.42.68.53.00",
            "(11) 91234-5678",
            "0043 664 1234567",
        ] {
            assert_eq!(
                kinds(&format!("Tel. {phone} ok")),
                vec![("phone", phone.to_owned())]
            );
        }
    }

    #[test]
    fn names_code_and_field_lists_are_no_passwords() {
        for text in [
            "PWD=/home/alice/project2 OLDPWD=/home/alice",
            "alice ALL=(ALL:ALL) NOPASSWD: /usr/bin/apt-get",
            "password = hashlib.sha256(pw.encode()).hexdigest()",
            "password = base64.b16encode(random_bytes[8:])",
            "api_key=settings.API_KEY_V2",
            "account:password:UID:GID:GECOS:directory:shell",
            "{passphrase: &#x3C;string>}",
        ] {
            assert!(kinds(text).is_empty(), "{text}");
        }
        for (text, kind, value) in [
            (
                "SECRET=8f3e1c9a7b5d4e2f0a1b3c5d7e9f1a2b",
                "api_key",
                "8f3e1c9a7b5d4e2f0a1b3c5d7e9f1a2b",
            ),
            (
                "API_TOKEN: 8f3e1c9a7b5d4e2f0a1b3c5d7e9f1a2b",
                "api_key",
                "8f3e1c9a7b5d4e2f0a1b3c5d7e9f1a2b",
            ),
            (
                "DB_PASSWORD=CorrectHorseBatteryStaple",
                "password",
                "CorrectHorseBatteryStaple",
            ),
            (
                "password: UzNjdXJlUGEkJHcwcmQxMjM=",
                "password",
                "UzNjdXJlUGEkJHcwcmQxMjM=",
            ),
            (
                "password=Xk9mP2vL[8]qR7, then",
                "password",
                "Xk9mP2vL[8]qR7",
            ),
        ] {
            assert_eq!(kinds(text), vec![(kind, value.to_owned())], "{text}");
        }
    }

    #[test]
    fn an_address_needs_a_top_level_domain_and_leaves_escapes_out() {
        let text = "user@1000.service ca@valencia.po <2752@sun.uucp> zip -x@exclude.lst";
        assert!(kinds(text).is_empty());
        for (text, address) in [
            (r"<\fIjoostje@debian.org\fP>", "joostje@debian.org"),
            (r"bugs to bug\-ed@gnu.org", r"bug\-ed@gnu.org"),
            ("müller@münchen.de", "müller@münchen.de"),
            ("see csmall@debian.org.html", "csmall@debian.org"),
        ] {
            assert_eq!(kinds(text), vec![("email", address.to_owned())], "{text}");
        }
    }

    #[test]
    fn urls_without_a_password_are_no_connection_strings() {
        for text in [
            "cvs://:pserver:anoncvs@sources.redhat.com:/cvs/src",
            "gist://username:token@id/file",
            "github://org:repo@sha/precip/catalog.yml",
            "https://foo.com:123,foo:bar@bar.com/path",
        ] {
            assert!(kinds(text).is_empty(), "{text}");
        }
    }

    #[test]
    fn look_alikes_do_not_trigger() {
        let text = "uuid 123e4567-e89b-12d3-a456-426614174000 on 2024-01-15, v1.2.3, \
                    sha 9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08, \
                    ip 192.168.1.100, test@example.com, 4111 1111 1111 1111";
        assert!(scan(text).unwrap().is_empty());
    }
}
