"""What a client connection may cost, through a real server process: idle and slow clients are cut off, huge
headers refused (431), connections beyond the limit refused (503), and well-behaved clients served as before."""

from __future__ import annotations

import json
import socket
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.http.server import Server, running_service
from tests.service import images

IDLE_S = 1.0
HEADER_S = 1.5
BODY_S = 1.5
MAX_HEADER_BYTES = 4096
MAX_CONNECTIONS = 6
SLACK_S = 1.5  # scheduling on a busy 2-core machine


@pytest.fixture(scope="module")
def server(model_store: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    limits = {
        "idle_timeout_s": str(IDLE_S),
        "header_timeout_s": str(HEADER_S),
        "body_timeout_s": str(BODY_S),
        "max_header_bytes": str(MAX_HEADER_BYTES),
        "max_connections": str(MAX_CONNECTIONS),
    }
    with running_service(model_store, tmp_path_factory.mktemp("connections"), **limits) as running:
        yield running


def read_until_closed(connection: socket.socket, timeout_s: float = 10.0) -> tuple[bytes, float]:
    """Everything the server sends until it closes, and how long that took."""
    connection.settimeout(timeout_s)
    started = time.monotonic()
    received = b""
    while True:
        try:
            chunk = connection.recv(65536)
        except ConnectionResetError:
            break
        if not chunk:
            break
        received += chunk
    return received, time.monotonic() - started


def parse(response: bytes) -> tuple[int, dict[str, str], Any]:
    """Status, headers and JSON body of one raw HTTP/1.1 response."""
    head, _, body = response.partition(b"\r\n\r\n")
    status_line, *header_lines = head.decode("latin-1").split("\r\n")
    headers = {name.lower(): value.strip() for name, _, value in (line.partition(":") for line in header_lines)}
    return int(status_line.split()[1]), headers, json.loads(body) if body else None


def assert_refusal(response: bytes, status: int, code: str, setting: str) -> dict[str, str]:
    found, headers, body = parse(response)
    assert found == status, response[:300]
    assert headers["content-type"] == "application/json" and headers["connection"] == "close"
    assert body["error"]["code"] == code and body["error"]["detail"]["setting"] == setting, body
    return headers


def test_an_idle_connection_is_closed_after_the_idle_timeout(server: Server) -> None:
    with server.connect() as connection:
        received, lived = read_until_closed(connection)
    assert received == b""
    assert IDLE_S * 0.9 <= lived <= IDLE_S + SLACK_S, lived


def test_a_kept_alive_connection_is_closed_after_the_idle_timeout(server: Server) -> None:
    with server.connect() as connection:
        connection.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
        received, lived = read_until_closed(connection)
    assert received.startswith(b"HTTP/1.1 200") and received.endswith(b'{"status":"alive"}')
    assert IDLE_S * 0.9 <= lived <= IDLE_S + SLACK_S, lived


def test_a_slow_header_client_is_cut_off(server: Server) -> None:
    request = b"GET /healthz HTTP/1.1\r\nHost: x\r\nX-Slow: " + b"a" * 100
    started = time.monotonic()
    with server.connect() as connection:
        for byte in request:  # one byte every 50 ms: never idle, never finished
            try:
                connection.sendall(bytes([byte]))
            except (BrokenPipeError, ConnectionResetError):
                break
            time.sleep(0.05)
            if time.monotonic() - started > HEADER_S + SLACK_S:
                break
        received, _ = read_until_closed(connection)
    lived = time.monotonic() - started
    assert_refusal(received, 408, "request_timeout", "ROADLENS_HEADER_TIMEOUT_S")
    assert HEADER_S * 0.9 <= lived <= HEADER_S + SLACK_S, lived


def test_a_slow_body_is_cut_off(server: Server) -> None:
    head = b"POST /predict HTTP/1.1\r\nHost: x\r\nContent-Type: image/png\r\nContent-Length: 1000\r\n\r\n"
    started = time.monotonic()
    with server.connect() as connection:
        connection.sendall(head)
        for _ in range(100):
            try:
                connection.sendall(b"x")
            except (BrokenPipeError, ConnectionResetError):
                break
            time.sleep(0.05)
            if time.monotonic() - started > BODY_S + SLACK_S:
                break
        received, _ = read_until_closed(connection)
    lived = time.monotonic() - started
    assert_refusal(received, 408, "request_timeout", "ROADLENS_BODY_TIMEOUT_S")
    assert BODY_S * 0.9 <= lived <= BODY_S + SLACK_S, lived


def test_the_time_a_body_takes_to_arrive_counts_toward_the_deadline(server: Server) -> None:
    # The deadline runs from the request's arrival, not from when the app has the whole body: a client that sends
    # half its image, waits past its own deadline (inside the body timeout), then sends the rest gets 504 at once.
    body = images.png()
    head = (
        "POST /predict HTTP/1.1\r\nHost: x\r\nContent-Type: image/png\r\nX-Request-Timeout-Ms: 300\r\n"
        f"Content-Length: {len(body)}\r\nConnection: close\r\n\r\n"
    ).encode()
    with server.connect() as connection:
        connection.sendall(head + body[: len(body) // 2])
        time.sleep(0.8)
        connection.sendall(body[len(body) // 2 :])
        received, _ = read_until_closed(connection)
    status, _, answer = parse(received)
    assert status == 504 and answer["error"]["code"] == "deadline_exceeded", received[:300]


def test_a_huge_header_gets_431(server: Server) -> None:
    with server.connect() as connection:
        connection.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\nX-Big: " + b"a" * 2 * MAX_HEADER_BYTES + b"\r\n\r\n")
        received, _ = read_until_closed(connection)
    assert_refusal(received, 431, "request_header_fields_too_large", "ROADLENS_MAX_HEADER_BYTES")


def test_an_endless_header_is_refused_without_being_buffered(server: Server) -> None:
    resident = server.rss_bytes()
    with server.connect() as connection:
        connection.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\nX-Endless: ")
        try:
            for _ in range(64):  # 64 MB, never terminated
                connection.sendall(b"a" * 1024 * 1024)
        except (BrokenPipeError, ConnectionResetError):
            pass  # the server closed after a moment of dropping what arrived
        received, _ = read_until_closed(connection)
    assert server.rss_bytes() - resident < 16 * 1024 * 1024
    if received:  # else lost to the reset of a connection closed with unread bytes, after the linger time
        assert_refusal(received, 431, "request_header_fields_too_large", "ROADLENS_MAX_HEADER_BYTES")


def test_headers_under_the_limit_are_served(server: Server) -> None:
    response = httpx.get(server.url + "/healthz", headers={"x-padding": "a" * (MAX_HEADER_BYTES // 2)})
    assert response.status_code == 200


def test_connections_beyond_the_limit_are_refused(server: Server) -> None:
    held = [server.connect() for _ in range(MAX_CONNECTIONS)]
    try:
        with server.connect() as extra:
            received, lived = read_until_closed(extra)
        headers = assert_refusal(received, 503, "too_many_connections", "ROADLENS_MAX_CONNECTIONS")
        assert headers["retry-after"] == "1"
        assert lived < IDLE_S  # refused at once, not left to time out
    finally:
        for connection in held:
            connection.close()
    time.sleep(0.2)
    assert httpx.get(server.url + "/healthz").status_code == 200


def test_bytes_that_are_not_http_get_a_json_400(server: Server) -> None:
    with server.connect() as connection:
        connection.sendall(b"\x16\x03\x01 not http at all\r\n\r\n")
        received, _ = read_until_closed(connection)
    status, _, body = parse(received)
    assert status == 400 and body["error"]["code"] == "invalid_http_request"


def test_well_behaved_clients_are_served(server: Server) -> None:
    tile = images.png()
    with httpx.Client(base_url=server.url, timeout=30) as client:
        for pause in (0.0, IDLE_S / 2, IDLE_S / 2):  # kept alive across pauses shorter than the idle timeout
            time.sleep(pause)
            assert client.get("/healthz").status_code == 200
            assert client.post("/predict", content=tile, headers={"content-type": "image/png"}).status_code == 200
    # a body sent in parts, with a pause shorter than the body timeout
    head = f"POST /predict HTTP/1.1\r\nHost: x\r\nContent-Type: image/png\r\nContent-Length: {len(tile)}\r\n\r\n"
    with server.connect() as connection:
        connection.sendall(head.encode() + tile[:100])
        time.sleep(BODY_S / 3)
        connection.sendall(tile[100:])
        connection.settimeout(10)
        assert connection.recv(65536).startswith(b"HTTP/1.1 200")


def test_head_probes_answer_like_get_without_a_body(server: Server) -> None:
    for path in ("/healthz", "/readyz"):
        got, head = httpx.get(server.url + path), httpx.head(server.url + path)
        assert head.status_code == got.status_code == 200
        assert head.content == b"" and head.headers["content-length"] == str(len(got.content))
