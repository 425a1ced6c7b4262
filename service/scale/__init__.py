"""RoadLens past one machine: the Ray Serve application (``roadlens[ray]`` extra).

``ray_serve`` builds the Serve application (``import_path: service.scale.ray_serve:build_app``): one deployment
whose replicas each run ``create_app(settings)``, the single-process server with its own engine and batcher.
``ray_metrics`` copies each replica's Prometheus metrics into Ray's metrics export, so that every replica's
counts reach Prometheus (through the proxy, ``/metrics`` answers from one replica only). ``replica_grpc`` keeps
a replica's internal gRPC listener on the node's own address.

Nothing in ``service`` imports this package; it needs ``pip install 'roadlens[ray]'``.
"""
