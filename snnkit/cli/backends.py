"""The ``backends`` subcommand: the registered backends, available here or why not."""

from __future__ import annotations

from snnkit.cli.output import emit


def run(args) -> int:
    from snnkit.backends import backend_entries

    rows = [{"name": e.name, "available": e.is_available,
             "reason": e.unavailable_reason(), "description": e.description,
             "source": e.source} for e in backend_entries()]
    if args.json:
        emit(args, rows)
        return 0
    from snnkit.utils.text_table import text_table

    table = []
    for row in rows:
        state = "available" if row["available"] else "unavailable"
        table.append((row["name"], state, row["description"]))
        if row["source"] != "snnkit":
            table.append(("", "", f"from {row['source']}"))
        if not row["available"]:
            table.append(("", "", f"why: {row['reason']}"))
    print("\n".join(line.rstrip() for line in text_table(table, "<<<", sep="  ")))
    return 0
