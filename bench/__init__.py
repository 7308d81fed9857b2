"""`make bench`: Changeward's throughput and latency against a bare FastAPI + asyncpg ceiling."""
