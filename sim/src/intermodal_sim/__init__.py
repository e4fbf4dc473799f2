"""Simulators that stand in for the systems the hub talks to.

They exist so the hub, its tests, its benchmarks and its demo run on one machine without any
of the real systems. Each simulator answers with the real system's envelopes and error shapes,
and can inject the failures the real system would rarely show on demand.
"""
