"""FastAPI service over graph/ and retrieval/ for customers, agents and admins (``api.app.create_app``)."""

__version__ = "0.1.0"
