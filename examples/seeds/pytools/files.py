"""File and format seeds for codemill's examples."""

import csv
import io
import json


def parse_key_values(text: str) -> dict[str, str]:
    """Parse `key = value` lines, skipping blanks and `#` comments."""
    result = {}
    for line in text.splitlines():
        line = line.strip()
        if not line or line.startswith("#") or "=" not in line:
            continue
        key, value = line.split("=", 1)
        result[key.strip()] = value.strip()
    return result


def csv_column_totals(text: str) -> dict[str, float]:
    """Sum every numeric column of a CSV document with a header row."""
    totals: dict[str, float] = {}
    for row in csv.DictReader(io.StringIO(text)):
        for column, value in row.items():
            try:
                totals[column] = totals.get(column, 0.0) + float(value)
            except (TypeError, ValueError):
                continue
    return totals


def pretty_json(data, indent: int = 2) -> str:
    """JSON text with sorted keys, for stable diffs."""
    return json.dumps(data, indent=indent, sort_keys=True, ensure_ascii=False)


def human_size(num_bytes: int) -> str:
    """Format a byte count as B, KiB, MiB, GiB or TiB with one decimal."""
    size = float(num_bytes)
    for unit in ("B", "KiB", "MiB", "GiB"):
        if abs(size) < 1024:
            return f"{size:.1f} {unit}"
        size /= 1024
    return f"{size:.1f} TiB"
