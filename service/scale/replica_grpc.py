"""Keep a replica's internal gRPC listener on the node's own address instead of every interface.

Ray Serve 2.60 starts an inter-deployment gRPC server in every replica and binds it to ``[::]:0``
(``ray/serve/_private/replica.py``, ``Replica._on_initialized``), whatever the node's address: on a single-node
cluster kept on 127.0.0.1 that is the one listener reachable from other machines. Its callers connect to
``<node ip>:<port>`` (``request_router/replica_wrapper.py``), so binding it to the node's address changes nothing
for them: on a loopback cluster it stays on 127.0.0.1, on a multi-node cluster it stays off the node's other
interfaces. The swap is made in the replica's own process, before Serve starts the server.
"""

from __future__ import annotations

from typing import Any

import ray
import ray.serve._private.replica as serve_replica

ALL_INTERFACES_ANY_PORT = "[::]:0"


def bind_to_node_address() -> None:
    """Make this process's replica bind its internal gRPC server to the node's address (idempotent)."""
    add_port = serve_replica.add_port_to_grpc_server
    if getattr(add_port, "binds_node_address", False):
        return
    node_address = ray.util.get_node_ip_address()

    def add_port_on_node_address(server: Any, address: str) -> Any:
        if address == ALL_INTERFACES_ANY_PORT:
            host = f"[{node_address}]" if ":" in node_address else node_address
            address = f"{host}:0"
        return add_port(server, address)

    add_port_on_node_address.binds_node_address = True  # type: ignore[attr-defined]
    serve_replica.add_port_to_grpc_server = add_port_on_node_address
