"""The baseline for the load proof: a bare python-telegram-bot echo bot in webhook mode, nothing else.

Same fake Bot API, same balancer, same driver as Haven's workers, so the ratio says what Haven's pipeline
(crisis check, database, responder, rendering, acknowledging only after handling) costs over PTB alone.

    python -m bench.echo_bot --base-url http://127.0.0.1:PORT --port 8001 --url http://127.0.0.1:8000/tg-hook
"""

from __future__ import annotations

import argparse
import asyncio
import os
import signal

from telegram import Update
from telegram.ext import Application, ContextTypes, TypeHandler


async def echo(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    if update.message and update.message.text:
        await update.message.chat.send_message(update.message.text)


async def serve(base_url: str, port: int, url: str) -> None:
    app = (Application.builder().token(os.environ["TELEGRAM_BOT_TOKEN"]).base_url(f"{base_url}/bot")
           .base_file_url(f"{base_url}/file/bot").concurrent_updates(32).connection_pool_size(40)
           .pool_timeout(30.0).build())
    app.add_handler(TypeHandler(Update, echo))
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    async with app:
        await app.start()
        assert app.updater is not None
        await app.updater.start_webhook(listen="127.0.0.1", port=port, url_path="tg-hook", webhook_url=url,
                                        secret_token=os.environ["TELEGRAM_WEBHOOK_SECRET"], max_connections=40)
        print("event=ready adapter=telegram", flush=True)
        await stop.wait()
        await app.updater.stop()
        await app.stop()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--base-url", required=True)
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--url", required=True)
    args = parser.parse_args()
    asyncio.run(serve(args.base_url, args.port, args.url))


if __name__ == "__main__":
    main()
