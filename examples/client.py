"""A terminal chat client for examples/gameserver.py, using the stdlib only.

It asks the master for a slot over the REST API, then connects to the game server that
holds the slot, shows its key, and chats: lines from the server are printed, lines typed
on stdin are sent.

    python examples/client.py --master http://127.0.0.1:8000 --token TOKEN --create
    python examples/client.py --master http://127.0.0.1:8000 --token TOKEN --join
    python examples/client.py --master http://127.0.0.1:8000 --token TOKEN --room 42

--create starts a new room (POST /create/<game>/<version>/<server>), --join finds a room or
creates one (POST /join/<game>/<version>/<server>), --room joins a room by its id
(POST /rooms/<game>/<room_id>/join). The token needs the `game` scope.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import threading
import urllib.error
import urllib.request
from typing import Any
from urllib.parse import quote


def json_object(text: str) -> dict[str, Any]:
    try:
        value = json.loads(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(f"not JSON: {exc}") from None
    if not isinstance(value, dict):
        raise argparse.ArgumentTypeError("must be a JSON object")
    return value


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--master", required=True, help="the master's base URL")
    parser.add_argument("--token", required=True, help="a JWT with the `game` scope")
    action = parser.add_mutually_exclusive_group(required=True)
    action.add_argument("--create", action="store_true", help="start a new room")
    action.add_argument("--join", action="store_true", help="join a room, or create one")
    action.add_argument("--room", metavar="ROOM_ID", help="join this room")
    parser.add_argument("--game", default="demo")
    parser.add_argument("--version", default="1.0")
    parser.add_argument("--server", default="default", help="game server configuration name")
    parser.add_argument(
        "--settings", type=json_object, help="room settings, a JSON object (with --join: also the filter)"
    )
    parser.add_argument("--timeout", type=float, default=60, help="HTTP timeout in seconds")
    args = parser.parse_args()
    if not args.master.startswith(("http://", "https://")):
        parser.error("--master must be an http:// or https:// URL")
    return args


def get_slot(args: argparse.Namespace) -> dict[str, Any]:
    """Ask the master for a slot; exit 1 with the error body if it says no."""
    game, version, server = (quote(x, safe="") for x in (args.game, args.version, args.server))
    body: dict[str, Any] = {}
    if args.create:
        path = f"/create/{game}/{version}/{server}"
        if args.settings is not None:
            body["settings"] = args.settings
    elif args.join:
        path = f"/join/{game}/{version}/{server}"
        body["auto_create"] = True
        if args.settings is not None:
            # Join a room with these settings, or create one that has them.
            body["settings"] = body["create_settings"] = args.settings
    else:
        path = f"/rooms/{game}/{quote(args.room, safe='')}/join"
    request = urllib.request.Request(  # noqa: S310 (parse_args allows http and https only)
        args.master.rstrip("/") + path,
        data=json.dumps(body).encode(),
        method="POST",
        headers={
            "Authorization": f"Bearer {args.token}",
            "Content-Type": "application/json",
            "Accept": "application/json",
        },
    )
    try:
        with urllib.request.urlopen(request, timeout=args.timeout) as response:  # noqa: S310
            return json.load(response)  # type: ignore[no-any-return]
    except urllib.error.HTTPError as exc:
        print(f"HTTP {exc.code} {exc.reason}", file=sys.stderr)
        print(exc.read().decode(errors="replace"), file=sys.stderr)  # {"code", "detail"}
        for header in ("X-Ban-Until", "X-Ban-Id", "X-Ban-Reason"):
            if exc.headers.get(header):
                print(f"{header}: {exc.headers[header]}", file=sys.stderr)
    except (urllib.error.URLError, TimeoutError) as exc:
        print(f"cannot reach the master: {getattr(exc, 'reason', exc)}", file=sys.stderr)
    sys.exit(1)


def read_stdin(loop: asyncio.AbstractEventLoop, lines: asyncio.Queue[str | None]) -> None:
    # A daemon thread: blocking reads of stdin work everywhere (terminal, pipe, file, Windows)
    # and do not keep the process alive at exit, unlike the default executor.
    for line in sys.stdin:
        loop.call_soon_threadsafe(lines.put_nowait, line)
    loop.call_soon_threadsafe(lines.put_nowait, None)


async def chat(host: str, port: int, key: str) -> None:
    reader, writer = await asyncio.open_connection(host, port)
    writer.write(f"{key}\n".encode())  # the first line is the key

    async def send_typed_lines() -> None:
        lines: asyncio.Queue[str | None] = asyncio.Queue()
        loop = asyncio.get_running_loop()
        threading.Thread(target=read_stdin, args=(loop, lines), daemon=True).start()
        try:
            while (line := await lines.get()) is not None:
                writer.write(line.encode())
                await writer.drain()
            # End of input: say so, and keep printing until the server closes the connection.
            writer.write_eof()
        except ConnectionError:
            pass  # the server went away; reading will tell

    sender = asyncio.create_task(send_typed_lines())
    try:
        while line := await reader.readline():
            print(line.decode(errors="replace").rstrip("\r\n"), flush=True)
        print("* the server closed the connection", file=sys.stderr)
    finally:
        sender.cancel()
        writer.close()


def main() -> int:
    args = parse_args()
    slot = get_slot(args)
    location = slot["location"]
    host, port = location["host"], int(location["ports"][0])
    print(
        f"* room {slot.get('id')} at {host}:{port}, "
        f"{slot.get('players')}/{slot.get('max_players')} players, settings {slot.get('settings')}",
        file=sys.stderr,
    )
    try:
        asyncio.run(chat(host, port, slot["key"]))
    except OSError as exc:
        print(f"cannot reach the game server: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        pass
    return 0


if __name__ == "__main__":
    sys.exit(main())
