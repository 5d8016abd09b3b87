"""Rendering for the command line: rich tables for people, JSON for scripts.

Commands describe what they show as ``Table`` values (plain data) and hand them, with the
JSON payload, to ``show``. Only this module imports rich, and only when a table is printed,
so ``--output json`` and ``--help`` never load it.

Streams: results (tables, JSON, ids, paths) go to stdout; commentary (confirmations, notes)
goes to stderr through ``note``, so ``ID=$(mltrail experiments create -n x)`` captures the id.
"""

from __future__ import annotations

import dataclasses
import json
import math
import time
from collections.abc import Callable, Sequence
from datetime import datetime
from typing import Any, Literal, TypeVar

import click

OUTPUT_KEY = "mltrail.output"
"""Where ``--output`` leaves its value in ``ctx.meta``, for the error handler in ``main``."""

FC = TypeVar("FC", bound=Callable[..., Any])

PIPE_WIDTH = 160
"""Tables written to a pipe or a file are drawn at least this wide (terminals: their width)."""
COLUMN_GAP = 3
"""The characters rich puts between two columns of our tables."""


def _remember_output(ctx: click.Context, _param: click.Parameter, value: str) -> str:
    ctx.meta[OUTPUT_KEY] = value
    return value


def output_option(command: FC) -> FC:
    """``--output table|json`` for a command that shows something."""
    option = click.option(
        "--output",
        type=click.Choice(["table", "json"], case_sensitive=False),
        default="table",
        show_default=True,
        callback=_remember_output,
        help="A table for people, or JSON (MLflow's REST shapes) for scripts.",
    )
    return option(command)


def note(message: str) -> None:
    """Commentary for the person at the terminal, on stderr."""
    click.echo(message, err=True)


# Tables, as plain data

Style = str
Cell = str | tuple[str, Style]
"""A cell's text, optionally with a rich style name (``"green"``, ``"dim"``)."""


@dataclasses.dataclass(frozen=True)
class Column:
    header: str
    justify: Literal["left", "right"] = "left"
    no_wrap: bool = False
    min_width: int | None = None
    style: Style | None = None
    overflow: Literal["fold", "ellipsis"] = "ellipsis"
    """``fold`` for paths and URIs, which must stay whole to be copied."""


@dataclasses.dataclass
class Table:
    columns: Sequence[Column]
    rows: list[Sequence[Cell]] = dataclasses.field(default_factory=list)
    title: str | None = None
    caption: Sequence[str] = ()
    """Lines printed dim under the table, unwrapped (paths and URIs stay copyable)."""
    empty: str = "Nothing to show."
    show_header: bool = True


def show(mode: str, payload: Any, build: Callable[[], Sequence[Table]]) -> None:
    """Print ``payload`` as JSON, or the tables ``build`` returns."""
    if mode == "json":
        print_json(payload)
    else:
        print_tables(build())


def print_json(payload: Any) -> None:
    click.echo(json.dumps(payload, indent=2))


def _console() -> Any:
    from rich.console import Console

    console = Console(highlight=False)
    if not console.is_terminal:
        # Into a file or a pipe no terminal limits the width: do not squeeze columns.
        console.width = max(console.width, PIPE_WIDTH)
    return console


def table_width() -> int:
    """The width tables are drawn to: the terminal's, or ``PIPE_WIDTH`` into a pipe."""
    width: int = _console().width
    return width


def column_width(header: str, cells: Sequence[str]) -> int:
    """The room a column takes in a table: its widest text plus the gap between columns."""
    return max([len(header), *map(len, cells)]) + COLUMN_GAP


def print_tables(tables: Sequence[Table]) -> None:
    # rich is imported only when a table is printed.
    from rich import box
    from rich.table import Table as RichTable
    from rich.text import Text

    console = _console()
    for index, spec in enumerate(tables):
        if index:
            console.print()
        if spec.rows:
            table = RichTable(
                title=spec.title,
                title_justify="left",
                title_style="bold",
                show_header=spec.show_header,
                header_style="bold",
                box=box.SIMPLE_HEAD,
                show_edge=False,
                pad_edge=False,
            )
            for column in spec.columns:
                table.add_column(
                    column.header,
                    justify=column.justify,
                    no_wrap=column.no_wrap,
                    min_width=column.min_width,
                    style=column.style,
                    overflow=column.overflow,
                )
            for row in spec.rows:
                table.add_row(*(_text(cell, Text) for cell in row))
            console.print(table)
        else:
            console.print(Text(spec.empty))
        for line in spec.caption:
            console.print(Text(line, style="dim"), soft_wrap=True)


def _text(cell: Cell, text_type: Any) -> Any:
    # Cells become Text objects, never markup: a run named "[red]x" prints as written.
    if isinstance(cell, tuple):
        return text_type(cell[0], style=cell[1])
    return text_type(cell)


# Formatting


def format_time(ms: int | None, *, seconds: bool = True) -> str:
    """Epoch milliseconds as local time, ``2024-05-01 14:03:07``; ``-`` when unknown."""
    if ms is None:
        return "-"
    pattern = "%Y-%m-%d %H:%M:%S" if seconds else "%Y-%m-%d %H:%M"
    return datetime.fromtimestamp(ms / 1000).strftime(pattern)


def format_duration(ms: int) -> str:
    """``0.4s``, ``12.3s``, ``4m 05s``, ``3h 02m``, ``2d 03h``."""
    seconds = max(ms, 0) / 1000
    if seconds < 60:
        return f"{seconds:.1f}s"
    whole = int(seconds)
    minutes, secs = divmod(whole, 60)
    hours, minutes = divmod(minutes, 60)
    days, hours = divmod(hours, 24)
    if days:
        return f"{days}d {hours:02d}h"
    if hours:
        return f"{hours}h {minutes:02d}m"
    return f"{minutes}m {secs:02d}s"


def run_duration(start: int | None, end: int | None, running: bool) -> str:
    """How long a run took; for a running run, how long so far (marked with ``…``)."""
    if start is None:
        return "-"
    if end is not None:
        return format_duration(end - start)
    if running:
        return format_duration(time.time_ns() // 1_000_000 - start) + "…"
    return "-"


def format_number(value: float) -> str:
    if math.isnan(value) or math.isinf(value):
        return str(value)
    if value == int(value) and abs(value) < 1e15:
        return str(int(value))
    return f"{value:.4g}"


def format_size(size: int | None) -> str:
    if size is None:
        return ""
    amount = float(size)
    for unit in ("B", "KiB", "MiB", "GiB", "TiB"):
        if amount < 1024 or unit == "TiB":
            return f"{int(amount)} {unit}" if unit == "B" else f"{amount:.1f} {unit}"
        amount /= 1024
    raise AssertionError("unreachable")


def plural(count: int, noun: str) -> str:
    """``1 run``, ``3 runs``."""
    return f"{count} {noun}{'' if count == 1 else 's'}"


def shorten(text: str, width: int) -> str:
    """``text`` cut to ``width`` characters, the cut marked with ``…``."""
    return text if len(text) <= width else text[: max(width - 1, 0)] + "…"


STATUS_STYLES = {
    "FINISHED": "green",
    "RUNNING": "yellow",
    "SCHEDULED": "cyan",
    "FAILED": "red",
    "KILLED": "magenta",
}


def status_cell(status: str) -> Cell:
    return (status, STATUS_STYLES.get(status, ""))


def stage_cell(stage: str) -> Cell:
    return (stage, "red" if stage == "deleted" else "")
