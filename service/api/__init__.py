"""The HTTP edge: routers, dependencies, error handlers, middleware."""
