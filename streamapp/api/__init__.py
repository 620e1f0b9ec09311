"""HTTP API and web page served by each worker's web server (see ``routes.create_api`` / ``routes.add_routes``)."""

from streamapp.api.routes import add_routes, create_api, token_required
from streamapp.api.service import JobService

__all__ = ["JobService", "add_routes", "create_api", "token_required"]
