"""How the service runs as processes: uvicorn's options and the connection limits the service adds to them (``http``),
one uvicorn server (``serve``), or a supervisor with HTTP front-ends and an engine process (``supervisor``)."""
