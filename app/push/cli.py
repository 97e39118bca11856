"""`flask push generate-keys`: a VAPID key pair for the environment file."""

import click

from app.push import keys


@click.group("push", help="Web Push administration.")
def push_cli() -> None:
    """Push commands."""


@push_cli.command("generate-keys")
def generate_keys() -> None:
    """Print a new VAPID key pair as environment lines (keep the private key secret).

    Changing the key later unsubscribes every browser: push services refuse pushes signed
    with another key than the one a browser subscribed with.
    """
    for line in keys.environment_lines(keys.generate()):
        click.echo(line)
