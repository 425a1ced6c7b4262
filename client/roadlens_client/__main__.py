"""``python -m roadlens_client``: the same as the ``roadlens`` command."""

from roadlens_client.cli import main

main()
