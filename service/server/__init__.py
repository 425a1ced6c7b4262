"""The HTTP server around the app: uvicorn's options and the connection limits the service adds to them."""
