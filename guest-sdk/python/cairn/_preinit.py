"""What a component must hold before it is snapshotted (build time only).

componentize-py runs CPython once at build time and snapshots its memory;
at run time a component has no file system, so a module that was not
imported then is missing (`ModuleNotFoundError` in the middle of a
workflow). The generated entry calls `prepare` first: it checks the string
hash seed is the fixed one, imports the deterministic standard library and
every module the app's files import anywhere (also inside functions), and
keeps the time-zone database in memory for `zoneinfo`.
"""

import importlib
import io
import os

# `hash("cairn")` under the fixed entropy build.py gives componentize-py:
# set iteration order, and so replay, must not change between two builds.
HASH_OF_CAIRN = 956988828

# Modules a workflow reaches without naming them (`datetime.strptime`,
# `str.encode("idna")`, `decimal`'s C part) or commonly imports inside a
# function; all deterministic (no clock, no randomness, no I/O).
STDLIB = [
    "_strptime",
    "abc",
    "base64",
    "binascii",
    "bisect",
    "calendar",
    "cmath",
    "collections",
    "contextlib",
    "copy",
    "csv",
    "dataclasses",
    "datetime",
    "decimal",
    "difflib",
    "encodings.ascii",
    "encodings.base64_codec",
    "encodings.cp1252",
    "encodings.hex_codec",
    "encodings.idna",
    "encodings.latin_1",
    "encodings.punycode",
    "encodings.utf_16",
    "encodings.utf_32",
    "enum",
    "fnmatch",
    "fractions",
    "functools",
    "graphlib",
    "hashlib",
    "heapq",
    "hmac",
    "html",
    "html.parser",
    "ipaddress",
    "itertools",
    "json",
    "math",
    "numbers",
    "operator",
    "pprint",
    "re",
    "shlex",
    "statistics",
    "string",
    "stringprep",
    "struct",
    "textwrap",
    "typing",
    "unicodedata",
    "urllib.parse",
    "uuid",
    "xml.etree.ElementTree",
    "zlib",
    "zoneinfo",
]


class BuildError(Exception):
    """Fails the build with a message that names what is wrong."""


def prepare(app_imports):
    """Runs at build time, before the app is imported.

    `app_imports` are `(module, "file:line")` pairs build.py found in the
    app's files; a module that cannot be imported fails the build here
    rather than the workflow later (unless its place is None: a guarded
    import, or a name `from` imports that may be an attribute).
    """
    seed = hash("cairn")
    if seed != HASH_OF_CAIRN:
        raise BuildError(
            f"the string hash seed is not the fixed one (hash('cairn') = {seed}): "
            "a rebuild would change set iteration order and break replay; "
            "build with guest-sdk/python/build.py, which fixes it"
        )
    for name in STDLIB:
        importlib.import_module(name)
    for name, where in app_imports:
        try:
            importlib.import_module(name)
        except ImportError as e:
            if where is None:
                continue
            raise BuildError(
                f"{where}: `import {name}` fails at build time ({e}); a component "
                "has no file system at run time, so every module must be bundled: "
                "put it (or its package) beside the app or in the SDK's path"
            ) from None
    _keep_time_zones()


def _keep_time_zones():
    """Reads the pinned `tzdata` package into memory and points `zoneinfo`
    at it: at run time there is no file to open."""
    try:
        import tzdata.zoneinfo
    except ImportError:
        return
    import zoneinfo
    import zoneinfo._common

    root = os.path.dirname(tzdata.zoneinfo.__file__)
    zones = {}
    for directory, _, files in os.walk(root):
        for f in files:
            if f.startswith("__") or f.endswith((".py", ".pyc", ".tab", ".zi")):
                continue
            path = os.path.join(directory, f)
            key = os.path.relpath(path, root).replace(os.sep, "/")
            with open(path, "rb") as fobj:
                zones[key] = fobj.read()

    def load_tzdata(key):
        data = zones.get(key)
        if data is None:
            raise zoneinfo.ZoneInfoNotFoundError(f"No time zone found with key {key}")
        return io.BytesIO(data)

    zoneinfo._common.load_tzdata = load_tzdata
    zoneinfo.available_timezones = lambda: set(zones)
    zoneinfo.reset_tzpath([])
