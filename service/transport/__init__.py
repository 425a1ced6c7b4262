"""The one boundary between the HTTP front-end and the engine that owns the device.

``EngineClient`` is everything the front-end asks of an engine. In-process, the ``Engine`` itself is the client;
with several front-end processes, each holds a client that talks to the one engine process over a local socket.
"""
