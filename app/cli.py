"""Operator commands: `flask points grant USERNAME AMOUNT`, `flask seed-demo` and
`flask attachments clean`."""

import click
from flask import current_app

from app.errors import AppError
from app.realtime.notify import publish
from app.schemas import QuotaOut, dump
from app.services import accounts, attachments, conversations, points, quota
from app.services.events import Event
from app.settings import business_settings, hashing_cost
from app.storage import app_storage

DEMO_PASSWORD = "password123"
DEMO_POINTS = 100


@click.group("points", help="Manage users' points.")
def points_cli() -> None:
    """Points commands."""


@points_cli.command("grant")
@click.argument("username")
@click.argument("amount", type=click.IntRange(min=1, max=points.MAX_GRANT))
def grant(username: str, amount: int) -> None:
    """Credit AMOUNT points to USERNAME's wallet (written to the ledger)."""
    try:
        balance = points.grant_points(username, amount)
    except AppError as error:
        raise click.ClickException(error.message) from None
    click.echo(f"Granted {amount} points to {username}; balance is now {balance}.")
    # The user's open pages show the new balance at once: through SOCKETIO_MESSAGE_QUEUE when one
    # is configured (the pages also ask again when their tab is looked at).
    user = accounts.find_by_username(username)
    if user is not None:
        view = quota.get_quota(user.id, business_settings())
        publish([Event("quota:update", dump(QuotaOut, view), (str(user.id),))])


@click.command("seed-demo", help="Create demo users alice and bob (password 'password123').")
def seed_demo() -> None:
    """Create alice and bob with some points and one conversation; safe to run twice."""
    if current_app.config["ENV_NAME"] == "production":
        raise click.ClickException(
            "seed-demo creates users with a published password; it does not run with APP_ENV=production."
        )
    users = {}
    for username, display in (("alice", "Alice"), ("bob", "Bob")):
        user = accounts.find_by_username(username)
        if user is None:
            user = accounts.register_user(
                username, DEMO_PASSWORD, display, hashing=hashing_cost(), settings=business_settings()
            )
            points.grant_points(username, DEMO_POINTS)
            click.echo(f"Created {username} (password {DEMO_PASSWORD}) with {DEMO_POINTS} points.")
        else:
            click.echo(f"{username} already exists.")
        users[username] = user.id
    price = business_settings().conversation_points_cost
    conversations.start_conversation(users["alice"], users["bob"], None, price)
    click.echo("alice and bob have a conversation. Log in at http://127.0.0.1:5000/")


@click.group("attachments", help="Manage attachment files.")
def attachments_cli() -> None:
    """Attachment commands."""


@attachments_cli.command(
    "clean",
    help="Delete the attachments of expired messages and day-old unsent uploads of every user, "
    "and files that outlived their rows (run it from a scheduler).",
)
def clean_attachments() -> None:
    """Delete every user's attachments of expired messages and day-old unsent uploads,
    then the files of deleted attachments, files with no attachment row and leftover
    temporaries (those two once an hour old); never the file of a live attachment."""
    cleaned = attachments.clean_storage(app_storage())
    click.echo(
        f"Deleted {_files(cleaned.expired, 'attachment')} of expired messages and "
        f"{_files(cleaned.unsent, 'upload')} never sent (a day old)."
    )
    click.echo(
        f"Deleted {_files(cleaned.of_deleted_rows)} of deleted attachments, "
        f"{_files(cleaned.without_row)} with no attachment and "
        f"{_files(cleaned.temporaries, 'unfinished temporary file')}; "
        f"kept {_files(cleaned.kept)} (live attachments and uploads under way)."
    )
    if cleaned.failed:
        raise click.ClickException(
            f"{_files(cleaned.failed)} could not be deleted (see the log); the next run tries again."
        )


def _files(count: int, noun: str = "file") -> str:
    return f"{count} {noun}" if count == 1 else f"{count} {noun}s"
