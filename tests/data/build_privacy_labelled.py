"""Write ``privacy_labelled.jsonl``: texts labelled with the secrets and personal data in them.

Run ``python tests/data/build_privacy_labelled.py`` from the repository root; the output is the
same on every run (fixed seed). Every credential, card number, IBAN, telephone and Social
Security number here is synthetic: random characters in the vendor's published format, card
numbers and IBANs given a valid check digit, telephone numbers random digits in national
formats. Labels say what a careful reviewer would call sensitive, independent of what shoal's
scanner finds; some rows are expected misses (hard cases), which keeps the measured recall
honest.

Row format: ``{"id", "group", "text", "expected": [{"kind", "category", "start", "end"}]}`` with
character offsets into ``text``. Groups: ``secret``, ``personal``, ``look_alike`` (must not
trigger), ``mixed`` and ``hard`` (sensitive, formats the scanner does not claim to cover).
"""

from __future__ import annotations

import json
import random
import string
from pathlib import Path

OUT = Path(__file__).parent / "privacy_labelled.jsonl"
RNG = random.Random(20250615)
BASE62 = string.ascii_letters + string.digits
BASE64 = BASE62 + "+/"
URLSAFE = BASE62 + "-_"

SECRET = "secret"
PERSONAL = "personal"


def token(alphabet: str, length: int) -> str:
    while True:
        value = "".join(RNG.choice(alphabet) for _ in range(length))
        lowered = value.lower()
        classes = sum(
            any(c in s for c in value)
            for s in (string.ascii_lowercase, string.ascii_uppercase, string.digits)
        )
        # Keep generated secrets realistic: mixed classes and no accidental placeholder words.
        if classes >= 2 or alphabet in ("AWS", string.ascii_uppercase + "234567"):
            if not any(w in lowered for w in ("xxxx", "your", "1234567", "example")):
                return value


def luhn_complete(prefix: str, length: int) -> str:
    body = prefix + "".join(RNG.choice(string.digits) for _ in range(length - len(prefix) - 1))
    for check in string.digits:
        candidate = body + check
        total = 0
        for position, character in enumerate(reversed(candidate)):
            value = int(character) * (2 if position % 2 else 1)
            total += value - 9 if value > 9 else value
        if total % 10 == 0:
            return candidate
    raise AssertionError("unreachable")


def luhn_broken(prefix: str, length: int) -> str:
    valid = luhn_complete(prefix, length)
    return valid[:-1] + str((int(valid[-1]) + 3) % 10)


def iban(country: str, bban: str) -> str:
    rearranged = bban + country + "00"
    number = int("".join(str(int(c, 36)) for c in rearranged))
    return f"{country}{98 - number % 97:02d}{bban}"


def grouped(value: str, size: int = 4, sep: str = " ") -> str:
    return sep.join(value[i : i + size] for i in range(0, len(value), size))


def digits(count: int, first: str = "") -> str:
    return first + "".join(RNG.choice(string.digits) for _ in range(count - len(first)))


ROWS: list[dict[str, object]] = []


def row(group: str, template: str, **values: tuple[str, str, str] | str) -> None:
    """``template`` holds ``{name}`` fields; a tuple value is ``(kind, category, text)``."""
    text = ""
    expected = []
    position = 0
    while position < len(template):
        opening = template.find("{", position)
        if opening < 0:
            text += template[position:]
            break
        closing = template.index("}", opening)
        text += template[position:opening]
        value = values[template[opening + 1 : closing]]
        if isinstance(value, tuple):
            kind, category, literal = value
            expected.append(
                {
                    "kind": kind,
                    "category": category,
                    "start": len(text),
                    "end": len(text) + len(literal),
                }
            )
            text += literal
        else:
            text += value
        position = closing + 1
    ROWS.append(
        {"id": f"{group}-{len(ROWS):03d}", "group": group, "text": text, "expected": expected}
    )


def s(kind: str, value: str) -> tuple[str, str, str]:
    return kind, SECRET, value


def p(kind: str, value: str) -> tuple[str, str, str]:
    return kind, PERSONAL, value


def pem(label: str, lines: int, newline: str = "\n") -> str:
    body = newline.join(token(BASE64, 64) for _ in range(lines)) + newline + token(BASE64, 24)
    return f"-----BEGIN {label}-----{newline}{body}=={newline}-----END {label}-----"


