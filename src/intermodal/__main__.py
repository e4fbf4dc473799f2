"""`python -m intermodal`: the same as the `intermodal` command."""

from intermodal.cli import main

main()
