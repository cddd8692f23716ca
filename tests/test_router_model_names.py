"""Model names in labelled rows, recorded outcomes and router files are held to the rules of every
id shoal takes: at most 200 characters, printable characters only, no space around. A name that
breaks one is refused where it is read, by FILE:LINE, before anything prints it."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path
from typing import Any

import pytest
from mcp import Client

from shoal.cli import main
from shoal.feedback import record_outcome
from shoal.router import RouterFileError, fit_router, load_router
from shoal.router_model import _content_hash
from shoal.server import build_server

MATHS, POEMS = "qwen2.5-7b-instruct", "gemma-2-9b-it"
TASKS = [
    ("Solve 2x + 1 = 5 for x.", 1.0, 0.0), ("What is 17 times 23?", 1.0, 0.0),
    ("Write a haiku about autumn leaves.", 0.0, 1.0), ("Compose a limerick about a cat.", 0.0, 1.0),
]
PRINTABLE = ("must hold only printable characters (no control or format characters, no space "
             "but ' ')")
TOO_LONG = "must be at most 200 characters, as every model id shoal takes, got"
CUT = "mmmmmmmmmmmmmmmmm...mmmmmmmmmmmmmmmmmm"
# Each name a file may hold and no command takes back, and what the refusal says of it.
REFUSED = {
    "a line break and a terminal escape": (
        "two\nlines\x1b[31mRED", f"{PRINTABLE}, got '\\n' in 'two\\nlines\\x1b[31mRED'"),
    "a right-to-left override": (
        "evil\u202egpj.exe", f"{PRINTABLE}, got '\\u202e' in 'evil\\u202egpj.exe'"),
    "a control character": ("m-b\x01\u202e", f"{PRINTABLE}, got '\\x01' in 'm-b\\x01\\u202e'"),
    "201 characters": ("m" * 201, f"{TOO_LONG} 201 ('{CUT}')"),
    "a megabyte": ("m" * 1_000_000, f"{TOO_LONG} 1,000,000 ('{CUT}')"),
    "spaces around": (" acme ", "must not start or end with a space, got ' acme '; give 'acme'"),
    # The catalog reads it as gpt-5-mini: refused all the same, not merged into that model.
    "a space before a catalog id": (
        " gpt-5-mini", "must not start or end with a space, got ' gpt-5-mini'; give "
        "'gpt-5-mini'"),
}


def label_rows(third: str = "acme") -> list[dict[str, Any]]:
    """Two models on every prompt, and ``third`` on the second prompt (line 4 of the file)."""
    rows: list[dict[str, Any]] = []
    for prompt, maths, poems in TASKS:
        rows.append({"prompt": prompt, "model": MATHS, "score": maths, "cost_usd": 0.001})
        rows.append({"prompt": prompt, "model": POEMS, "score": poems, "cost_usd": 0.001})
    rows.insert(3, {"prompt": TASKS[1][0], "model": third, "score": 0.5, "cost_usd": 0.001})
    return rows


def write_jsonl(path: Path, rows: list[dict[str, Any]]) -> Path:
    path.write_text("".join(json.dumps(row) + "\n" for row in rows), encoding="utf-8")
    return path


def refusal(capsys: pytest.CaptureFixture[str], *argv: str) -> str:
    assert main(list(argv)) == 2
    captured = capsys.readouterr()
    assert captured.out == ""
    # One line, with nothing in it that a terminal would act on.
    assert captured.err.count("\n") == 1
    assert all(character.isprintable() for character in captured.err.rstrip("\n"))
    assert len(captured.err) < 1_000
    return captured.err


@pytest.mark.parametrize(("name", "problem"), REFUSED.values(), ids=REFUSED.keys())
def test_fit_and_eval_refuse_the_name_by_file_and_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], name: str, problem: str,
) -> None:
    bad = write_jsonl(tmp_path / "bad.jsonl", label_rows(third=name))
    good = write_jsonl(tmp_path / "good.jsonl", label_rows())
    out = tmp_path / "router.json"

    assert f"{bad}:4: model {problem}" in refusal(capsys, "fit", str(bad), "--out", str(out))
    assert f"{bad}:4: model {problem}" in refusal(
        capsys, "eval", "--train", str(bad), "--test", str(good))
    assert f"{bad}:4: model {problem}" in refusal(
        capsys, "eval", "--train", str(good), "--test", str(bad))
    assert f"{bad}:4: model {problem}" in refusal(
        capsys, "eval", "--data", str(bad), "--folds", "2")
    assert not out.exists()


@pytest.mark.parametrize(("name", "problem"), REFUSED.values(), ids=REFUSED.keys())
def test_an_llmrouter_list_names_the_item_with_the_model(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], name: str, problem: str,
) -> None:
    items = [{"question": prompt, "scores": {MATHS: maths, POEMS: poems}}
             for prompt, maths, poems in TASKS]
    items[2]["scores"][name] = 0.5
    data = tmp_path / "items.json"
    data.write_text(json.dumps(items), encoding="utf-8")

    err = refusal(capsys, "fit", str(data), "--out", str(tmp_path / "router.json"))

    assert f"{data}: list item 2 (counting from 0): a model named in scores {problem}" in err


@pytest.mark.parametrize(("name", "problem"), REFUSED.values(), ids=REFUSED.keys())
def test_fit_router_in_python_refuses_the_row(name: str, problem: str) -> None:
    with pytest.raises(RouterFileError) as refused:
        fit_router(label_rows(third=name), k=2)

    assert str(refused.value) == f"rows[3]: model {problem}"


def test_a_recorded_outcome_under_such_a_name_is_refused_by_its_decision(
    tmp_path: Path, capsys: pytest.CaptureFixture[str],
) -> None:
    database = tmp_path / "feedback.sqlite3"
    for number, (prompt, maths, poems) in enumerate(TASKS):
        record_outcome(f"d-{number:024x}", MATHS, maths, prompt=prompt, db_path=database)
        record_outcome(f"d-{number:024x}", POEMS, poems, prompt=prompt, db_path=database)
    # What a database written by an earlier shoal, or edited, may hold.
    with sqlite3.connect(database) as connection:
        connection.execute("UPDATE outcomes SET model = ? WHERE decision_id = ? AND model = ?",
                           ("evil\u202egpj.exe", f"d-{1:024x}", POEMS))
    connection.close()

    err = refusal(capsys, "fit", "--outcomes", str(database), "--out", str(tmp_path / "r.json"))

    assert (f"{database}: the outcome of decision 'd-{1:024x}': model {PRINTABLE}, got "
            "'\\u202e' in 'evil\\u202egpj.exe'") in err


def rename_a_model(path: Path, name: str) -> Path:
    """Rename the router file's second model ``name``, with its content hash computed again as a
    hand edit (or a shoal that took any name) would leave it."""
    document = json.loads(path.read_text(encoding="utf-8"))
    document["models"][1] = name
    body = {key: value for key, value in document.items() if key != "content_hash"}
    path.write_text(json.dumps({**body, "content_hash": _content_hash(body)}), encoding="utf-8")
    return path


def router_file(tmp_path: Path) -> Path:
    return fit_router(label_rows(), k=2).save(tmp_path / "router.json")


@pytest.mark.parametrize(("name", "problem"), REFUSED.values(), ids=REFUSED.keys())
def test_a_router_file_holding_such_a_name_is_refused_on_load(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], name: str, problem: str,
) -> None:
    path = rename_a_model(router_file(tmp_path), name)
    expected = (f"router file {path}: models[1] {problem}; rename the model in the labelled "
                "rows and fit the router again")

    with pytest.raises(RouterFileError) as refused:
        load_router(path)
    assert str(refused.value) == expected
    assert expected in refusal(capsys, "route", "Solve 3x = 9.", "--router", str(path))


@pytest.mark.anyio
@pytest.mark.parametrize("anyio_backend", ["asyncio"])
async def test_route_task_names_the_router_file_not_the_megabyte_name(
    tmp_path: Path, anyio_backend: str,
) -> None:
    path = router_file(tmp_path)
    arguments = {"prompt": "Solve 3x = 9."}

    async with Client(build_server(router=path)) as client:
        assert not (await client.call_tool("route_task", arguments)).is_error
        rename_a_model(path, "m" * 1_000_000)
        answer = await client.call_tool("route_task", arguments)

    assert answer.is_error
    text = answer.content[0].text
    assert text.startswith("route_task: the server's own router file is at fault, not this "
                           "call's arguments, and only the server's operator can fix it: "
                           f"--router: router file {path}: models[1] must be at most 200 "
                           "characters"), text
    assert len(text) < 1_000


def test_one_name_in_two_cases_is_one_model_as_routing_reads_it(
    tmp_path: Path, capsys: pytest.CaptureFixture[str],
) -> None:
    # Routing matches a name the catalog lacks in any case, and a router file may not list one
    # model twice: fit wrote two models here, and the file it wrote could not be loaded.
    rows = [*label_rows(), {"prompt": TASKS[2][0], "model": "ACME", "score": 0.5,
                            "cost_usd": 0.001}]
    data = write_jsonl(tmp_path / "labels.jsonl", rows)
    out = tmp_path / "router.json"

    assert main(["fit", str(data), "--out", str(out), "--k", "2"]) == 0

    assert "labels for ACME counted as acme\n" in capsys.readouterr().out
    assert load_router(out).models == ("acme", POEMS, MATHS)
