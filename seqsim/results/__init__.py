"""What a run produced: the Result (tables, sends, timeline, summary) and save/load.
Imports the base modules, the model, the engine's schema, rules and compiled passes
over tables, and checks."""
