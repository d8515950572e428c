"""``nst serve``: its parser, the token for a non-loopback address, and the server's run."""

from __future__ import annotations

import logging
import secrets
import socket
import sys
import webbrowser
from pathlib import Path

from nst.errors import NstError
from nst.options.arguments import SERVE, studio_data_dir
from nst.options.flags import add_options
from nst.serve.auth import is_loopback


def add_parser(subcommands) -> None:
    parser = subcommands.add_parser(
        "serve",
        help="the studio: a web page to make pictures and watch them form (pip install 'nst[web]')",
        description=(
            "Serve the studio: upload a photo and paintings, start, watch the picture form, stop, "
            "continue, download; jobs queue per device and are kept in --data across restarts."
        ),
    )
    add_options(parser, SERVE)


def run(args) -> int:
    try:
        import uvicorn

        from nst.serve.app import Studio, create_app
        from nst.serve.auth import LOGIN_PATH
    except ImportError as error:
        raise NstError(
            f"nst serve needs the web extra ({error.name}); install it with: pip install 'nst[web]'"
        ) from None
    data = Path(args.data) if args.data else studio_data_dir()
    try:
        data.mkdir(parents=True, exist_ok=True)
    except OSError as error:
        raise NstError(f"cannot use --data {data}: {error.strerror}") from None
    token = token_for(args.host, args.token)
    studio_log = logging.getLogger("nst.serve")
    studio_log.setLevel(logging.INFO)
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter("nst studio: %(message)s"))
    studio_log.addHandler(handler)
    defaults = {"weights": args.weights} if args.weights else {}
    studio = Studio(data, backend=args.backend, device=args.device, defaults=defaults, token=token)
    listening = _listen(args.host, args.port)
    app = create_app(studio)
    port = listening.getsockname()[1]  # the one picked, for --port 0
    host = f"[{args.host}]" if ":" in args.host else args.host
    url = f"http://{host}:{port}/"
    link = url
    if token is not None:
        link = f"{url.rstrip('/')}{LOGIN_PATH}{app.state.access.login_code()}"
        print(f"nst studio: token {token} (send it as the x-nst-token header)", flush=True)
        print(f"nst studio: open {link} once to sign this browser in", flush=True)
    print(f"nst studio: serving {url} (jobs in {data}); Ctrl-C stops", flush=True)
    if args.open:
        webbrowser.open(link)
    server = uvicorn.Server(uvicorn.Config(app, host=args.host, port=port, log_level="warning"))
    server.run(sockets=[listening])
    return 0


def _listen(host: str, port: int) -> socket.socket:
    """A socket bound to ``host``:``port``, or one line saying why it cannot be."""
    try:
        family = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)[0][0]
    except OSError as error:
        raise NstError(f"cannot listen on {host}:{port}: {error.strerror or error}") from None
    listening = socket.socket(family, socket.SOCK_STREAM)
    try:
        listening.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        listening.bind((host, port))
    except OSError as error:
        listening.close()
        raise NstError(f"cannot listen on {host}:{port}: {error.strerror or error}") from None
    return listening


def token_for(host: str, given: str | None) -> str | None:
    """None (no token) on loopback; elsewhere the given token or a new random one."""
    if is_loopback(host):
        return None
    return given or secrets.token_urlsafe(24)