def secrets() -> None:
    aws = "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567"
    for prefix in ("AKIA", "ASIA", "AKIA", "AKIA"):
        row(
            "secret",
            "export AWS_ACCESS_KEY_ID={k}",
            k=s("aws_access_key_id", prefix + token(aws, 16)),
        )
    row(
        "secret",
        "[default]\naws_access_key_id = {k}\naws_secret_access_key = {v}\n",
        k=s("aws_access_key_id", "AKIA" + token(aws, 16)),
        v=s("aws_secret_access_key", token(BASE64, 40)),
    )
    row(
        "secret",
        'AWS_SECRET_ACCESS_KEY="{v}" ./deploy.sh',
        v=s("aws_secret_access_key", token(BASE64, 40)),
    )
    row(
        "secret",
        "Why does boto3 reject my key {k}? It worked yesterday.",
        k=s("aws_access_key_id", "AKIA" + token(aws, 16)),
    )
    for _ in range(3):
        row(
            "secret",
            "const loader = new Loader(apiKey='{k}');",
            k=s("gcp_api_key", "AIza" + token(URLSAFE, 35)),
        )
    row(
        "secret",
        "curl 'https://maps.googleapis.com/maps/api/geocode/json?address=x&key={k}'",
        k=s("gcp_api_key", "AIza" + token(URLSAFE, 35)),
    )
    row(
        "secret",
        "DefaultEndpointsProtocol=https;AccountName=prodlogs;AccountKey={k};"
        "EndpointSuffix=core.windows.net",
        k=s("azure_key", token(BASE64, 86) + "=="),
    )
    row(
        "secret",
        "Endpoint=sb://bus.servicebus.windows.net/;SharedAccessKeyName=Root;SharedAccessKey={k}",
        k=s("azure_key", token(BASE64, 43) + "="),
    )
    for prefix in ("ghp_", "gho_", "ghs_"):
        row(
            "secret",
            "git clone https://{k}@github.com/acme/private.git",
            k=s("github_token", prefix + token(BASE62, 36)),
        )
    row("secret", "GITHUB_TOKEN: {k}", k=s("github_token", "github_pat_" + token(BASE62 + "_", 82)))
    row(
        "secret",
        "Token in CI logs: {k} (rotate it!)",
        k=s("gitlab_token", "glpat-" + token(URLSAFE, 20)),
    )
    row(
        "secret",
        "slack_bot_token = '{k}'",
        k=s(
            "slack_token",
            "xoxb-" + digits(12, "2") + "-" + digits(13, "4") + "-" + token(BASE62, 24),
        ),
    )
    row(
        "secret",
        "post to {k} when the job fails",
        k=s(
            "slack_token",
            "https://hooks.slack.com/services/T"
            + token(string.ascii_uppercase + string.digits, 8)
            + "/B"
            + token(string.ascii_uppercase + string.digits, 10)
            + "/"
            + token(BASE62, 24),
        ),
    )
    for prefix in ("sk_live_", "rk_live_", "sk_test_"):
        row("secret", 'stripe.api_key = "{k}"', k=s("stripe_key", prefix + token(BASE62, 24)))
    row("secret", "OPENAI_API_KEY={k}", k=s("openai_key", "sk-proj-" + token(URLSAFE, 120)))
    row("secret", "client = OpenAI(api_key='{k}')", k=s("openai_key", "sk-" + token(BASE62, 48)))
    row(
        "secret",
        "export ANTHROPIC_API_KEY={k}",
        k=s("anthropic_key", "sk-ant-api03-" + token(URLSAFE, 95)),
    )
    row(
        "secret",
        "huggingface-cli login --token {k}",
        k=s("huggingface_token", "hf_" + token(BASE62, 34)),
    )
    for label in ("RSA PRIVATE KEY", "PRIVATE KEY", "EC PRIVATE KEY", "OPENSSH PRIVATE KEY"):
        row(
            "secret",
            "Here is my key, why does ssh fail?\n{k}\nThanks",
            k=s("private_key", pem(label, 6)),
        )
    row(
        "secret",
        '"type": "service_account", "private_key": "{k}",',
        k=s("private_key", pem("PRIVATE KEY", 4, "\\n")),
    )
    row("secret", "{k}", k=s("private_key", pem("PGP PRIVATE KEY BLOCK", 5)))
    jwt = (
        "eyJhbGciOiJSUzI1NiIsInR5cCI6IkpXVCJ9."
        + "eyJ"
        + token(URLSAFE, 120)
        + "."
        + token(URLSAFE, 86)
    )
    row(
        "secret",
        "curl -H 'Authorization: Bearer {k}' https://api.internal/v1/users",
        k=s("jwt", jwt),
    )
    row(
        "secret",
        "The cookie session={k} expired",
        k=s("jwt", "eyJhbGciOiJIUzI1NiJ9.eyJ" + token(URLSAFE, 60) + "." + token(URLSAFE, 43)),
    )
    row("secret", "Authorization: Bearer {k}", k=s("bearer_token", token(URLSAFE + ".", 40)))
    row(
        "secret",
        "requests.get(url, headers=dict(Authorization='token {k}'))",
        k=s("authorization_header", token(BASE62, 40)),
    )
    row("secret", "Authorization: Basic {k}", k=s("authorization_header", token(BASE64, 28) + "=="))
    for scheme, host in (
        ("postgres", "db.prod.acme.io:5432/app"),
        ("mysql", "10.0.4.12/orders"),
        ("mongodb+srv", "cluster0.ab1cd.mongodb.net/test"),
        ("redis", "cache.internal:6379/0"),
        ("amqp", "mq.acme.io:5672/"),
    ):
        password = token(BASE62 + "!*", 14)
        row(
            "secret",
            "DATABASE_URL=" + scheme + "://svc_app:{k}@" + host,
            k=s("connection_string", password),
        )
    row(
        "secret",
        "conn = psycopg.connect('postgresql://admin:{k}@localhost/analytics')",
        k=s("connection_string", "Winter2024!x"),
    )
    row("secret", "DB_PASSWORD={k}", k=s("password", "Tr0ub4dor&3x"))
    row("secret", 'password: "{k}"', k=s("password", token(BASE62 + "!@#", 16)))
    row("secret", "api_key = '{k}'", k=s("api_key", token(BASE62, 32)))
    row("secret", "X-API-Key: {k}", k=s("api_key", token(BASE62, 40)))
    row(
        "secret",
        "client_secret={k}&grant_type=client_credentials",
        k=s("api_key", token(URLSAFE, 34)),
    )


