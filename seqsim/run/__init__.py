"""The run: the discrete-time loop over polls, the virtual clock and progress.
Imports the base modules, the model, the engines and results."""
