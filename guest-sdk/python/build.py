#!/usr/bin/env python3
"""Builds a Python workflow into a Cairn component.

    python3 guest-sdk/python/build.py examples/chain/python/chain.py -o target/python/chain.wasm

The module is imported by a generated entry that exports the `workflow`
world (or the `activity` world, when the module registers @activity
functions); componentize-py (pinned, installed on first use into
target/toolchains/python) bundles it with the `cairn` package and CPython.
Nothing is rebuilt when the output is newer than every input.
"""

import argparse
import os
import pathlib
import subprocess
import sys
import venv

COMPONENTIZE_PY = "componentize-py==0.25.1"
SDK = pathlib.Path(__file__).resolve().parent
ROOT = SDK.parent.parent
TOOLCHAIN = ROOT / "target" / "toolchains" / "python"


def toolchain():
    exe = TOOLCHAIN / "bin" / "componentize-py"
    if not exe.exists():
        print(f"build.py: installing {COMPONENTIZE_PY} into {TOOLCHAIN}", file=sys.stderr)
        venv.create(TOOLCHAIN, with_pip=True)
        subprocess.run([TOOLCHAIN / "bin" / "pip", "install", "-q", COMPONENTIZE_PY], check=True)
    return exe


def inputs(app):
    yield from app.parent.rglob("*.py")
    yield from (SDK / "cairn").rglob("*.py")
    yield from (SDK / "templates").rglob("*.py")
    yield from (ROOT / "wit").rglob("*.wit")


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("app", type=pathlib.Path, help="the module that defines the @workflow function")
    parser.add_argument("-o", "--output", type=pathlib.Path, required=True)
    parser.add_argument(
        "--world",
        choices=["workflow", "activity"],
        help="default: `activity` when the module uses @activity, else `workflow`",
    )
    args = parser.parse_args()
    app = args.app.resolve()
    out = args.output.resolve()
    if not app.is_file():
        sys.exit(f"build.py: {app} does not exist")
    if out.exists() and all(p.stat().st_mtime <= out.stat().st_mtime for p in inputs(app)):
        return
    entry_dir = ROOT / "target" / "python" / "entries" / app.stem
    entry_dir.mkdir(parents=True, exist_ok=True)
    world = args.world or ("activity" if "@activity" in app.read_text() else "workflow")
    template = (SDK / "templates" / f"{world}_entry.py").read_text()
    (entry_dir / "cairn_entry.py").write_text(template.replace("{app}", app.stem))
    out.parent.mkdir(parents=True, exist_ok=True)
    cmd = [
        str(toolchain()),
        "-d", str(ROOT / "wit"),
        "-w", world,
        "componentize",
        "-p", str(app.parent),
        "-p", str(SDK),
        "-p", str(entry_dir),
        "cairn_entry",
        "-o", str(out),
    ]
    print(f"build.py: {app.name} -> {os.path.relpath(out)}", file=sys.stderr)
    subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL)


if __name__ == "__main__":
    main()