def personal() -> None:
    for address in (
        "maria.gonzalez@gmail.com",
        "j.smith+billing@acme-corp.co.uk",
        "li_wei@tsinghua.edu.cn",
        "Pat.O'Brien@hotmail.com".replace("'", ""),
        "anna-lena.mueller@web.de",
        "ops.oncall@internal.acme.io",
    ):
        row("personal", "Please forward the invoice to {e} by Friday.", e=p("email", address))
    row("personal", "From: Jürgen Groß <{e}>", e=p("email", "juergen.gross@posteo.de"))
    row("personal", "mailto:{e}", e=p("email", "hr@northwind.com"))
    row("personal", "Contact {e}.", e=p("email", "x9@foo.museum"))
    row("personal", "用户邮箱：{e}，请回复。", e=p("email", "wang.fang@163.com"))
    nanp = [
        f"({digits(3, '4')}) {digits(3, '8')}-{digits(4)}",
        f"{digits(3, '6')}-{digits(3, '3')}-{digits(4)}",
        f"{digits(3, '2')}.{digits(3, '7')}.{digits(4)}",
        f"+1 {digits(3, '9')} {digits(3, '4')} {digits(4)}",
        f"1-{digits(3, '8')}-{digits(3, '2')}-{digits(4)}",
    ]
    for number in nanp:
        row("personal", "Call me at {t} after 5pm.", t=p("phone", number))
    for number in (
        f"+44 20 {digits(4, '7')} {digits(4)}",
        f"+44 7{digits(3)} {digits(6)}",
        f"+49 30 {digits(8)}",
        f"+33 6 {digits(2)} {digits(2)} {digits(2)} {digits(2)}",
        f"+81-3-{digits(4)}-{digits(4)}",
        f"+91 {digits(5, '9')} {digits(5)}",
        f"+61 4{digits(2)} {digits(3)} {digits(3)}",
        "+1" + digits(10, "4"),
    ):
        row("personal", "WhatsApp: {t}", t=p("phone", number))
    for number in (
        f"020 {digits(4, '8')} {digits(4)}",
        f"07{digits(3)} {digits(6)}",
        f"030 {digits(8, '2')}",
        f"06 {digits(2)} {digits(2)} {digits(2)} {digits(2)}",
        f"(030) {digits(7, '4')}",
    ):
        row("personal", "Tel. {t}", t=p("phone", number))
    cards = [
        luhn_complete("4", 16),
        luhn_complete("51", 16),
        luhn_complete("2720", 16),
        luhn_complete("37", 15),
        luhn_complete("6011", 16),
        luhn_complete("3530", 16),
        luhn_complete("4", 16),
        luhn_complete("55", 16),
    ]
    formats = [
        lambda c: grouped(c),
        lambda c: grouped(c, sep="-"),
        lambda c: c,
        lambda c: f"{c[:4]} {c[4:10]} {c[10:]}",
        lambda c: grouped(c),
        lambda c: c,
        lambda c: grouped(c, sep="-"),
        lambda c: grouped(c),
    ]
    for card, shape in zip(cards, formats, strict=True):
        row("personal", "Card number: {c} exp 09/27", c=p("card_number", shape(card)))
    for country, bban in (
        ("DE", digits(18)),
        ("GB", "NWBK" + digits(14)),
        ("FR", digits(23)),
        ("NL", "RABO" + digits(10)),
        ("ES", digits(20)),
        ("IT", "X" + digits(22)),
        ("BE", digits(12)),
        ("CH", digits(17)),
    ):
        value = iban(country, bban)
        shape = grouped(value) if len(ROWS) % 2 else value
        row("personal", "Bitte überweisen Sie auf {i} (Verwendungszweck 4471).", i=p("iban", shape))


