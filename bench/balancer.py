"""A round-robin HTTP load balancer for the multi-worker proofs: one public webhook URL, several `haven run`
workers behind it, as an operator would put nginx or a cloud balancer in front of them.

Each POST goes to the next worker; a worker that refuses the connection or dies mid-request is answered with 502
(the platform then retries, as Telegram and Slack do) and the next request goes to the next worker. It runs in
its own process so the proofs measure the workers, not a balancer sharing their event loop.

    python -m bench.balancer --port 0 --backend http://127.0.0.1:8001 --backend http://127.0.0.1:8002
"""

from __future__ import annotations

import argparse
import asyncio
import itertools

from aiohttp import ClientError, ClientSession, ClientTimeout, web

#: Headers a proxy must not forward (hop-by-hop) or that aiohttp sets itself.
_SKIP = {"host", "content-length", "transfer-encoding", "connection", "keep-alive"}


class Balancer:
    def __init__(self, backends: list[str]) -> None:
        self._backends = backends
        self._next = itertools.cycle(range(len(backends)))
        self._session: ClientSession | None = None

    async def forward(self, request: web.Request) -> web.Response:
        assert self._session is not None
        body = await request.read()
        headers = {k: v for k, v in request.headers.items() if k.lower() not in _SKIP}
        backend = self._backends[next(self._next)]
        try:
            async with self._session.post(backend + request.path_qs, data=body, headers=headers) as response:
                return web.Response(status=response.status, body=await response.read())
        except (ClientError, asyncio.TimeoutError, ConnectionError):
            return web.Response(status=502)

    async def serve(self, port: int) -> None:
        self._session = ClientSession(timeout=ClientTimeout(total=60))
        app = web.Application(client_max_size=4 * 1024 * 1024)
        app.router.add_route("POST", "/{tail:.*}", self.forward)
        runner = web.AppRunner(app, access_log=None, handle_signals=True)
        await runner.setup()
        site = web.TCPSite(runner, "127.0.0.1", port)
        await site.start()
        bound = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
        print(f"port={bound}", flush=True)
        try:
            await asyncio.Event().wait()
        finally:
            await self._session.close()
            await runner.cleanup()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--backend", action="append", required=True)
    args = parser.parse_args()
    try:
        asyncio.run(Balancer(args.backend).serve(args.port))
    except KeyboardInterrupt:
        pass


if __name__ == "__main__":
    main()
