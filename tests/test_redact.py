"""`shoal.privacy.redact` with findings given: overlapping spans are hidden whole, findings of
another text or covering nothing are refused, and every caller redacts through it."""

from __future__ import annotations

import json
import re
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

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


# A conversation whose private values sit in every kind of text a turn can carry: text parts, an
# OpenAI tool call's arguments, an Anthropic tool_use input and tool_result, the older
# function_call, thinking and refusal parts. Each value is what the finding of its kind must cover.
KEY = "AKIAQYLPMN5HHHFPZAM2"
MAIL = "ana.lopez@gmail.com"
OTHER_MAIL = "bob.smith@gmail.com"
PASSWORD = "hunter2x9Q"
PARTS_AND_CALLS = [
    {"role": "user", "content": [{"type": "text", "text": "first part"},
                                 {"type": "text", "text": f"key {KEY} here"}]},
    {"role": "assistant", "content": None, "tool_calls": [
        {"id": "call_1", "type": "function",
         "function": {"name": "send_mail", "arguments": json.dumps({"to": MAIL})}}]},
    {"role": "tool", "tool_call_id": "call_1", "content": "sent"},
    {"role": "assistant", "content": [
        {"type": "text", "text": "Logging in."},
        {"type": "tool_use", "id": "toolu_1", "name": "login",
         "input": {"user": "ana", "password": PASSWORD}}]},
    {"role": "user", "content": [
        {"type": "tool_result", "tool_use_id": "toolu_1",
         "content": [{"type": "text", "text": f"logged in as {OTHER_MAIL}"}]}]},
    {"role": "assistant", "content": None,
     "function_call": {"name": "send_mail", "arguments": {"to": OTHER_MAIL}}},
    # Parts read by another field than `text`: a thinking block's signature is no text.
    {"role": "assistant", "content": [
        {"type": "thinking", "thinking": f"the key is {KEY}", "signature": "c2lnbmF0dXJl"},
        {"type": "refusal", "refusal": f"I will not write to {MAIL}"}]},
]
LOCATIONS = [
    ("aws_access_key_id", "history[0].content[1].text", KEY),
    ("email", "history[1].tool_calls[0].function.arguments", MAIL),
    ("password", "history[3].content[1].input", PASSWORD),
    ("email", "history[4].content[0].content[0].text", OTHER_MAIL),
    ("email", "history[5].function_call.arguments", OTHER_MAIL),
    ("aws_access_key_id", "history[6].content[0].thinking", KEY),
    ("email", "history[6].content[1].refusal", MAIL),
]


def _named_text(history: list[dict[str, Any]], location: str) -> str:
    """The string a finding's location names: ``history[i]`` is a turn's content, and each step
    after it a key (``.key``) or an index (``[n]``); an object or a number is read as its
    compact JSON."""
    turn = re.match(r"history\[(\d+)\]", location)
    assert turn is not None, location
    value: Any = history[int(turn[1])]
    path = location[turn.end():]
    if not path:
        return str(value["content"])
    steps = re.findall(r"\.(\w+)|\[(\d+)\]", path)
    assert "".join(f".{key}" if key else f"[{index}]" for key, index in steps) == path, path
    for key, index in steps:
        value = value[key] if key else value[int(index)]
    if isinstance(value, str):
        return value
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"))


def test_each_finding_of_a_conversation_indexes_the_string_its_location_names() -> None:
    findings = scan_conversation("hello", PARTS_AND_CALLS)

    assert [(f.kind, f.location) for f in findings] == [
        (kind, location) for kind, location, _ in LOCATIONS]
    for finding, (_, _, value) in zip(findings, LOCATIONS, strict=True):
        text = _named_text(PARTS_AND_CALLS, finding.location)
        assert text[finding.start : finding.end] == value, finding.describe()
        redacted = redact(text, [finding], location=finding.location)
        assert value not in redacted and f"[{finding.kind}]" in redacted


def test_a_text_part_is_redacted_with_its_own_findings() -> None:
    part = PARTS_AND_CALLS[0]["content"][1]["text"]
    findings = scan_conversation("hello", PARTS_AND_CALLS)

    here = [f for f in findings if f.location == "history[0].content[1].text"]
    assert redact(part, here, location="history[0].content[1].text") == \
        "key [aws_access_key_id] here"


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


# Each is found standing alone; joined up, one may hide the next from the scan.
FINDABLE_ALONE = [
    "AKIAQYLPMN5HHHFPZAM2", "bob.smith@gmail.com", "+1 415 867 5309", "(415) 867-5309",
    "0151 23456789", "4539 1488 0343 6467", "DE44 5001 0517 5407 3249 31", "536-90-4399",
    "password=Xk9mP2vL8qR!ü", "ghp_a1B2c3D4e5F6g7H8i9J0k1L2m3N4o5P6q7R8", "415-867-5309",
]
JOINS = ["", " ", "+", "/", ",", "-", ".", ":", "_", "ü", "a", "1"]


@pytest.mark.parametrize(
    ("text", "redacted"),
    [
        ("4539 1488 0343 6467+1 415 867 5309", "[card_number][phone]"),
        ("password=Xk9mP2vL8qR!ü+1 415 867 5309", "password=[password] [phone]"),
    ],
)
def test_a_finding_another_hides_is_found_and_redacted(text: str, redacted: str) -> None:
    assert redact(text) == redacted
    assert scan_text(redacted) == ()


@settings(max_examples=300, deadline=None)
@given(st.lists(st.tuples(st.sampled_from(JOINS), st.sampled_from(FINDABLE_ALONE)),
                min_size=2, max_size=4))
def test_redacted_findings_joined_up_scan_clean(joined: list[tuple[str, str]]) -> None:
    for _, piece in joined:
        assert scan_text(piece), piece
    text = "".join(join + piece for join, piece in joined)

    redacted = redact(text)

    assert scan_text(redacted) == (), (text, redacted)
