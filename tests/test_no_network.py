"""No network at run time: importing shoal, starting its server and calling every tool opens no
connection and resolves no name.

A fresh interpreter installs an audit hook (PEP 578) before shoal is imported and records every
``socket.connect``, ``socket.getaddrinfo``, ``socket.gethostbyname``, ``socket.sendto`` and
``urllib.Request`` event; then it serves shoal's tools to the SDK's in-memory client and calls
each one with the arguments of tests/test_server.py. Tokenizer vocabularies, the catalog, the
router and the hardware tables all ship in the package.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

SCRIPT = r"""
import json, sys

NETWORK_EVENTS = {"socket.connect", "socket.getaddrinfo", "socket.gethostbyname",
                  "socket.gethostbyaddr", "socket.sendto", "socket.sendmsg", "urllib.Request"}
seen = []

def audit(event, args):
    if event in NETWORK_EVENTS:
        seen.append(f"{event} {args!r}"[:200])

sys.addaudithook(audit)

import anyio
from mcp import Client
from shoal.server import build_server
sys.path.insert(0, sys.argv[1])
from test_server import CALLS

async def main():
    results = {}
    async with Client(build_server(roots=[sys.argv[2]])) as client:
        for name, arguments in CALLS.items():
            result = await client.call_tool(name, arguments)
            results[name] = bool(result.is_error)
        for uri in ("shoal://catalog", "shoal://devices", "shoal://architectures", "shoal://nodes"):
            await client.read_resource(uri)
    return results

errors = anyio.run(main)
print(json.dumps({"network": seen, "errors": errors}))
"""


def test_serving_every_tool_opens_no_connection(tmp_path: Path) -> None:
    tests = Path(__file__).resolve().parent
    env = {**os.environ, "SHOAL_LEDGER": str(tmp_path / "ledger.sqlite3")}
    done = subprocess.run(
        [sys.executable, "-c", SCRIPT, str(tests), str(tests.parent)],
        capture_output=True, text=True, timeout=300, env=env, check=False,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    report = json.loads(done.stdout.strip().splitlines()[-1])

    assert report["network"] == []
    assert report["errors"] and not any(report["errors"].values()), report["errors"]
