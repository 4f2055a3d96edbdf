import hashlib
import sys

import click

from . import __version__, greet, total


@click.group()
@click.version_option(__version__, prog_name="relsign-demo")
def main() -> None:
    """relsign's demo command-line tool."""


@main.command("greet")
@click.argument("name")
def greet_cmd(name: str) -> None:
    """Print a greeting for NAME."""
    try:
        click.echo(greet(name))
    except ValueError as e:
        raise click.UsageError(str(e))


@main.command("sum")
@click.argument("numbers", nargs=-1, required=True)
def sum_cmd(numbers: tuple[str, ...]) -> None:
    """Print the sum of integer NUMBERS."""
    try:
        click.echo(total(list(numbers)))
    except ValueError as e:
        raise click.UsageError(str(e))


@main.command("sha256")
@click.argument("path", type=click.Path(exists=True, dir_okay=False))
def sha256_cmd(path: str) -> None:
    """Print the SHA-256 of the file at PATH."""
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 16), b""):
            h.update(chunk)
    click.echo(h.hexdigest())


if __name__ == "__main__":
    sys.exit(main())
