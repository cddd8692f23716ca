"""`shoal.privacy.redact` with findings given: overlapping spans are hidden whole, findings of
another text or covering nothing are refused, and every caller redacts through it."""

from __future__ import annotations

import pytest

from shoal.privacy import PrivacyFinding, redact, scan_conversation, scan_text

TEXT = "0123456789ABCDEFGHIJ"


def _finding(kind: str, start: int, end: int, location: str = "prompt") -> PrivacyFinding:
    return PrivacyFinding(kind, "personal", location, start, end)


@pytest.mark.parametrize(
    ("findings", "redacted"),
    [
        # Overlapping: the union is hidden, shown as the earliest finding's kind.
        ([_finding("email", 0, 10), _finding("phone", 5, 20)], "[email]"),
        # Nested, the shorter first: the longer finding is not dropped.
        ([_finding("phone", 0, 5), _finding("email", 0, 20)], "[email]"),
        ([_finding("phone", 2, 5), _finding("email", 0, 8)], "[email]89ABCDEFGHIJ"),
        # A chain: each overlaps the next, none the first, and all become one span.
        ([_finding("iban", 12, 16), _finding("email", 1, 4), _finding("phone", 3, 13)],
         "0[email]GHIJ"),
        # The same span twice: the first listed names it.
        ([_finding("phone", 4, 6), _finding("email", 4, 6)], "0123[phone]6789ABCDEFGHIJ"),
        # Touching spans stay apart.
        ([_finding("email", 0, 5), _finding("phone", 5, 10)], "[email][phone]ABCDEFGHIJ"),
        ([_finding("phone", 15, 20), _finding("email", 0, 5)], "[email]56789ABCDE[phone]"),
        ([], TEXT),
    ],
)
def test_overlapping_findings_are_redacted_as_their_union(
    findings: list[PrivacyFinding], redacted: str
) -> None:
    assert redact(TEXT, findings) == redacted


def test_no_character_of_any_finding_stays_visible() -> None:
    findings = [_finding("email", 0, 10), _finding("phone", 5, 20), _finding("iban", 3, 7)]

    redacted = redact(TEXT, findings)

    assert not any(TEXT[f.start : f.end] in redacted for f in findings)
    assert not any(character in redacted for character in TEXT)


def test_each_turn_of_a_conversation_is_redacted_with_its_own_findings() -> None:
    history = [{"role": "user", "content": "my mail is ana.lopez@gmail.com"}]
    prompt = "and my key is AKIAQYLPMN5HHHFPZAM2"
    findings = scan_conversation(prompt, history)
    turn = history[0]["content"]

    assert redact(turn, [f for f in findings if f.location == "history[0]"],
                  location="history[0]") == "my mail is [email]"
    assert redact(prompt, [f for f in findings if f.location == "prompt"]) == \
        "and my key is [aws_access_key_id]"


def test_findings_of_another_location_are_refused() -> None:
    history = [{"role": "user", "content": "my mail is ana.lopez@gmail.com"}]
    findings = scan_conversation("hello", history)
    other = "another text, long enough to hold the span without complaint"

    with pytest.raises(ValueError, match=r"^findings\[0\] \(email in history\[0\]\[11:30\]\) "
                                         r"was found in history\[0\], not in prompt: give "
                                         r"location='history\[0\]' if this text is that one"):
        redact(other, findings)
    with pytest.raises(ValueError, match=r"^findings\[0\] \(email in prompt\[11:30\]\) was found "
                                         r"in prompt, not in history\[1\]"):
        redact(other, scan_text("my mail is ana.lopez@gmail.com"), location="history[1]")


def test_a_location_labelled_by_the_caller_is_matched() -> None:
    text = "mail bob.smith@gmail.com"
    findings = scan_text(text, location="notes.txt")

    assert redact(text, findings, location="notes.txt") == "mail [email]"
    with pytest.raises(ValueError, match=r"was found in notes\.txt, not in prompt"):
        redact(text, findings)


@pytest.mark.parametrize(("start", "end"), [(3, 3), (0, 0), (20, 20), (7, 4)])
def test_a_finding_covering_no_character_is_refused(start: int, end: int) -> None:
    with pytest.raises(ValueError, match=rf"^findings\[1\] \(phone in prompt\[{start}:{end}\]\) "
                                         "covers no character: a finding's start is less than "
                                         "its end$"):
        redact(TEXT, [_finding("email", 10, 12), _finding("phone", start, end)])


@pytest.mark.parametrize(("start", "end"), [(-1, 3), (5, 21), (21, 25)])
def test_a_finding_outside_the_text_is_refused(start: int, end: int) -> None:
    with pytest.raises(ValueError, match=r"^findings\[0\] .* lies outside the text of 20 "
                                         "characters"):
        redact(TEXT, [_finding("email", start, end)])


def test_location_must_be_a_str() -> None:
    with pytest.raises(TypeError, match=r"^location must be str, not NoneType$"):
        redact(TEXT, [], location=None)  # type: ignore[arg-type]
