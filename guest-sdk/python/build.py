#!/usr/bin/env python3
"""Builds a Python workflow into a Cairn component.

    python3 guest-sdk/python/build.py examples/chain/python/chain.py -o target/python/chain.wasm

The module is imported by a generated entry that exports the `workflow`
world (or the `activity` world, when the module registers @activity
functions); componentize-py (pinned, installed on first use into
target/toolchains/python) bundles it with the `cairn` package and CPython.
Nothing is rebuilt when the output is newer than every input.

A component has no file system at run time: the entry imports, at build
time, the deterministic standard library, the pinned time-zone database
and every module the app's files import anywhere (a module that cannot be
imported fails the build, naming it); componentize-py runs with fixed
entropy (fixed_entropy.c) so the string hash seed, and with it set
iteration order, is the same in every build.
"""

import argparse
import ast
import os
import pathlib
import subprocess
import sys
import venv

COMPONENTIZE_PY = "componentize-py==0.25.1"
TZDATA = "tzdata==2025.2"
SDK = pathlib.Path(__file__).resolve().parent
ROOT = SDK.parent.parent
TOOLCHAIN = ROOT / "target" / "toolchains" / "python"
BUNDLED = ROOT / "target" / "toolchains" / "python-bundled"


def toolchain():
    exe = TOOLCHAIN / "bin" / "componentize-py"
    if not exe.exists():
        print(f"build.py: installing {COMPONENTIZE_PY} into {TOOLCHAIN}", file=sys.stderr)
        venv.create(TOOLCHAIN, with_pip=True)
        subprocess.run([TOOLCHAIN / "bin" / "pip", "install", "-q", COMPONENTIZE_PY], check=True)
    return exe


def bundled():
    """The pinned packages every component carries (the time-zone database)."""
    marker = BUNDLED / f"{TZDATA}.installed"
    if not marker.exists():
        print(f"build.py: installing {TZDATA} into {BUNDLED}", file=sys.stderr)
        pip = [TOOLCHAIN / "bin" / "pip", "install", "-q", "--no-deps", "--target", BUNDLED, TZDATA]
        subprocess.run(pip, check=True)
        marker.touch()
    return BUNDLED


def fixed_entropy():
    """The preloaded library that fixes the build's randomness (Linux), or None."""
    if not sys.platform.startswith("linux"):
        print("build.py: warning: not Linux, the string hash seed is not fixed", file=sys.stderr)
        return None
    src = SDK / "fixed_entropy.c"
    lib = TOOLCHAIN / "fixed_entropy.so"
    if not lib.exists() or lib.stat().st_mtime < src.stat().st_mtime:
        cc = os.environ.get("CC", "cc")
        subprocess.run([cc, "-shared", "-fPIC", "-O2", "-o", lib, src, "-ldl"], check=True)
    return lib


def guarded(tree):
    """The imports that sit in a `try` catching ImportError (or anything)."""
    found = set()
    for t in ast.walk(tree):
        if isinstance(t, ast.Try) and any(
            h.type is None or any(n in ast.unparse(h.type) for n in ("ImportError", "ModuleNotFoundError", "Exception"))
            for h in t.handlers
        ):
            found.update(n for stmt in t.body for n in ast.walk(stmt) if isinstance(n, (ast.Import, ast.ImportFrom)))
    return found


def imports(app):
    """Every module the app imports anywhere, following its local modules:
    (module, "file:line") pairs; `where` is None when a failure is allowed
    (`from x import name` where name may be an attribute, a guarded import)."""
    found, seen, todo = [], set(), [app]
    while todo:
        path = todo.pop()
        if path in seen:
            continue
        seen.add(path)
        tree = ast.parse(path.read_text(), filename=str(path))
        optional = guarded(tree)
        for node in ast.walk(tree):
            names = []
            if isinstance(node, ast.Import):
                names = [(a.name, True) for a in node.names]
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                names = [(node.module, True)] + [(f"{node.module}.{a.name}", False) for a in node.names]
            for name, required in names:
                where = f"{path.name}:{node.lineno}" if required and node not in optional else None
                found.append((name, where))
                local = app.parent / (name.split(".")[0] + ".py")
                if local.is_file():
                    todo.append(local)
    return found


def inputs(app):
    yield from app.parent.rglob("*.py")
    yield from (SDK / "cairn").rglob("*.py")
    yield from (SDK / "templates").rglob("*.py")
    yield from (ROOT / "wit").rglob("*.wit")
    yield SDK / "fixed_entropy.c"
    yield pathlib.Path(__file__).resolve()


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
    entry = template.replace("{app}", app.stem).replace("{imports}", repr(imports(app)))
    (entry_dir / "cairn_entry.py").write_text(entry)
    out.parent.mkdir(parents=True, exist_ok=True)
    cmd = [
        str(toolchain()),
        "-d", str(ROOT / "wit"),
        "-w", world,
        "componentize",
        "-p", str(app.parent),
        "-p", str(SDK),
        "-p", str(entry_dir),
        "-p", str(bundled()),
        "cairn_entry",
        "-o", str(out),
    ]
    print(f"build.py: {app.name} -> {os.path.relpath(out)}", file=sys.stderr)
    env = dict(os.environ)
    lib = fixed_entropy()
    if lib:
        env["LD_PRELOAD"] = str(lib)
    subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL, env=env)


if __name__ == "__main__":
    main()
