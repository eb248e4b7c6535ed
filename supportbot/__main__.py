"""``python -m supportbot`` runs the command line."""

from supportbot.cli import main

main()
