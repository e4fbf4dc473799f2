"""`python -m intermodal_sim.testing receiver PORT`: a receiver in its own process."""

from intermodal_sim.testing import main

main()
