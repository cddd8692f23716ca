"""Write the licence texts of the Rust crates linked into ``shoal._core``, from Cargo.lock.

Maintainer script; needs ``cargo`` and the crates' sources in the local cargo registry (any
``cargo build`` of shoal fetches them), and no network. From the repository root::

    python -m shoal._build.crate_licenses --out python/shoal/data/licenses/rust-crates.txt

The crates come from ``cargo metadata --format-version 1 --offline --locked --features python``
(the features the wheel is built with, ``[tool.maturin]`` in pyproject.toml). A crate counts as
linked when shoal-core reaches it through normal dependencies for any target: build
dependencies only run as build scripts and procedural macros only run inside the compiler, so
neither they nor what only they depend on end up in the extension; a dependency that only some
targets take is listed with the condition Cargo.toml gives for it. Every other crate in
Cargo.lock is listed as not linked, with the reason, so that the file accounts for all of them.

The licence files are the ones each crate ships in its root folder (``LICENSE*``, ``LICENCE*``,
``COPYING*``, ``UNLICENSE*``, ``NOTICE*``, ``COPYRIGHT*``), copied unchanged apart from line
endings; a text shared by several crates is written once, naming them all. The output holds no
path, date or tool version, so the same Cargo.lock and registry give the same bytes.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

# The features maturin builds the extension with ([tool.maturin] features in pyproject.toml).
FEATURES = ("python",)
LICENCE_FILE_PREFIXES = ("LICENSE", "LICENCE", "COPYING", "UNLICENSE", "NOTICE", "COPYRIGHT")
TITLE = "Licences of the Rust crates linked into shoal's extension module (shoal._core)"


class CrateLicenceError(Exception):
    """cargo could not describe the crates, or a crate's licence files could not be read."""


@dataclass(frozen=True)
class Crate:
    """One package of Cargo.lock as cargo metadata describes it."""

    name: str
    version: str
    licence: str
    repository: str
    folder: Path
    is_proc_macro: bool

    @property
    def label(self) -> str:
        return f"{self.name} {self.version}"


@dataclass(frozen=True)
class Inventory:
    """Which crates end up in the extension, on which targets, and why the others do not."""

    # Crate label -> the target conditions under which it is linked ("" for every target).
    linked: Mapping[str, tuple[str, ...]]
    # Crate label -> why it is not in the extension.
    not_linked: Mapping[str, str]
    crates: Mapping[str, Crate]


def cargo_metadata(root: Path) -> dict[str, Any]:
    """The output of ``cargo metadata`` for the crate at ``root``, without the network."""
    command = ["cargo", "metadata", "--format-version", "1", "--offline", "--locked",
               "--features", ",".join(FEATURES), "--manifest-path", str(root / "Cargo.toml")]
    try:
        done = subprocess.run(command, capture_output=True, text=True, check=False)
    except FileNotFoundError as error:
        raise CrateLicenceError("cargo is not on PATH; install a Rust toolchain") from error
    if done.returncode != 0:
        last_line = (done.stderr.strip().splitlines() or ["no message"])[-1]
        raise CrateLicenceError(f"cargo metadata failed: {last_line}")
    result: dict[str, Any] = json.loads(done.stdout)
    return result


def _crate(package: Mapping[str, Any]) -> Crate:
    kinds = {kind for target in package["targets"] for kind in target["kind"]}
    return Crate(name=package["name"], version=package["version"],
                 licence=package.get("license") or "(none declared)",
                 repository=package.get("repository") or "",
                 folder=Path(package["manifest_path"]).parent,
                 is_proc_macro="proc-macro" in kinds)


def inventory(metadata: Mapping[str, Any]) -> Inventory:
    """Sort every crate of the resolved graph into linked and not linked."""
    crates = {package["id"]: _crate(package) for package in metadata["packages"]}
    nodes = {node["id"]: node for node in metadata["resolve"]["nodes"]}
    root = metadata["resolve"]["root"]

    # Each linked crate's conditions: tuples of the cfg() strings along one path from the root,
    # the empty tuple when some path takes no condition at all.
    conditions: dict[str, set[tuple[str, ...]]] = {root: {()}}
    pending = [root]
    while pending:
        parent = pending.pop()
        for dependency in nodes[parent]["deps"]:
            child = dependency["pkg"]
            targets = [kind["target"] for kind in dependency["dep_kinds"] if kind["kind"] is None]
            if not targets or crates[child].is_proc_macro:
                continue
            found = {path + ((target,) if target else ()) for path in conditions[parent]
                     for target in targets}
            known = conditions.setdefault(child, set())
            if not found <= known:
                known |= found
                pending.append(child)

    linked = {crates[key].label: _simplest(paths) for key, paths in conditions.items()
              if key != root}
    not_linked = {crates[key].label: _why_not_linked(key, crates, nodes, set(conditions))
                  for key in nodes if key not in conditions}
    by_label = {crate.label: crate for key, crate in crates.items() if key in nodes}
    return Inventory(linked=linked, not_linked=not_linked, crates=by_label)


