#!/usr/bin/python3
"""Entry point: parse the command line, start the emulated Azure OpenAI / OpenAI Batch service."""

import argparse
import asyncio
import json
import logging
import os
import shutil
import signal
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from aiohttp import web  # noqa: E402

import config  # noqa: E402
from app import AppState, build_app  # noqa: E402
from store import Store  # noqa: E402


def parse_args(argv):
    p = argparse.ArgumentParser(description="Emulator of the Azure OpenAI / OpenAI Files and Batch APIs.")
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, default=0, help="0 picks a free port")
    p.add_argument("--port-file", help="write the port number to this file when ready")
    p.add_argument("--api-key", action="append", default=[], help="accepted key (repeatable; default test-key)")
    p.add_argument("--bearer-token", action="append", default=[], help="extra accepted Bearer token (repeatable)")
    p.add_argument("--deployments", default=None,
                   help=f"comma-separated deployment names, name=model allowed (default {config.DEFAULT_DEPLOYMENTS})")
    p.add_argument("--data-dir", help="where file contents are stored (default: a temporary directory)")
    p.add_argument("--config", help="initial configuration: a JSON object, or @path to a JSON file")
    return p.parse_args(argv)


def initial_config(args):
    cfg = config.make_default(args.deployments)
    if args.config:
        text = args.config
        if text.startswith("@"):
            with open(text[1:], encoding="utf-8") as fh:
                text = fh.read()
        cfg = config.merged(cfg, json.loads(text))
    return cfg


async def serve(args, state):
    app = build_app(state)
    runner = web.AppRunner(app, access_log=None, handle_signals=False)
    await runner.setup()
    site = web.TCPSite(runner, args.host, args.port, backlog=512, reuse_address=True)
    await site.start()
    port = runner.addresses[0][1]
    if args.port_file:
        tmp = args.port_file + ".tmp"
        with open(tmp, "w") as fh:
            fh.write(f"{port}\n")
        os.replace(tmp, args.port_file)
    print(f"emulator listening on http://{args.host}:{port}", flush=True)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    await stop.wait()
    await runner.cleanup()


def main(argv=None):
    args = parse_args(sys.argv[1:] if argv is None else argv)
    logging.basicConfig(level=logging.INFO, stream=sys.stderr,
                        format="%(asctime)s %(name)s %(levelname)s %(message)s")
    try:
        cfg = initial_config(args)
    except (ValueError, OSError) as exc:     # ConfigError is a ValueError, so is bad JSON
        print(f"emulator: bad --config/--deployments: {exc}", file=sys.stderr)
        return 2
    own_dir = args.data_dir is None
    data_dir = tempfile.mkdtemp(prefix="batchfs-emulator-") if own_dir else args.data_dir
    os.makedirs(data_dir, exist_ok=True)
    state = AppState(Store(data_dir), cfg, args.api_key or ["test-key"], args.bearer_token)
    try:
        asyncio.run(serve(args, state))
    finally:
        if own_dir:
            shutil.rmtree(data_dir, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
