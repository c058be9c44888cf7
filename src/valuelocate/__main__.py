"""``python -m valuelocate`` (also what ``torchrun -m valuelocate`` runs)."""

from valuelocate.cli import main

main()
