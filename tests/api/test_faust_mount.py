"""add_routes on a real Faust app's aiohttp application: the way the worker shares its web port."""

from __future__ import annotations

import asyncio
from pathlib import Path

import faust
from aiohttp.test_utils import TestClient, TestServer

from streamapp.api import add_routes
from tests.api.memory_service import MemoryJobService


def test_routes_added_before_faust_init_win_the_root(tmp_path: Path) -> None:
    async def main() -> None:
        app = faust.App("api-mount-test", broker="kafka://127.0.0.1:1", store="memory://", web_enabled=True,
                        datadir=str(tmp_path / "faust"))
        service = MemoryJobService(tmp_path / "data")
        service.add_job("j1", "scoring", 0.5)
        add_routes(app.web.web_app, service, token="t0k")
        app.web.init_server()  # Faust's own blueprints, including its GET / index, come after ours
        async with TestClient(TestServer(app.web.web_app)) as client:
            page = await client.get("/")
            assert page.status == 200 and page.headers["Content-Type"].startswith("text/html")
            assert (await client.get("/api/jobs")).status == 401
            jobs = await (await client.get("/api/jobs", headers={"Authorization": "Bearer t0k"})).json()
            assert [j["job_id"] for j in jobs["jobs"]] == ["j1"]
            assert (await client.get("/router/")).status == 200  # Faust's routes still answer

    asyncio.run(main())
