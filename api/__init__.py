"""FastAPI service over graph/ and retrieval/ for customers, agents and admins."""
