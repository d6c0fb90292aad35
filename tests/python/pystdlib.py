"""pystdlib: imports standard-library modules inside the workflow, not at
the top of the module, and uses each one (tests/e2e/examples.rs checks the
output). A component has no file system at run time, so a module is only
there if the build brought it in: `datetime.strptime` needs `_strptime`,
`"…".encode("idna")` needs `encodings.idna`, `zoneinfo` needs its data."""

from cairn import workflow


@workflow
async def pystdlib(input: dict) -> dict:
    import csv
    import decimal
    import io
    import statistics
    import urllib.parse
    import zoneinfo
    from datetime import datetime, timezone

    parsed = datetime.strptime("2026-12-04 10:30", "%Y-%m-%d %H:%M")
    paris = datetime(2026, 7, 1, 12, tzinfo=timezone.utc).astimezone(zoneinfo.ZoneInfo("Europe/Paris"))
    rows = list(csv.reader(io.StringIO("a,b\n1,2\n")))
    return {
        "strptime": parsed.isoformat(),
        "idna": "bücher.example".encode("idna").decode(),
        "mean": statistics.mean([1, 2, 3, 4]),
        "decimal": str(decimal.Decimal("0.1") + decimal.Decimal("0.2")),
        "csv": rows,
        "paris": paris.isoformat(),
        "url": urllib.parse.urlencode({"q": input.get("q", "a b")}),
        "quote": urllib.parse.quote("/a b"),
    }
