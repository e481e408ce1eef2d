"""The studio command: a local web page that follows flow files as they are edited."""

from __future__ import annotations

import contextlib
import os
import socket
import sys

import click

from . import ExitStatus, _flow_files, _Usage, cli

#: Where the editor link comes from when --editor is not given.
EDITOR_VARIABLE = "IVRFLOW_EDITOR_URL"
_LOOPBACK = ("127.0.0.1", "localhost", "::1")


@cli.command()
@click.argument("paths", nargs=-1, required=True, metavar="FLOW...")
@click.option("--host", default="127.0.0.1", show_default=True,
              help="The address to listen on. Anything but loopback lets others on the network see the flows.")
@click.option("--port", default=0, show_default=True, type=click.IntRange(0, 65535), help="0: a free port.")
@click.option("--no-browser", is_flag=True, help="Print the address; do not open a browser.")
@click.option("--editor", metavar="URL-TEMPLATE",
              help="Links that open a line in your editor, such as `vscode://file/{path}:{line}:{column}` "
                   f"({{path}}, {{line}}, {{column}} are filled in). Default: ${EDITOR_VARIABLE}.")
def studio(paths: tuple[str, ...], host: str, port: int, no_browser: bool, editor: str | None) -> int:
    """Open a live diagram of the flows in the browser, with a caller simulator.

    The page follows the files as they are saved (their includes and prompt
    files too): the diagram, the diagnostics, node details with their source
    lines, a keypad that walks a simulated call (the machine of `simulate`)
    and writes the walk as a `test` block, the coverage of the file's tests,
    and SVG/PNG export. It listens on 127.0.0.1 unless --host says otherwise.

    \b
      ivrflow studio examples/support.ivr
      ivrflow studio examples/ --port 8765 --no-browser
      ivrflow studio main.ivr --editor 'vscode://file/{path}:{line}:{column}'
    """
    from ..loader import LoadError, read_source
    from ..studio.app import LOOPBACK_HOSTS, create_app, serve

    files = _flow_files(paths)
    for file in files:
        try:
            read_source(file)
        except LoadError as error:
            raise _Usage(str(error)) from None
    editor = editor if editor is not None else os.environ.get(EDITOR_VARIABLE) or None
    wildcard = host in ("0.0.0.0", "::", "")
    if host not in _LOOPBACK:
        click.echo(f"warning: --host {host}: anyone who can reach this address can read the flows", err=True)
    try:
        listening = socket.create_server((host, port), family=socket.AF_INET6 if ":" in host else socket.AF_INET)
    except OSError as error:
        raise _Usage(f"cannot listen on {host}:{port}: {error.strerror}") from None
    bound = listening.getsockname()[1]
    shown = f"[{host}]" if ":" in host else host
    hosts = None if wildcard else (*LOOPBACK_HOSTS, shown.lower())
    app = create_app(files, editor_url=editor, hosts=hosts)
    url = f"http://{shown}:{bound}/"
    click.echo(f"studio: {url}")
    sys.stdout.flush()
    click.echo("Ctrl-C stops", err=True)
    if not no_browser:
        import webbrowser

        webbrowser.open(url)
    with contextlib.suppress(KeyboardInterrupt):  # uvicorn raises the Ctrl-C it caught, once it has stopped
        serve(app, listening)
    return ExitStatus.OK
