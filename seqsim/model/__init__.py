"""What a user describes: the scenario and its parts (sequences, workloads and
traces, capacity, policy, send windows). Imports only the base modules."""