def look_alikes() -> None:
    texts = [
        "Request id 123e4567-e89b-12d3-a456-426614174000 failed; retry id "
        "f47ac10b-58cc-4372-a567-0e02b2c3d479.",
        "commit 9fceb02d0ae598e95dc970b74767f19372d61af8 fixed it (short 9fceb02).",
        "sha256: 9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08",
        "md5 d41d8cd98f00b204e9800998ecf8427e and sha1 da39a3ee5e6b4b0d3255bfef95601890afd80709",
        "The image is data:image/png;base64,"
        "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNk",
        "Upgrade from 1.2.3 to 10.11.12-rc.1 (build 2024.06.15.1234).",
        "The meeting is on 2024-01-15 at 10:30, or 15/01/2024, or 01.15.2024.",
        "Servers 192.168.100.200 and 10.0.0.1:8080 and fe80::1ff:fe23:4567:890a.",
        "AWS docs use AKIAIOSFODNN7EXAMPLE with wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY.",
        "aws_secret_access_key = wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY",
        "Set OPENAI_API_KEY=sk-...EXAMPLE in your shell.",
        "export OPENAI_API_KEY=sk-xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx",
        "Use your key: api_key = 'YOUR_API_KEY_HERE'",
        "Stripe test key from the docs: sk_test_4eC39HqLyjWDarjtT1zdp7dc",
        "GITHUB_TOKEN=ghp_xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx",
        "Authorization: Bearer <token>",
        "Authorization: Bearer $ACCESS_TOKEN",
        "headers = {'Authorization': f'Bearer {token}'}",
        "The bearer of this letter is entitled to one free coffee.",
        "Decoded example: eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9."
        "eyJzdWIiOiIxMjM0NTY3ODkwIiwibmFtZSI6Ikp"
        "vaG4gRG9lIiwiaWF0IjoxNTE2MjM5MDIyfQ.SflKxwRJSMeKKF2QT4fwpMeJf36POk6yJV_adQssw5c",
        "-----BEGIN PRIVATE KEY-----\n...\n-----END PRIVATE KEY-----",
        "Paste the key between -----BEGIN RSA PRIVATE KEY----- and -----END RSA PRIVATE KEY-----.",
        "-----BEGIN CERTIFICATE-----\n"
        "MIIDdzCCAl+gAwIBAgIEAgAAuTANBgkqhkiG9w0BAQUFADBaMQswCQYDVQQGEwJJ\n"
        "-----END CERTIFICATE-----",
        "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIGi5cQ0yKa2y0k3Zf0xkG7lqXa8c7d3xQ5l0gRk5gM1 me@laptop",
        "DATABASE_URL=postgres://user:password@localhost:5432/mydb",
        "redis://:${REDIS_PASSWORD}@redis:6379/0",
        "postgres://app:****@db:5432/app",
        "https://github.com/org/repo.git and git@github.com:org/repo.git",
        "password: str = Field(..., min_length=8)",
        "if password == confirm_password: save()",
        "Reset your password at https://example.org/reset",
        "Write to john.doe@example.com or jane@test.example or a@b.invalid.",
        "icon@2x.png and logo@3x.webp are retina assets",
        "npm i @types/node@20.11.5 react@18.2.0",
        "class A:\n    @property\n    def x(self): return self._x  # email-like: self@x",
        "Order 1234567812345678 shipped (not a card).",
        "Card 4111 1111 1111 1111 is Visa's published test number.",
        "Stripe test card 4242 4242 4242 4242, exp 12/34, CVC 123.",
        f"Invoice {luhn_broken('4', 16)} rejected: bad checksum.",
        f"Tracking {luhn_broken('5', 16)} and {luhn_broken('37', 15)}",
        "Twitter snowflake id 1790000000000000123 and unix ms 1718035200000.",
        "ISBN 978-3-16-148410-0 and ISBN-10 0-306-40615-2.",
        "Call (555) 555-0123 — a number reserved for fiction (555-0100..0199).",
        "Sample phone from Ofcom: 020 7946 0958 or 07700 900123.",
        "Invalid area code 123-456-7890 is a placeholder.",
        "The IBAN DE89 3704 0044 0532 0130 00 is the standard example.",
        "IBAN with bad check digits DE00 3704 0044 0532 0130 00.",
        "Coordinates 48.858370, 2.294481 and elevation 35 m.",
        "Colour #ff5733 and address 0x7fffffffe4a8 and 0xDEADBEEF.",
        "Version pin numpy==1.26.4, torch>=2.3.0+cu121.",
        "k8s pod web-7d9f8c6b5d-x2x4z restarted 3 times.",
        "The product code is AB12-CD34-EF56-GH78.",
        "Price 1 234 567,89 EUR, quantity 12 500.",
        "Phone: +1 (XXX) XXX-XXXX",
        "Email: name@domain",
        "sklearn's sk-learn-compatible-estimator-interface is documented",
        "AIzaSy is the prefix of Google API keys.",
        "The env var is OPENAI_API_KEY and the file is ~/.aws/credentials.",
        "base64 of hello world: aGVsbG8gd29ybGQ= and of json: eyJrZXkiOiAidmFsdWUifQ==",
    ]
    for text in texts:
        ROWS.append(
            {
                "id": f"look_alike-{len(ROWS):03d}",
                "group": "look_alike",
                "text": text,
                "expected": [],
            }
        )


