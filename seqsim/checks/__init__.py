"""Invariants of the sequence engine as table checks: what every run must satisfy.
Imports the base modules, the model, and the engine's schema, rules and compiled
passes over tables."""