def _simplest(paths: set[tuple[str, ...]]) -> tuple[str, ...]:
    """No condition when any path has none; otherwise each path's conditions joined by AND."""
    if () in paths:
        return ()
    return tuple(sorted(" and ".join(path) for path in paths))


def _why_not_linked(key: str, crates: Mapping[str, Crate], nodes: Mapping[str, Any],
                    linked: set[str]) -> str:
    if crates[key].is_proc_macro:
        return "procedural macro (runs inside the compiler)"
    users = sorted(crates[parent].label for parent, node in nodes.items()
                   for dependency in node["deps"] if dependency["pkg"] == key)
    kinds = {kind["kind"] or "normal" for parent, node in nodes.items()
             for dependency in node["deps"] if dependency["pkg"] == key
             for kind in dependency["dep_kinds"] if parent in linked}
    if "build" in kinds:
        role = "build script dependency"
    elif kinds == {"dev"}:
        role = "test-only dependency"
    else:
        role = "compile-time dependency"
    return f"{role} of {', '.join(users)}"


def licence_files(crate: Crate) -> list[Path]:
    """The licence files in the crate's root folder, by name."""
    try:
        entries = sorted(crate.folder.iterdir())
    except OSError as error:
        raise CrateLicenceError(
            f"cannot read the sources of {crate.label} at {crate.folder}: {error.strerror}; "
            "run cargo fetch once with the network") from error
    found = [path for path in entries
             if path.is_file() and path.name.upper().startswith(LICENCE_FILE_PREFIXES)]
    if not found:
        raise CrateLicenceError(f"{crate.label} ships no licence file in {crate.folder}")
    return found


def render(found: Inventory) -> str:
    """The whole licence file."""
    linked = sorted(found.linked, key=_sort_key)
    lines = [TITLE, "=" * len(TITLE), "",
             *_wrap("Written by `python -m shoal._build.crate_licenses` from Cargo.lock and the "
                    "licence files each crate ships; do not edit by hand. shoal's extension "
                    "module statically links the crates listed first; the crates after them are "
                    "in Cargo.lock but compiled only for the build. Where a crate offers a "
                    "choice of licences, shoal uses it under the MIT licence where offered. The "
                    "extension also holds parts of the Rust standard library, which is under "
                    "MIT OR Apache-2.0 like most of these crates."),
             "", "Linked into the extension", "-------------------------"]
    for label in linked:
        crate = found.crates[label]
        lines.append(f"{label}: {crate.licence}  {crate.repository}".rstrip())
        for condition in found.linked[label]:
            lines.append(f"    only on targets where {condition}")
    lines += ["", "Not linked (compiled only for the build)",
              "----------------------------------------"]
    lines += [f"{label}: {found.not_linked[label]}"
              for label in sorted(found.not_linked, key=_sort_key)]
    for text, owners in _texts_by_crate(found.crates[label] for label in linked):
        lines += ["", "", "=" * 100, f"{' / '.join(owners)}", "=" * 100, "", text]
    return "\n".join(lines).rstrip("\n") + "\n"


def _texts_by_crate(crates: Iterable[Crate]) -> list[tuple[str, list[str]]]:
    """Each distinct licence text once, with the files (``crate version: FILE``) that hold it."""
    owners: dict[str, list[str]] = {}
    for crate in crates:
        for path in licence_files(crate):
            try:
                text = path.read_text(encoding="utf-8").replace("\r\n", "\n").strip("\n")
            except (OSError, UnicodeDecodeError) as error:
                raise CrateLicenceError(f"cannot read {path.name} of {crate.label}: {error}") \
                    from error
            owners.setdefault(text, []).append(f"{crate.label}: {path.name}")
    return list(owners.items())


def _sort_key(label: str) -> tuple[str, str]:
    name, version = label.split(" ")
    return name, version


def _wrap(text: str, width: int = 96) -> list[str]:
    lines: list[str] = []
    for word in text.split():
        if lines and len(lines[-1]) + 1 + len(word) <= width:
            lines[-1] += " " + word
        else:
            lines.append(word)
    return lines


def main(argv: Sequence[str] | None = None) -> int:
    """Command-line entry: write the licence file for the crate at --root."""
    parser = argparse.ArgumentParser(
        prog="python -m shoal._build.crate_licenses", description=__doc__.splitlines()[0])
    parser.add_argument("--root", type=Path, default=Path.cwd(),
                        help="the folder holding shoal's Cargo.toml (default: the current one)")
    parser.add_argument("--out", type=Path, required=True)
    arguments = parser.parse_args(argv)
    try:
        text = render(inventory(cargo_metadata(arguments.root)))
        arguments.out.write_text(text, encoding="utf-8", newline="\n")
    except CrateLicenceError as error:
        print(f"{parser.prog}: error: {error}", file=sys.stderr)
        return 2
    except OSError as error:
        print(f"{parser.prog}: error: {error.filename}: {error.strerror or error}",
              file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
