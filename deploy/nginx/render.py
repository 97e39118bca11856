#!/usr/bin/env python3
"""Render deploy/nginx/messaging.conf for one host: prints the nginx site file.

    python3 deploy/nginx/render.py --server-name chat.example.com --app 8001 --app 8002 \\
        > /etc/nginx/sites-available/messaging.conf

The template's placeholders are `{{ NAME }}`; a line whose placeholder has several
values (the listen addresses, the app processes) is repeated once per value. A
placeholder without a value, or a value nobody uses, is an error. Standard library
only: it runs with the system's python3.
"""

import argparse
import re
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path

TEMPLATE = Path(__file__).with_name("messaging.conf")
PLACEHOLDER = re.compile(r"\{\{\s*([A-Z_][A-Z0-9_]*)\s*\}\}")
KIB = 1024
MIB = 1024 * KIB
DEFAULT_MAX_ATTACHMENT_BYTES = 25 * MIB  # config.py's MAX_ATTACHMENT_BYTES default (tests/deploy checks)
ENVELOPE_BYTES = MIB  # room for the multipart envelope around the largest attachment
Value = str | Sequence[str]


class RenderError(ValueError):
    """The template and the values do not fit."""


def render(template: str, values: Mapping[str, Value]) -> str:
    """The template with each placeholder replaced; list values repeat their line."""
    used: set[str] = set()
    lines = []
    for number, line in enumerate(template.splitlines(keepends=True), 1):
        names = PLACEHOLDER.findall(line)
        missing = [name for name in names if name not in values]
        if missing:
            raise RenderError(f"line {number}: no value for {', '.join(missing)}")
        used.update(names)
        lists = {name for name in names if not isinstance(values[name], str)}
        if len(lists) > 1:
            raise RenderError(f"line {number}: more than one list ({', '.join(sorted(lists))})")
        variants = [dict(values)]
        if lists:
            name = lists.pop()
            if not values[name]:
                raise RenderError(f"{name} needs at least one value")
            variants = [{**values, name: item} for item in values[name]]
        for variant in variants:
            lines.append(PLACEHOLDER.sub(lambda match, v=variant: str(v[match.group(1)]), line))
    unused = set(values) - used
    if unused:
        raise RenderError(f"the template does not use {', '.join(sorted(unused))}")
    return "".join(lines)


def app_address(text: str) -> str:
    """An app process: `8001` (on this host) or `host:port`."""
    address = f"127.0.0.1:{text}" if text.isdigit() else text
    if not re.fullmatch(r"(\[[0-9a-fA-F:]+\]|[A-Za-z0-9.-]+):\d{1,5}", address):
        raise argparse.ArgumentTypeError(f"not a port or host:port: {text!r}")
    return address


def port_suffix(listen: str) -> str:
    """`:PORT` for a redirect to a listen address's port, empty for 443."""
    port = listen.rsplit(":", 1)[-1] if ":" in listen else listen
    if not port.isdigit():
        raise RenderError(f"the first HTTPS listen address has no port: {listen!r}")
    return "" if port == "443" else f":{port}"


def body_limit(max_attachment_bytes: int) -> str:
    """nginx's client_max_body_size for attachments of at most `max_attachment_bytes`:
    the largest attachment plus 1 MiB of multipart envelope, in the largest whole unit
    (`26m` for 25 MiB)."""
    size = max_attachment_bytes + ENVELOPE_BYTES
    if size % MIB == 0:
        return f"{size // MIB}m"
    if size % KIB == 0:
        return f"{size // KIB}k"
    return str(size)


def byte_count(text: str) -> int:
    """A positive number of bytes (MAX_ATTACHMENT_BYTES is a plain integer)."""
    if not text.isdigit() or int(text) <= 0:
        raise argparse.ArgumentTypeError(f"not a positive number of bytes: {text!r}")
    return int(text)


def parse_arguments(argv: Sequence[str] | None = None) -> argparse.Namespace:
    """The command line (defaults: the Debian host of the README)."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--server-name", required=True, help="the site's DNS name, e.g. chat.example.com")
    parser.add_argument(
        "--app",
        action="append",
        type=app_address,
        help="an app process: PORT on this host or HOST:PORT (repeat; default 8001 and 8002)",
    )
    parser.add_argument("--cert", help="default: /etc/letsencrypt/live/NAME/fullchain.pem")
    parser.add_argument("--key", help="default: /etc/letsencrypt/live/NAME/privkey.pem")
    parser.add_argument("--static-dir", default="/opt/messaging/app/static", help="the app's static folder")
    parser.add_argument(
        "--node-modules",
        default="/opt/messaging/node_modules",
        help="npm's folder, with the socket.io client (the app's NODE_MODULES)",
    )
    parser.add_argument(
        "--max-attachment-bytes",
        type=byte_count,
        default=DEFAULT_MAX_ATTACHMENT_BYTES,
        help="the app's MAX_ATTACHMENT_BYTES (default 25 MiB): nginx takes bodies up to it plus 1 MiB",
    )
    parser.add_argument(
        "--acme-root", default="/var/www/html", help="certbot's --webroot (Debian's default site root)"
    )
    parser.add_argument(
        "--http-listen", action="append", help="nginx `listen` for HTTP (repeat; default 80 and [::]:80)"
    )
    parser.add_argument(
        "--https-listen", action="append", help="nginx `listen` for HTTPS (repeat; default 443 and [::]:443)"
    )
    parser.add_argument("--template", type=Path, default=TEMPLATE, help=argparse.SUPPRESS)
    return parser.parse_args(argv)


def values_from(arguments: argparse.Namespace) -> dict[str, Value]:
    """The template's values from the command line."""
    name = arguments.server_name
    https_listen = arguments.https_listen or ["443", "[::]:443"]
    return {
        "SERVER_NAME": name,
        "APP_ADDRESS": arguments.app or ["127.0.0.1:8001", "127.0.0.1:8002"],
        "TLS_CERT": arguments.cert or f"/etc/letsencrypt/live/{name}/fullchain.pem",
        "TLS_KEY": arguments.key or f"/etc/letsencrypt/live/{name}/privkey.pem",
        "STATIC_DIR": str(arguments.static_dir).rstrip("/"),
        "NODE_MODULES": str(arguments.node_modules).rstrip("/"),
        "CLIENT_MAX_BODY_SIZE": body_limit(arguments.max_attachment_bytes),
        "ACME_ROOT": arguments.acme_root,
        "HTTP_LISTEN": arguments.http_listen or ["80", "[::]:80"],
        "HTTPS_LISTEN": https_listen,
        "HTTPS_PORT_SUFFIX": port_suffix(https_listen[0]),
    }


def main(argv: Sequence[str] | None = None) -> int:
    """Print the rendered site file; 2 with a message when it cannot be rendered."""
    arguments = parse_arguments(argv)
    try:
        sys.stdout.write(render(arguments.template.read_text(), values_from(arguments)))
    except RenderError as error:
        print(f"render.py: {error}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
