"""Processes and their sockets, read from /proc: which processes a test started, where they listen and talk."""

from __future__ import annotations

import ipaddress
import os
import socket
import struct
from dataclasses import dataclass
from pathlib import Path

PROC = Path("/proc")
TCP_LISTEN = "0A"


@dataclass(frozen=True)
class Socket:
    """One socket of a process: its table (tcp, tcp6, udp, udp6), state, local and remote address."""

    pid: int
    command: str
    table: str
    listening: bool
    local: tuple[str, int]
    remote: tuple[str, int]


def _address(text: str) -> tuple[str, int]:
    """``/proc/net/tcp`` notation (host-order hex words) -> (address, port)."""
    host, port = text.split(":")
    raw = bytes.fromhex(host)
    words = struct.unpack(f"<{len(raw) // 4}I", raw)
    packed = struct.pack(f">{len(words)}I", *words)
    family = socket.AF_INET if len(raw) == 4 else socket.AF_INET6
    return socket.inet_ntop(family, packed), int(port, 16)


def _socket_table() -> dict[int, tuple[str, bool, tuple[str, int], tuple[str, int]]]:
    """inode -> (table, listening, local, remote) for every TCP and UDP socket of this network namespace."""
    found = {}
    for table in ("tcp", "tcp6", "udp", "udp6"):
        lines = (PROC / "net" / table).read_text().splitlines()[1:]
        for line in lines:
            fields = line.split()
            listening = table.startswith("udp") or fields[3] == TCP_LISTEN
            found[int(fields[9])] = (table, listening, _address(fields[1]), _address(fields[2]))
    return found


def command_line(pid: int) -> str:
    """The process's command line ('' once it is gone)."""
    try:
        return (PROC / str(pid) / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace").strip()
    except OSError:
        return ""


def _parent(pid: int) -> int | None:
    try:
        stat = (PROC / str(pid) / "stat").read_text()
    except OSError:
        return None
    return int(stat.rsplit(")", 1)[1].split()[1])


def descendants(root: int) -> set[int]:
    """Every live process below ``root`` in the process tree."""
    children: dict[int, list[int]] = {}
    for entry in PROC.iterdir():
        if entry.name.isdigit() and (parent := _parent(int(entry.name))) is not None:
            children.setdefault(parent, []).append(int(entry.name))
    found: set[int] = set()
    pending = [root]
    while pending:
        for child in children.get(pending.pop(), []):
            if child not in found:
                found.add(child)
                pending.append(child)
    return found


def alive(pid: int) -> bool:
    """True while the process exists and is not a zombie waiting to be reaped."""
    try:
        stat = (PROC / str(pid) / "stat").read_text()
    except OSError:
        return False
    return stat.rsplit(")", 1)[1].split()[0] != "Z"


def sockets_of(pids: set[int]) -> list[Socket]:
    """The TCP and UDP sockets the processes ``pids`` hold open."""
    table = _socket_table()
    found = []
    for pid in sorted(pids):
        command = command_line(pid)
        try:
            links = [os.readlink(fd) for fd in (PROC / str(pid) / "fd").iterdir()]
        except OSError:  # gone meanwhile
            continue
        for link in links:
            if link.startswith("socket:[") and (inode := int(link[8:-1])) in table:
                found.append(Socket(pid, command, *table[inode]))
    return found


def is_loopback(address: str) -> bool:
    """127.0.0.0/8, ::1, or an IPv4-mapped loopback address."""
    ip = ipaddress.ip_address(address)
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    return ip.is_loopback


def is_unspecified(address: str) -> bool:
    """0.0.0.0 or :: (a remote end that is not connected)."""
    return ipaddress.ip_address(address).is_unspecified
