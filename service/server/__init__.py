"""How the service runs as processes: uvicorn for one process, or a supervisor with HTTP front-ends and an engine."""