def mixed() -> None:
    aws = "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567"
    for _ in range(6):
        row(
            "mixed",
            "Hi, I'm {n}. My card {c} was charged twice; reach me at {e} or {t}. "
            "Request id 123e4567-e89b-12d3-a456-426614174000.",
            n="Dana Whitfield",
            c=p("card_number", grouped(luhn_complete("4", 16))),
            e=p("email", f"dana.w{digits(2)}@outlook.com"),
            t=p("phone", f"+44 7{digits(3)} {digits(6)}"),
        )
    for _ in range(4):
        row(
            "mixed",
            "config:\n  aws_access_key_id: {k}\n  region: eu-west-1\n  owner: {e}\n"
            "  version: 1.4.2\n  commit: 9fceb02d0ae598e95dc970b74767f19372d61af8\n",
            k=s("aws_access_key_id", "AKIA" + token(aws, 16)),
            e=p("email", f"platform{digits(2)}@acme.io"),
        )
    for _ in range(3):
        row(
            "mixed",
            "Refund to {i}, not the example DE89 3704 0044 0532 0130 00. "
            "Ticket 2024-03-11. Ping {g} in CI.",
            i=p("iban", grouped(iban("DE", digits(18)))),
            g=s("github_token", "ghp_" + token(BASE62, 36)),
        )
    for _ in range(3):
        row(
            "mixed",
            "Stack trace mentions postgres://svc:{k}@10.1.2.3:5432/db and user {e} "
            "at 2024-05-01T12:00:00Z; docs key AKIAIOSFODNN7EXAMPLE.",
            k=s("connection_string", token(BASE62, 16)),
            e=p("email", f"k.tanaka{digits(2)}@docomo.ne.jp"),
        )
    for _ in range(3):
        row(
            "mixed",
            "Ünïcödé prefix — ☃ — then {t} and {a}, ✓ done 🎉",
            t=p("phone", f"+49 151 {digits(8)}"),
            a=s("stripe_key", "sk_live_" + token(BASE62, 24)),
        )


def hard() -> None:
    row("hard", "call me on {t} tonight", t=p("phone", digits(10, "4")))
    row("hard", "my email is {e}", e=p("email", "bob dot smith at gmail dot com"))
    row("hard", "IBAN (lower case): {i}", i=p("iban", iban("DE", digits(18)).lower()))
    row("hard", "the prod db password is {k}, don't share", k=s("password", "hunter2hunter2"))
    row(
        "hard",
        "Azure AD app secret {k} expires in June",
        k=s("api_key", token(BASE62 + "~._-", 40)),
    )
    row("hard", "Twilio auth token {k}", k=s("api_key", token("0123456789abcdef", 32)))
    row("personal", "international call {t}",
        t=p("phone", f"0044 20 {digits(4, '7')} {digits(4)}"))
    row(
        "hard",
        "card no. {c}",
        c=p("card_number", " ".join(luhn_complete("4", 16)[i : i + 2] for i in range(0, 16, 2))),
    )


def social_security_number() -> str:
    """A dashed US SSN the SSA could issue: area 001-899 but 666, group 01-99, serial 0001+."""
    area = RNG.choice([a for a in range(1, 900) if a != 666])
    return f"{area:03d}-{RNG.randint(1, 99):02d}-{RNG.randint(1, 9999):04d}"


def social_security() -> None:
    """US Social Security numbers, added after the other groups so their rows stay as they were."""
    templates = [
        "Employee SSN: {n}, start date 2024-02-01.",
        "W-2 for Dana Whitfield, social security number {n}.",
        "Please verify my identity, my SSN is {n} and DOB 04/12/1988.",
        "ssn,name\n{n},Jordan Lee",
        "Tax form: {n} (taxpayer), filing status single.",
        "Fix the form validation: it rejected {n} although the number is mine.",
    ]
    for template in templates:
        row("personal", template, n=p("us_ssn", social_security_number()))
    for text in (
        "The Woolworth wallet card printed 078-05-1120; the SSA example is 219-09-9999.",
        "Placeholder in the form: 123-45-6789 (format AAA-GG-SSSS).",
        "Never issued: 000-12-3456, 666-12-3456, 536-00-4399, 536-90-0000, 912-34-5678.",
        "Ticket 2024-11-0042 and ISBN 1-536-90-4399-2 and build 10-4321-0001.",
        "Serial 536-90-43991 and code 536-90-4399.7 are not numbers on a card.",
    ):
        ROWS.append({"id": f"look_alike-{len(ROWS):03d}", "group": "look_alike", "text": text,
                     "expected": []})
    row("hard", "SSN without dashes: {n}",
        n=p("us_ssn", social_security_number().replace("-", "")))
    row("hard", "social security no. {n}",
        n=p("us_ssn", social_security_number().replace("-", " ")))


def csv_rows() -> None:
    """Values as fields of comma-separated rows, where a comma and a digit follow or precede
    them."""
    row("personal", "name,ssn,born\nJordan Lee,{n},1985-03-02",
        n=p("us_ssn", social_security_number()))
    row("personal", "name,phone,since\nDana W,{t},2019", t=p("phone", f"+1 415 {digits(3, '8')} "
                                                                    f"{digits(4)}"))
    row("personal", "customer,card,cvc\n1042,{c},123",
        c=p("card_number", grouped(luhn_complete("4", 16))))
    row("personal", "{a},{b}", a=p("us_ssn", social_security_number()),
        b=p("us_ssn", social_security_number()))
    ROWS.append({"id": f"look_alike-{len(ROWS):03d}", "group": "look_alike",
                 "text": "id,amount,qty\n4111111111111112,1234567,12\n20240115,99.50,3",
                 "expected": []})


