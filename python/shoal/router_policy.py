"""Policies around a routing decision: privacy guard, conversation context, device fit,
stickiness and decision ids.

* Privacy. Before routing, the prompt and every history turn are scanned
  (:mod:`shoal.privacy`). Policy ``local`` (the default) keeps a task that holds a secret or
  personal data on open-weight models run locally; ``block`` refuses it; ``off`` skips the scan.
  The decision names each finding's kind and place (``email in prompt[14:33]``), never the value.
* Conversation. The router embeds the latest turn followed by the last
  :data:`CONTEXT_TURNS` earlier turns, each cut to its last :data:`CONTEXT_CHARACTERS`
  characters, so a terse follow-up (``and in Rust?``) lands near its topic. The context-window
  check and the cost count the whole conversation as :func:`shoal.tokens.count_chat` counts
  its messages, the prompt being the last user message: every field of every turn (role,
  content, name, tool calls) plus OpenAI's published chat overhead (3 tokens a message, 1 a
  name, 3 for the reply).
* Device. With ``device``, a candidate that runs locally must fit that device's memory
  (:func:`shoal.hardware.hardware_fit`, weights in :data:`LOCAL_QUANTISATION`, the
  conversation plus the expected output held in the KV cache).
* Stickiness. With ``previous_model``, the conversation stays on it unless another eligible
  candidate's objective (quality − cost / willingness to pay) is higher by more than
  ``stickiness_margin``; under ``min_quality`` the previous model must also still reach it.
* Decision id. A SHA-256 over the canonical JSON of every input that shapes the decision and
  the router and catalog versions: the same question asked again gets the same id, which
  :mod:`shoal.feedback` uses to attach observed outcomes.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import logging
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from shoal.budget import CHAT_ROLES, MAX_MESSAGES
from shoal.errors import InputError, ShoalError
from shoal.excerpts import excerpt, grouped_number
from shoal.frozen_mapping import FrozenDict
from shoal.numbers_in import real_number
from shoal.privacy import PrivacyFinding, listed_findings, scan_conversation
from shoal.tokens import (
    CALL_KEYS,
    MAX_TEXT_CHARACTERS,
    TEXT_FIELDS,
    TOKENS_PER_NAME,
    _compact_json,
    _content_texts,
    check_unicode,
    message_texts_of,
)

logger = logging.getLogger(__name__)

PRIVACY_POLICIES = ("local", "block", "off")
# The roles count_chat and trim_chat take, so that a trimmed chat can be routed: developer is
# OpenAI's newer name for system instructions, function its older form of a tool result. No
# role changes how a turn is routed or scanned; only an assistant's tool calls are read apart.
HISTORY_ROLES = CHAT_ROLES
DEFAULT_PRIVACY = "local"
DEFAULT_STICKINESS_MARGIN = 0.02
CONTEXT_TURNS = 2
CONTEXT_CHARACTERS = 400
LOCAL_QUANTISATION = "Q4_K_M"
MESSAGE_OVERHEAD_TOKENS = 3
REPLY_PRIMING_TOKENS = 3
DECISION_ID_VERSION = "shoal-decision-v1"
# Findings a privacy summary names by kind and place; the rest are counted.
SUMMARY_FINDINGS = 8
# The most characters the earlier turns of a conversation may hold together, as many as one
# text: a bound on the whole, since a thousand turns each under a text's bound would still be
# too many to scan and count. At four characters a token it is about twice the largest context
# window in the catalog.
MAX_HISTORY_CHARACTERS = MAX_TEXT_CHARACTERS
# The most turns a conversation's earlier turns may count, as many messages as trim_chat takes:
# long agent chats add a turn a tool call, and the characters bound does the real work.
MAX_HISTORY_TURNS = MAX_MESSAGES
# The keys of a tool call's arguments: OpenAI's function.arguments, Anthropic's tool_use input.
ARGUMENT_KEYS = ("arguments", "input")


@dataclass(frozen=True)
class PrivacyReport:
    """What the privacy scan found and what it did to the decision.

    Attributes:
        policy: ``local``, ``block`` or ``off``.
        action: ``none`` (nothing found or policy off), ``kept_local`` (hosted models were
            excluded) or ``blocked``.
        findings: Each finding's kind, category and character offsets in its text.
        summary: One sentence for people: kinds and places, never values. It names up to
            :data:`SUMMARY_FINDINGS` findings (the secrets first when there are more; see
            :func:`shoal.privacy.listed_findings`) and counts the rest.
        finding_counts: Findings of each kind, over the whole conversation, by kind's name.
        findings_omitted: Findings not listed in ``findings``: 0 here, where every finding
            is; the MCP tool ``route_task`` lists a bounded number.
    """

    policy: str
    action: str
    findings: tuple[PrivacyFinding, ...]
    summary: str
    finding_counts: Mapping[str, int] = dataclasses.field(default_factory=FrozenDict)
    findings_omitted: int = 0


@dataclass(frozen=True)
class StickinessReport:
    """Whether a conversation stayed on its previous model.

    Attributes:
        previous_model: The model that answered the previous turn.
        margin: Objective gain a switch must exceed.
        stayed: True when the decision kept ``previous_model``.
        best_model: The candidate that would have been chosen without stickiness.
        gain: Objective of ``best_model`` minus that of ``previous_model`` (None when the
            previous model has no estimate or is ineligible).
        detail: Why it stayed or switched.
    """

    previous_model: str
    margin: float
    stayed: bool
    best_model: str
    gain: float | None
    detail: str


class PrivacyPolicyError(ShoalError, ValueError):
    """Privacy policy ``block`` refused a task holding secrets or personal data."""


# ---- conversation ----


def check_history(history: object) -> tuple[tuple[str, str], ...]:
    """``(role, content)`` of each earlier turn; raises InputError (a ValueError) naming a
    malformed turn.

    A turn's role is one of :data:`HISTORY_ROLES`, and every turn needs one, as every message of
    :func:`shoal.tokens.count_chat` does; its content is a str or, as chat APIs send it, a list
    of text parts ``{"type": "text", "text": ...}`` (and the other parts that carry text, as
    :func:`shoal.tokens.count_chat` reads them, or Anthropic ``tool_use``/``tool_result``
    blocks, taken as compact JSON), joined by newlines. An assistant turn with ``tool_calls``
    (or the older ``function_call``) may leave its content out or null, as the API allows; its
    calls, as compact JSON, are its text. The turns together may hold at most
    :data:`MAX_HISTORY_CHARACTERS`: their texts and every other string field (a name, a tool
    call id); there may be at most :data:`MAX_HISTORY_TURNS` of them.
    """
    if history is None:
        return ()
    if isinstance(history, (str, bytes)) or not isinstance(history, Sequence):
        raise InputError(
            f"history must be a list of turns like {{'role': 'user', 'content': '...'}}, "
            f"got {type(history).__name__}"
        )
    if len(history) > MAX_HISTORY_TURNS:
        raise InputError(f"history: at most {MAX_HISTORY_TURNS:,} turns, got {len(history):,}. "
                         "Drop earlier turns")
    turns = []
    characters = 0
    for index, turn in enumerate(history):
        if not isinstance(turn, Mapping):
            raise InputError(f"history[{index}] must be a mapping with 'role' and 'content'")
        if "role" not in turn:
            # Read as a user turn, a tool result or a system message left without its role
            # would be routed and counted as something it is not.
            raise InputError(f"history[{index}] has no 'role'; every turn needs one")
        role = turn["role"]
        if role not in HISTORY_ROLES:
            raise InputError(f"history[{index}]: role must be one of "
                             f"{', '.join(HISTORY_ROLES)}, got {excerpt(role)}")
        content = _turn_text(turn, str(role), f"history[{index}]")
        characters += len(content) + _field_characters(turn)
        if characters > MAX_HISTORY_CHARACTERS:
            # Refused before the rest is read: the bound is what keeps a huge history from
            # holding a server for the time it takes to scan and count.
            raise InputError(
                f"history: at most {MAX_HISTORY_CHARACTERS:,} characters over all turns; the "
                f"turns up to history[{index}] hold {characters:,}. Drop or shorten earlier "
                "turns"
            )
        check_unicode(content, f"history[{index}]['content']")
        turns.append((str(role), content))
    return tuple(turns)


def _field_characters(turn: Mapping[str, Any]) -> int:
    """Characters of a turn's string fields besides its role, content and calls (a name, a
    tool call id), which the count of the conversation reads too."""
    return sum(len(value) for key, value in turn.items()
               if isinstance(value, str) and key not in ("role", "content", *CALL_KEYS))


def _turn_text(turn: Mapping[str, Any], role: str, where: str) -> str:
    content = turn.get("content")
    calls = [key for key in CALL_KEYS if turn.get(key) is not None] if role == "assistant" else []
    if content is None and not calls:
        raise InputError(f"{where}: content is missing; give the turn's text (only an "
                         "assistant turn with tool_calls may leave it out)")
    texts = []
    if isinstance(content, list):
        try:
            texts += _content_texts(content, f"{where}['content']")[0]
        except TypeError as error:
            raise InputError(str(error)) from None
    elif isinstance(content, str):
        texts.append(content)
    elif content is not None:
        raise InputError(f"{where}: content must be a str or a list of text parts "
                         f"{{'type': 'text', 'text': '...'}}, got {type(content).__name__}")
    for key in calls:
        call = turn[key]
        texts.append(call if isinstance(call, str) else _compact_json(call, f"{where}[{key!r}]"))
    return "\n".join(texts)


def located_texts(turn: Mapping[str, Any], index: int) -> list[tuple[str, str]]:
    """Each text of ``history[index]``, a turn :func:`check_history` accepted, with the
    location that names it: the texts the privacy scan reads, each on its own, so that a
    finding's offsets index a string the caller holds.

    A string content is ``history[i]``; any other text is named by its path into the turn,
    down to the string itself: ``history[i].content[j].text``,
    ``history[i].tool_calls[k].function.arguments``, ``history[i].content[j].input``. A tool's
    arguments given as an object (Anthropic's ``input``) and a number are read as their compact
    JSON text, so that a key is scanned with its value (``"password":"…"``).
    """
    where = f"history[{index}]"
    content = turn.get("content")
    located: list[tuple[str, str]] = []
    if isinstance(content, str):
        located.append((where, content))
    elif isinstance(content, list) and all(_text_field(part) for part in content):
        # Only a text part's text is read, as the count reads it (not a thinking signature).
        fields = [(position, part, _text_field(part)) for position, part in enumerate(content)]
        located += [(f"{where}.content[{position}].{field}", part[field])
                    for position, part, field in fields if field is not None]
    elif content is not None:
        located += _located_values(content, f"{where}.content")
    if turn["role"] == "assistant":
        for key in CALL_KEYS:
            if turn.get(key) is not None:
                located += _located_values(turn[key], f"{where}.{key}")
    return [(location, text) for location, text in located if text]


def _text_field(part: object) -> str | None:
    """The field that holds a text part's text (``text``, ``refusal``, ``thinking``), or None
    for a part of another kind."""
    if not isinstance(part, Mapping) or not isinstance(part.get("type"), str):
        return None
    field = TEXT_FIELDS.get(part["type"])
    return field if field is not None and isinstance(part.get(field), str) else None


def _located_values(value: object, path: str) -> list[tuple[str, str]]:
    """The strings in ``value`` (tool calls or blocks, no deeper than :func:`check_history`
    lets them be), each with its path from ``path``."""
    if isinstance(value, str):
        return [(path, value)]
    if isinstance(value, Mapping):
        located = []
        for key, item in value.items():
            here = _key_path(path, key)
            if key in ARGUMENT_KEYS and not isinstance(item, str):
                located.append((here, _compact_json(item, here)))
            else:
                located += _located_values(item, here)
        return located
    if isinstance(value, (list, tuple)):
        return [pair for position, item in enumerate(value)
                for pair in _located_values(item, f"{path}[{position}]")]
    if value is None or isinstance(value, bool):
        # null, true and false hold nothing to find.
        return []
    return [(path, _compact_json(value, path))]


def _key_path(path: str, key: object) -> str:
    """``path.key``, or ``path["key"]`` for a key that is not an identifier."""
    if isinstance(key, str) and key.isidentifier():
        return f"{path}.{key}"
    return f"{path}[{json.dumps(str(key), ensure_ascii=False)}]"


def counted_texts(history: Sequence[Mapping[str, Any]] | None) -> tuple[tuple[str, ...], int]:
    """The texts :func:`shoal.tokens.count_chat` counts in the earlier turns of a checked
    ``history`` followed by the prompt as a user turn, and how many turns carry a ``name``.

    Every string field of a turn is counted, as count_chat counts it: its role (the prompt's
    ``user`` too), its content, a ``name`` or a tool turn's ``tool_call_id``, and its tool
    calls as compact JSON. A field of any other type, which count_chat refuses, is left out.
    Empty without history: a single prompt is counted as its text alone.
    """
    if not history:
        return (), 0
    texts: list[str] = []
    names = 0
    for index, turn in enumerate(history):
        message = {key: value for key, value in turn.items()
                   if isinstance(value, str) or key in COUNTED_AS_JSON}
        turn_texts, named, _ = message_texts_of(message, index)
        texts += turn_texts
        names += named
    return (*texts, "user"), names


# Fields counted whatever their type: the content (text parts, tool blocks) and tool calls.
COUNTED_AS_JSON = ("content", *CALL_KEYS)


def embedding_text(prompt: str, turns: Sequence[tuple[str, str]]) -> str:
    """The latest turn, then the tails of the last :data:`CONTEXT_TURNS` earlier turns."""
    if not turns:
        return prompt
    context = [content[-CONTEXT_CHARACTERS:] for _, content in turns[-CONTEXT_TURNS:]]
    return "\n".join([prompt, *reversed(context)])


def conversation_overhead(turns: Sequence[tuple[str, str]], names: int = 0) -> int:
    """Chat framing tokens of ``turns`` plus the latest prompt, ``names`` of them carrying a
    name, as :func:`shoal.tokens.count_chat` adds them (0 without history)."""
    if not turns:
        return 0
    return ((len(turns) + 1) * MESSAGE_OVERHEAD_TOKENS + names * TOKENS_PER_NAME
            + REPLY_PRIMING_TOKENS)


# ---- privacy ----


def check_privacy_policy(policy: object) -> str:
    if policy not in PRIVACY_POLICIES:
        raise InputError(f"privacy must be one of {', '.join(PRIVACY_POLICIES)}, got "
                         f"{excerpt(policy)}")
    return str(policy)


def privacy_report(
    prompt: str, history: Sequence[Mapping[str, Any]], policy: str
) -> PrivacyReport:
    """Scan the conversation (``history`` as given, checked) under ``policy``; raises
    :class:`PrivacyPolicyError` for ``block``."""
    if policy == "off":
        return PrivacyReport(policy, "none", (), "privacy scan off")
    findings = scan_conversation(prompt, history)
    if not findings:
        return PrivacyReport(policy, "none", (), "no secrets or personal data found")
    places = "; ".join(f.describe() for f in listed_findings(findings, SUMMARY_FINDINGS))
    more = (f" and {len(findings) - SUMMARY_FINDINGS} more"
            if len(findings) > SUMMARY_FINDINGS else "")
    secrets = sum(f.category == "secret" for f in findings)
    kinds = [("a secret" if secrets == 1 else "secrets") if secrets else "",
             "personal data" if secrets < len(findings) else ""]
    categories = " and ".join(kind for kind in kinds if kind)
    if policy == "block":
        them = "it" if len(findings) == 1 else "them"
        raise PrivacyPolicyError(
            f"privacy='block' refused the task: found {categories} ({places}{more}). Remove "
            f"{them}, or use privacy='local' to keep the task on local open-weight models."
        )
    summary = (f"found {categories} ({places}{more}); hosted models excluded, the task stays "
               "on open-weight models run locally")
    return PrivacyReport(policy, "kept_local", findings, summary, finding_counts(findings))


def finding_counts(findings: Sequence[PrivacyFinding]) -> FrozenDict[str, int]:
    """How many findings there are of each kind, by kind's name."""
    return FrozenDict(sorted(Counter(finding.kind for finding in findings).items()))


# ---- decision ids ----


def decision_id(inputs: Mapping[str, Any]) -> str:
    """``d-`` and 24 hex digits of SHA-256 over the canonical JSON of ``inputs``."""
    canonical = json.dumps(
        {"format": DECISION_ID_VERSION, **inputs}, sort_keys=True, ensure_ascii=False,
        separators=(",", ":"),
    )
    return "d-" + hashlib.sha256(canonical.encode("utf-8", "surrogatepass")).hexdigest()[:24]


# ---- stickiness ----


def check_margin(margin: object, previous_model: object) -> float:
    """The stickiness margin; None is the default, :data:`DEFAULT_STICKINESS_MARGIN`. A margin
    without a previous model is refused: it would weigh a switch that cannot happen."""
    if margin is None:
        return DEFAULT_STICKINESS_MARGIN
    if previous_model is None:
        raise InputError("stickiness_margin weighs a switch from previous_model; give both, or "
                         "neither")
    given = real_number(margin)
    if given is None:
        raise InputError(f"stickiness_margin must be a number, got {type(margin).__name__}")
    if not 0.0 <= float(given) <= 1.0:
        raise InputError(f"stickiness_margin must be between 0 and 1, got {grouped_number(given)}")
    return float(given)


def stickiness(
    best: str,
    best_objective: float | None,
    previous: str,
    previous_objective: float | None,
    previous_failure: str,
    previous_meets_floor: bool,
    margin: float,
) -> StickinessReport:
    """Whether to stay on ``previous`` rather than switch to ``best`` (see the module docstring).
    ``previous_failure`` says why ``previous`` is no candidate now (``breaks context_window``,
    ``cannot be estimated (...)``), empty when it is one.
    """
    if best == previous:
        return StickinessReport(previous, margin, True, best, 0.0,
                                f"{previous} is still the best candidate")
    if previous_failure:
        return StickinessReport(previous, margin, False, best, None,
                                f"{previous} {previous_failure}; switched to {best}")
    if previous_objective is None or best_objective is None:
        return StickinessReport(previous, margin, False, best, None,
                                f"{previous} has no quality estimate; switched to {best}")
    gain = best_objective - previous_objective
    if not previous_meets_floor:
        return StickinessReport(previous, margin, False, best, gain,
                                f"{previous} is not predicted to reach min_quality; switched")
    if gain > margin:
        return StickinessReport(
            previous, margin, False, best, gain,
            f"{best} beats {previous} by {gain:.4g} on quality − cost / willingness to pay, "
            f"more than the margin {margin:g}; switched",
        )
    if gain < 0:
        # The best candidate by the mode's own order (under min_quality, the cheapest that
        # reaches it) can score below the previous model on the objective a switch is weighed by.
        return StickinessReport(
            previous, margin, True, best, gain,
            f"stayed on {previous}: switching to {best} would lose {-gain:.4g} on quality − "
            "cost / willingness to pay",
        )
    return StickinessReport(
        previous, margin, True, best, gain,
        f"stayed on {previous}: {best} would gain only {gain:.4g} on quality − cost / "
        f"willingness to pay, within the margin {margin:g}",
    )
