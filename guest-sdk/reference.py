#!/usr/bin/env python3
"""Writes docs/sdk-reference.md, the API reference of the Python and the
TypeScript SDK, from their doc comments: the Python sources
(guest-sdk/python/cairn) and the TypeScript declarations that
`node guest-sdk/typescript/build.mjs --types target/typescript/types` emits.

    python3 guest-sdk/reference.py           # rewrite the page
    python3 guest-sdk/reference.py --check   # exit 1 if the page is stale
"""

import ast
import inspect
import pathlib
import re
import sys

ROOT = pathlib.Path(__file__).resolve().parent.parent
PY = ROOT / "guest-sdk" / "python" / "cairn"
TS = ROOT / "target" / "typescript" / "types"
PAGE = ROOT / "docs" / "sdk-reference.md"

# (heading, source module, public names (None: every public top-level one), prefix)
PYTHON = [
    ("`from cairn import workflow, ctx, Failure`", "_workflow.py", ["workflow"], ""),
    ("`ctx` (inside a workflow)", "_context.py", None, "ctx."),
    ("`Failure`", "_errors.py", ["Failure"], ""),
    ("`from cairn import activity, idempotency_key, attempt`", "_activity.py", ["activity", "idempotency_key", "attempt"], ""),
    ("`from cairn import http` (inside an activity)", "http.py", None, "http."),
]
PYTHON_HIDDEN = {"ContinueAsNew"}

TYPESCRIPT = [
    ('`import { workflow, ctx, Failure } from "@cairn/sdk"`', "index.d.ts", ["WorkflowFn", "workflow"], ""),
    ("`ctx` (inside a workflow)", "context.d.ts", None, "ctx."),
    ("`Durable<T>`", "loop.d.ts", ["Durable"], ""),
    ("`Failure`", "failure.d.ts", ["FailureOptions", "Failure"], ""),
    (
        '`import { activity, idempotencyKey, attempt } from "@cairn/sdk/activity"`',
        "activity.d.ts",
        ["ActivityFn", "activity", "executionId", "idempotencyKey", "attempt", "log"],
        "",
    ),
]
TYPESCRIPT_HIDDEN = {"millis"}


def python_items(path, names, prefix):
    tree = ast.parse(path.read_text())
    for node in tree.body:
        if not isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            continue
        if node.name.startswith("_") or node.name in PYTHON_HIDDEN:
            continue
        if names is not None and node.name not in names:
            continue
        doc = inspect.cleandoc(ast.get_docstring(node) or "(undocumented)")
        if isinstance(node, ast.ClassDef):
            bases = ", ".join(ast.unparse(b) for b in node.bases)
            sig = f"class {prefix}{node.name}" + (f"({bases})" if bases else "")
            members = []
            for item in node.body:
                if isinstance(item, (ast.FunctionDef, ast.AsyncFunctionDef)) and not item.name.startswith("_"):
                    if item.name == "__init__" or any(
                        isinstance(d, ast.Name) and d.id == "classmethod" for d in item.decorator_list
                    ):
                        continue
                    mdoc = inspect.cleandoc(ast.get_docstring(item) or "")
                    members.append(f"- `.{item.name}` — {mdoc.splitlines()[0] if mdoc else ''}")
                elif isinstance(item, ast.AnnAssign) and isinstance(item.target, ast.Name):
                    members.append(f"- `.{item.target.id}: {ast.unparse(item.annotation)}`")
            init = next((i for i in node.body if isinstance(i, ast.FunctionDef) and i.name == "__init__"), None)
            if init is not None:
                sig += f"\n{prefix}{node.name}({ast.unparse(init.args).removeprefix('self, ')})"
            yield sig, doc + ("\n\n" + "\n".join(members) if members else "")
        else:
            kw = "async def" if isinstance(node, ast.AsyncFunctionDef) else "def"
            ret = f" -> {ast.unparse(node.returns)}" if node.returns else ""
            yield f"{kw} {prefix}{node.name}({ast.unparse(node.args)}){ret}", doc


DECL = re.compile(r"(/\*\*(?:(?!\*/).)*\*/)\s*export\s+(?:declare\s+)?(function|class|interface|type)\s+(\w+)", re.S)


def declaration_end(text, start):
    """Where the declaration starting at `start` ends (its `;` or closing brace)."""
    depth = 0
    for i in range(start, len(text)):
        c = text[i]
        if c in "{(<[":
            depth += 1
        elif c in "})>]" and not (c == ">" and text[i - 1] == "="):
            depth -= 1
            if depth == 0 and c == "}" and text[start:i].lstrip().startswith(("export declare class", "export interface")):
                return i + 1
        elif c == ";" and depth == 0:
            return i + 1
    return len(text)


def ts_doc(comment):
    lines = [re.sub(r"^\s*\*? ?", "", l) for l in comment[3:-2].strip().splitlines()]
    return "\n".join(lines).strip()


def typescript_items(path, names, prefix):
    text = path.read_text()
    for m in DECL.finditer(text):
        kind, name = m.group(2), m.group(3)
        if name in TYPESCRIPT_HIDDEN or (names is not None and name not in names):
            continue
        doc = ts_doc(m.group(1))
        if doc.startswith("@internal"):
            continue
        start = m.start(0) + len(m.group(1))
        decl = text[start : declaration_end(text, text.index("export", start))].strip()
        decl = decl.replace("export declare ", "").replace("export ", "")
        decl = re.sub(r"\n\s*/\*\* @internal[^\n]*\*/\n[^\n]*", "", decl)
        if prefix and kind == "function":
            decl = decl.replace(f"function {name}", f"function {prefix}{name}", 1)
        yield decl, doc


def section(title, items, lang):
    out = [f"### {title}", ""]
    for sig, doc in items:
        out += [f"```{lang}", sig, "```", "", doc, ""]
    return out


def page():
    out = [
        "# SDK reference",
        "",
        "Generated by `python3 guest-sdk/reference.py` from the doc comments of",
        "`guest-sdk/python/cairn` and of the TypeScript SDK's declarations",
        "(`build.mjs --types`); a test fails when it is stale. The SDKs side by",
        "side: [sdks.md](sdks.md). The Rust SDK's reference is its crate",
        "documentation (`cargo doc -p cairn-sdk`).",
        "",
        "## Python (`guest-sdk/python/cairn`)",
        "",
    ]
    for title, module, names, prefix in PYTHON:
        out += section(title, python_items(PY / module, names, prefix), "python")
    out += ["## TypeScript (`guest-sdk/typescript`)", ""]
    for title, module, names, prefix in TYPESCRIPT:
        out += section(title, typescript_items(TS / module, names, prefix), "ts")
    return "\n".join(out).rstrip() + "\n"


def main():
    if not (TS / "index.d.ts").exists():
        sys.exit("reference.py: no TypeScript declarations: run ./x build (or build.mjs --types target/typescript/types)")
    text = page()
    if "--check" in sys.argv[1:]:
        if not PAGE.exists() or PAGE.read_text() != text:
            sys.exit("reference.py: docs/sdk-reference.md is stale: run python3 guest-sdk/reference.py")
        return
    PAGE.write_text(text)
    print(f"reference.py: wrote {PAGE.relative_to(ROOT)}", file=sys.stderr)


if __name__ == "__main__":
    main()
