"""PostgreSQL's own bound for an import: the rows the project stored, dumped in COPY's text format
and loaded by `psql` (its client-side COPY: the same connection path as the importer's) into the
same tables of the same server. Used by bench/import_pairs.py inside its Django worker."""

from __future__ import annotations

import os
import subprocess
import time
from pathlib import Path


def empty_tables() -> None:
    """Delete every imported row and checkpoint, so no timed phase pays for the one before it."""
    from django.db import connection

    from tandem.core.models import HumanLabel, Judgment, Pair

    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            tables = ", ".join(m._meta.db_table for m in (Pair, HumanLabel, Judgment))
            cursor.execute(f"TRUNCATE {tables} CASCADE")
            cursor.execute("CHECKPOINT")
        else:
            for model in (Judgment, HumanLabel, Pair):
                model.objects.all().delete()
    os.sync()


def _imported_tables() -> list[tuple[str, str]]:
    """(quoted table, quoted column list with the id) for pairs, labels and judgments: the
    columns the importer writes, so the bound loads exactly what the project stored."""
    from django.db import connection

    from tandem.core import services
    from tandem.core.models import HumanLabel, Judgment, Pair

    quote = connection.ops.quote_name
    tables = (
        (Pair, services.PAIR_COLUMNS),
        (HumanLabel, services.LABEL_COLUMNS),
        (Judgment, services.JUDGMENT_COLUMNS),
    )
    return [(quote(m._meta.db_table), ", ".join(map(quote, ("id", *cols)))) for m, cols in tables]


def dump_stored_rows(folder: Path) -> list[tuple[str, str, Path]]:
    """The bound's prepared input: every stored row in COPY's text format, ids kept so labels
    and judgments still point at their pairs."""
    from django.db import connection

    dumps = []
    with connection.cursor() as cursor:
        for table, names in _imported_tables():
            path = folder / f"{table.strip(chr(34))}.copy"
            with path.open("wb") as fh, cursor.copy(f"COPY {table} ({names}) TO STDOUT") as copy:
                for block in copy:
                    fh.write(block)
            dumps.append((table, names, path))
    return dumps


def time_copy_bound(dumps: list[tuple[str, str, Path]], folder: Path) -> float:
    """Seconds for psql to COPY the prepared rows into the emptied tables, in one transaction."""
    from scripts.services import postgres_bin

    script = folder / "bound.sql"
    script.write_text("".join(f"\\copy {table} ({names}) FROM '{path}'\n" for table, names, path in dumps))
    command = [str(postgres_bin() / "psql"), "-X", "-q", "-v", "ON_ERROR_STOP=1", "--single-transaction"]
    start = time.perf_counter()
    subprocess.run([*command, "-d", os.environ["DATABASE_URL"], "-f", str(script)], check=True)
    return time.perf_counter() - start


def server_cpu_seconds() -> float:
    """CPU seconds the database server has used so far: its postmaster with every process it
    has waited for (backends that ended, such as psql's), plus the ones still running."""
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_backend_pid()")
        backend = cursor.fetchone()[0]
    postmaster = _stat(backend)[1]
    total = sum(_stat(postmaster)[11:15])
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit() and (stat := _stat(int(entry.name))) and stat[1] == postmaster:
            total += stat[11] + stat[12]
    return total / os.sysconf("SC_CLK_TCK")


def _stat(pid: int) -> list[int]:
    """/proc/PID/stat's numeric fields from the state on (index 1: parent, 11-14: CPU ticks)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:  # it ended meanwhile
        return []
    return [0, *map(int, fields[1:15])]


def stored_counts() -> list[int]:
    from tandem.core.models import HumanLabel, Judgment, Pair

    return [model.objects.count() for model in (Pair, HumanLabel, Judgment)]
