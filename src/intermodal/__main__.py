"""`python -m intermodal`: the same as the `intermodal` command."""

from intermodal.cli import main

if __name__ == "__main__":  # not when a spawned worker process imports it
    main()