def numbers_in_a_run() -> None:
    """A number that more digits follow after a space, and two cards side by side."""
    row("personal", "Call {t} 9am-5pm, Mon-Fri.", t=p("phone", f"({digits(3, '4')}) "
                                                        f"{digits(3, '6')}-{digits(4)}"))
    row("personal", "cards on file: {a} {b}", a=p("card_number", luhn_complete("4", 16)),
        b=p("card_number", luhn_complete("55", 16)))
    ROWS.append({"id": f"look_alike-{len(ROWS):03d}", "group": "look_alike",
                 "text": "columns: 212 867 5309 1985 and 2024-11-05 10:30 and 3.14159 2.71828",
                 "expected": []})


def passwords_with_words() -> None:
    """Real passwords that contain a word documentation uses, and stand-ins that are only one."""
    row("secret", "postgres://admin:{k}@db.internal:5432/prod",
        k=s("connection_string", "S3cr3tPassw0rd"))
    row("secret", "password={k}", k=s("password", "Passw0rd!2024"))
    row("secret", "DB_PASSWORD={k}", k=s("password", "MyPassword99"))
    row("secret", "password={k}", k=s("password", "sample123XYZ"))
    for text in ("password=password123", "DB_PASSWORD=changeme", "password: your_password_here",
                 "PGPASSWORD=<password>", "password={password}", "password=Password1!"):
        ROWS.append({"id": f"look_alike-{len(ROWS):03d}", "group": "look_alike", "text": text,
                     "expected": []})


def values_past_the_value_class() -> None:
    """Assigned secrets holding a character the value pattern stops at: the label is the whole
    value, up to its closing quote, so a redaction leaves none of it."""
    row("secret", "password: '{k}'", k=s("password", "Xk9#mP2$vL(8)qR"))
    row("secret", 'password="{k}"', k=s("password", "Xk9mP2vL[8]qR7"))
    row("secret", "DB_PASSWORD='{k}'", k=s("password", "hunter2{Xk9mP}vL"))
    row("secret", "secret_key: '{k}'",
        k=s("api_key", "django-insecure-8f$k2!x@9z#q&v^w0m*1l%3n(7p)b+c=d"))
    row("secret", "postgres://app:{k}@db.acme.io/prod", k=s("connection_string", "Xk9#mP2vL8"))


def numbers_after_a_short_number() -> None:
    """A short number and a space in front of a telephone or card number."""
    for template, number in (("Ticket 7 {t}", "415-867-5309"),
                             ("Alice Smith 34 {t}", "415-867-5309"),
                             ("Apt 5 {t}", "(415) 867-5309"),
                             ("call 2 {t}", "415 867 5309"),
                             ("2024-05-01 {t}", "(415) 867-5309")):
        # Parted by spaces alone after a number, a phone number reads as a row of figures.
        group = "hard" if "-" not in number and "(" not in number else "personal"
        row(group, template, t=p("phone", number))
    row("personal", "2024-05-01 {c}", c=p("card_number", "4565102275210493"))


def signed_integers_and_documentation_values() -> None:
    """A signed integer is no telephone number; a published IBAN and a stand-in password are
    documentation."""
    for text in ("Revenue change: +12500000 USD", "Offsets +1234567890 and +31415926 in the log.",
                 "The IBAN GB33BUKB20201555555555 is the example in most bank docs.",
                 "ftp://anonymous:guest@ftp.example.org/pub"):
        ROWS.append({"id": f"look_alike-{len(ROWS):03d}", "group": "look_alike", "text": text,
                     "expected": []})


def figures_and_escaped_quotes() -> None:
    """Rows of figures after a short number are no telephone numbers; a quoted secret with an
    escaped quote inside runs to the closing quote."""
    for text in ("channels 128 256 512 1024", "epoch 12 step 3 200 300 4000"):
        ROWS.append({"id": f"look_alike-{len(ROWS):03d}", "group": "look_alike", "text": text,
                     "expected": []})
    value = 'q7ZfR2mXw9LpT4vB\\"kD8s'  # a JSON string holding an escaped quote
    text = '{"api_key": "' + value + '"}'
    start = text.index(value)
    ROWS.append({"id": f"secret-{len(ROWS):03d}", "group": "secret", "text": text, "expected": [
        {"kind": "api_key", "category": SECRET, "start": start, "end": start + len(value)}]})


