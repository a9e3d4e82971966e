"""The results table: each measured figure beside its target."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path


@dataclass
class Row:
    scenario: str
    measure: str
    value: float
    unit: str
    target: str = ""
    met: bool | None = None
    note: str = ""


def render_table(rows: list[Row]) -> str:
    lines = [
        "| scenario | measure | measured | target | met | note |",
        "|---|---|---|---|---|---|",
    ]
    for row in rows:
        met = "" if row.met is None else ("yes" if row.met else "**no**")
        value = f"{row.value:,.1f}" if isinstance(row.value, float) else f"{row.value:,}"
        lines.append(f"| {row.scenario} | {row.measure} | {value} {row.unit} | {row.target} | {met} | {row.note} |")
    return "\n".join(lines)


def append_results(path: Path, *, stamp: str, machine: str, table: str) -> None:
    header = "" if path.exists() else "# Benchmark results\n\nAppended by `make bench`; newest last.\n"
    with path.open("a") as out:
        out.write(f"{header}\n## Run of {stamp}\n\nMachine: {machine}.\n\n{table}\n")
