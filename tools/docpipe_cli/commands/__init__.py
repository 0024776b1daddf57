"""The ``docpipe`` subcommands, one module each.

Each module has ``register(subparsers, common)``: it adds its subparser (with ``parents=[common]``
for the options every command takes) and sets ``func`` to the function that runs it, which returns
the exit code. To add a command, write ``commands/<name>.py`` with ``register`` and list the module
in ``COMMANDS``; ``docpipe_cli.cli`` builds the parser from this list, in this order.
"""

from __future__ import annotations

from docpipe_cli.commands import backfill, backup, demo, index, invoke, local, mcp, reconcile, search, status

COMMANDS = (demo, local, invoke, search, mcp, index, status, backfill, reconcile, backup)

__all__ = ["COMMANDS"]