def letters_with_diacritics_and_raw_url_characters() -> None:
    """Passwords holding letters with diacritics, connection-string passwords holding a raw
    `/`, `?`, `[` or `{`, and the prose, messages and URLs that look like them."""
    row("secret", 'password: "{k}"', k=s("password", "Pässwörd123"))
    row("secret", "api_key='{k}'", k=s("api_key", "Zk3jÜ9vq8LmN2pQ"))
    row("secret", "DB_PASSWORD={k} ./migrate.sh", k=s("password", "Grüße2024!"))
    row("secret", '{o}"smtp_password": "{k}"{c}', o="{", c="}", k=s("password", "Çava#Señor7"))
    row("secret", "DATABASE_URL=postgres://admin:{k}@db.internal:5432/app",
        k=s("connection_string", "Xk9/mP2vL8"))
    row("secret", "mysql://root:{k}@10.0.4.12/orders", k=s("connection_string", "q7?Zf2mXw9"))
    row("secret", "REDIS_URL=redis://:{k}@cache.internal:6379/0",
        k=s("connection_string", "Zk[3jP9vq8]"))
    row("secret", "amqp://svc:{k}@mq.acme.io:5672/", k=s("connection_string", "tR{9xQ2}vL"))
    row("personal", "Share link: http://intranet:8080/share?to={e}",
        e=p("email", "ana.lopez@gmail.com"))
    for text in (
        "Das Feld password: Groß-/Kleinschreibung beachten.",
        "Le champ password : à définir par l'administrateur.",
        '{"password": "Ungültig!", "api_key": "API-Schlüssel"}',
        '"password": "Passwörter stimmen nicht überein"',
        "password: Änderung erforderlich (mind. 8 Zeichen)",
        "In der Anleitung steht password = ? als Platzhalter für das Kennwort.",
        '"password": "密码须包含a-z、A-Z、0-9"',
        "Read https://medium.com/@user/post and https://example.com/a:b@c",
        "git@github.com:org/repo.git, ssh://git@github.com:org/repo.git",
        "npm fetches https://registry.npmjs.org:443/@types/node; see http://localhost:3000/users/@alice",
        "pip install git+ssh://github.com:org/repo.git@v1.2",
        "postgresql://postgres:[YOUR-PASSWORD]@db.abcdefghijkl.supabase.co:5432/postgres",
    ):
        ROWS.append({"id": f"look_alike-{len(ROWS):03d}", "group": "look_alike", "text": text,
                     "expected": []})
    # Letters of another script, and letters with diacritics without a digit, are not claimed.
    row("hard", 'password: "{k}"', k=s("password", "Жук9xQ!vL2"))
    row("hard", "DB_PASSWORD={k}", k=s("password", "Schöne_Grüße!"))


def image_digests() -> None:
    """Container images pinned by digest (``name:tag@sha256:hex``) in the syntax of several
    tools read like ``user:password@host``; the digest's ``algorithm:hex`` after the ``@`` is no
    host and port. Connection strings next to them, and ones whose host a port follows, are
    still secrets."""
    sha256 = "".join(RNG.choice("0123456789abcdef") for _ in range(64))
    sha512 = "".join(RNG.choice("0123456789abcdef") for _ in range(128))
    for text in (
        "docker://alpine:3.19@sha256:abcdef",
        f"steps:\n  - uses: docker://node:20-alpine@sha256:{sha256}\n",
        f"skopeo copy docker://nginx:1.25.3-alpine@sha256:{sha256} dir:/tmp/nginx",
        f"apptainer pull docker://ubuntu:22.04@sha256:{sha256}",
        "docker buildx build --build-context"
        f" base=docker-image://python:3.12-slim@sha256:{sha256} .",
        f"skopeo inspect docker://busybox:1.36@sha512:{sha512}",
    ):
        ROWS.append({"id": f"look_alike-{len(ROWS):03d}", "group": "look_alike", "text": text,
                     "expected": []})
    row("secret", "docker run -e DATABASE_URL=postgres://app:{k}@db:5432/app alpine:3.19@{d}",
        k=s("connection_string", token(BASE62, 14)), d=f"sha256:{sha256}")
    row("secret", "REDIS_URL=redis://:{k}@localhost:6379", k=s("connection_string", "Secr3tPw9q"))
    row("secret", "mongodb+srv://svc:{k}@cluster0.ab1cd.mongodb.net/shop",
        k=s("connection_string", token(BASE62, 16)))


def look_alike(text: str) -> None:
    ROWS.append({"id": f"look_alike-{len(ROWS):03d}", "group": "look_alike", "text": text,
                 "expected": []})


def rows_of_figures_and_more_card_issuers() -> None:
    """Groups of digits inside a longer row of figures and 64-bit integers in a list are no card
    numbers (shapes from man pages, TIFF dumps, ``tc qdisc`` output and NumPy seeds); Maestro
    and Mir cards are."""
    for text in (
        "  4584 4615 4646 4677 4708 4740 4771 4803 4835 4867 \n  4899 4931 4963 4995",
        "StripOffsets (273) LONG (4) 896<8 648 1288 1928 2568 3208 3848 4488 5128 5768 6408",
        "qdisc ets 1: root refcnt 2 bands 8 quanta 2650 1514 1514 1514 1514 1514 1514 1514 "
        "priomap 7 6 5 4 3 2",
        "seed = [[3456209377209565813, 5936458225285],\n        [4220315081820346526, "
        "7177518203184491332]]",
        f"samples 1024 {grouped(luhn_complete('4', 16))} 2048 4096",
    ):
        look_alike(text)
    maestro = luhn_complete("6759", 19)
    row("personal", "card: {c} exp 09/27", c=p("card_number", maestro))
    row("personal", "Card number {c}, CVV 381", c=p("card_number", grouped(maestro)))
    row("personal", "cc={c}", c=p("card_number", grouped(luhn_complete("6304", 19), sep="-")))
    row("personal", "Karta Mir: {c}", c=p("card_number", grouped(luhn_complete("2202", 16))))


