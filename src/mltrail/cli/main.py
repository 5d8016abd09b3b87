"""The root of the ``mltrail`` command.

Subcommands are registered by module name and imported only when used (or listed by
``--help``); their modules import nothing heavy at the top, so ``mltrail --version`` and
``mltrail --help`` start without SQLAlchemy or rich.

Every ``MltrailError`` a command raises ends here: ``Error: <message>`` on stderr (the
``{"error_code", "message"}`` envelope with ``--output json``) and exit status 1. Usage
errors stay click's (exit status 2).
"""

from __future__ import annotations

import importlib
import json
from typing import Any

import click

from mltrail._version import __version__
from mltrail.cli.output import OUTPUT_KEY
from mltrail.errors import MltrailError

SUBCOMMANDS = {
    "artifacts": "mltrail.cli.artifacts:artifacts",
    "db": "mltrail.cli.db:db",
    "experiments": "mltrail.cli.experiments:experiments",
    "gc": "mltrail.cli.gc:gc",
    "models": "mltrail.cli.models:models",
    "registry": "mltrail.cli.registry:registry",
    "run": "mltrail.cli.projects:run",
    "runs": "mltrail.cli.runs:runs",
    "server": "mltrail.cli.server:server",
    "ui": "mltrail.cli.server:ui",
}


class LazyGroup(click.Group):
    """A group whose subcommands live in modules imported on first use."""

    def __init__(self, *args: Any, lazy: dict[str, str] | None = None, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.lazy = dict(lazy or {})

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted({*super().list_commands(ctx), *self.lazy})

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        target = self.lazy.get(cmd_name)
        if target is None:
            return super().get_command(ctx, cmd_name)
        module_name, _, attribute = target.partition(":")
        command = getattr(importlib.import_module(module_name), attribute)
        if not isinstance(command, click.Command):
            raise TypeError(f"{target} is not a click command")
        return command

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except MltrailError as exc:
            report(exc, json_mode=ctx.meta.get(OUTPUT_KEY) == "json")
            ctx.exit(1)


def report(error: MltrailError, *, json_mode: bool) -> None:
    if json_mode:
        click.echo(json.dumps(error.to_dict()), err=True)
    else:
        click.echo(f"Error: {error.message}", err=True)


@click.group(
    cls=LazyGroup,
    lazy=SUBCOMMANDS,
    context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100},
)
@click.version_option(__version__, "--version", prog_name="mltrail", message="%(prog)s %(version)s")
def cli() -> None:
    """mltrail: track machine-learning experiments, with MLflow's API.

    With nothing configured, commands use ./mltrail.db in the current folder; pass
    --tracking-uri or set MLTRAIL_TRACKING_URI to use another store.
    """


if __name__ == "__main__":
    cli(prog_name="mltrail")