def version_stamps_bytes_and_national_phone_formats() -> None:
    """A ``+`` number inside a Debian version, bytes of a buffer and a field of a hex table are no
    telephone numbers; German, French, Brazilian and ``00``-prefixed numbers are."""
    for text in (
        "llvm-toolchain-14 (1:14~++20220202101403+91632c8ac97f-1~exp1) experimental; "
        "urgency=medium",
        "llvm-toolchain-snapshot (1:10~+20191229111838+6991d5728f1-1~exp1) experimental",
        "console.log(copy);\n// Prints: <Buffer 01 02 03 04 05>",
        "// Prints (contents may vary): <Buffer a0 8b 28 3f 01 00 00 00 50 32>",
        "sl  local_address rem_address st\n 1: 01642C89:0201 0C642C89:03FF 01 "
        "00000000:00000001 01:000071BA 00000000 0",
    ):
        look_alike(text)
    row("personal", "Handy {t}", t=p("phone", f"0151 {digits(8, '2')}"))
    row("personal", "Tel.: {t}", t=p("phone", f"030/{digits(8, '2')}"))
    row("personal", "Tel. {t}", t=p("phone", f"089 / {digits(3, '2')} {digits(3)} {digits(2)}"))
    french = ".".join(["01", *(digits(2, "2") for _ in range(4))])
    row("personal", "tél : {t}", t=p("phone", french))
    row("personal", "Celular: {t}", t=p("phone", f"(11) {digits(5, '9')}-{digits(4)}"))
    row("personal", "Mobil: {t}", t=p("phone", f"0043 664 {digits(7, '3')}"))


def names_code_and_field_lists_after_password() -> None:
    """Working directories, sudoers tags, code and lists of field names after a password keyword
    are no passwords; an API token, a bare ``SECRET``, a passphrase of letters under an
    upper-case name and a base64 password in a Kubernetes Secret are secrets."""
    for text in (
        "PWD=/home/alice/project2\nOLDPWD=/home/alice",
        "  PATH: '/usr/local/bin:/usr/bin',\n  PWD: '/Users/maciej',\n  EDITOR: 'vim',",
        "alice ALL=(ALL:ALL) NOPASSWD: /usr/bin/apt-get",
        "    password = hashlib.sha256(pw.encode()).hexdigest()",
        "    password = base64.b16encode(random_bytes[8:])  # Must be valid UTF-8",
        "client = Client(api_key=settings.API_KEY_V2)",
        "account:password:UID:GID:GECOS:directory:shell",
        "<code>{key: &#x3C;string>[, passphrase: &#x3C;string>]}</code>",
    ):
        look_alike(text)
    hexadecimal = "0123456789abcdef"
    row("secret", 'stringData:\n  API_TOKEN: "{k}"\n', k=s("api_key", token(hexadecimal, 32)))
    row("secret", "SECRET={k}", k=s("api_key", token(hexadecimal, 32)))
    row("secret", "DB_PASSWORD={k}", k=s("password", "CorrectHorseBatteryStaple"))
    row("secret", "data:\n  username: YWRtaW4=\n  password: {k}\n",
        k=s("password", "UzNjdXJlUGEkJHcwcmQxMjM="))


def addresses_after_other_notations() -> None:
    """What follows an ``@`` in systemd units, gettext locales, UUCP Message-IDs and options is no
    e-mail address; one written with troff escapes or letters with diacritics is."""
    for text in (
        "systemctl status user@1000.service wg-quick@wg0.service getty@tty1.service",
        "msgfmt po/ca@valencia.po && msgen en@quot.header",
        "Message-ID: <2752@sun.uucp>",
        "zip -r backup.zip . -x@exclude.lst",
    ):
        look_alike(text)
    row("personal", ".TP\nJan de Vries\n<\\fI{e}\\fP>", e=p("email", "jan.devries@posteo.nl"))
    row("personal", "Bug reports to <{e}>.", e=p("email", "bug\\-tar\\-devel@gnu.org"))
    row("personal", "Schreiben Sie an {e}", e=p("email", "jörg.weiß@bäckerei-schäfer.de"))


def urls_without_a_password() -> None:
    """A CVS root, fsspec templates, a multi-host URL and a word in place of a password hold no
    connection-string password."""
    for text in (
        "  cvs://:pserver:anoncvs@sources.redhat.com:/cvs/src",
        "storage_options can handle gist://username:token@id/file",
        "    - 'github://org:repo@sha/precip/catalog.yml', where the sha",
        "mhu = MultiHostUrl('https://foo.com:123,foo:bar@bar.com/path')",
        "const options = new URL('https://abc:xyz@example.com');",
    ):
        look_alike(text)


def main() -> None:
    secrets()
    personal()
    look_alikes()
    mixed()
    hard()
    social_security()
    csv_rows()
    numbers_in_a_run()
    passwords_with_words()
    values_past_the_value_class()
    numbers_after_a_short_number()
    signed_integers_and_documentation_values()
    figures_and_escaped_quotes()
    letters_with_diacritics_and_raw_url_characters()
    image_digests()
    rows_of_figures_and_more_card_issuers()
    version_stamps_bytes_and_national_phone_formats()
    names_code_and_field_lists_after_password()
    addresses_after_other_notations()
    urls_without_a_password()
    with open(OUT, "w", encoding="utf-8") as handle:
        for item in ROWS:
            handle.write(json.dumps(item, ensure_ascii=False, sort_keys=True) + "\n")
    print(f"wrote {len(ROWS)} rows to {OUT}")


if __name__ == "__main__":
    main()
