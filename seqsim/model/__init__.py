"""What a user describes: the scenario and its parts. Imports only the base modules.

`scenario` (the whole run, TOML load/save), `sequence`, `workload` (the
enrolment generators' settings), `trace` (reading CSV traces), `arrivals`
(generating enrolments), `capacity`, `policy`, `windows` (send windows and
calendar days), `faults` (the production failure modes, ``[faults]``) and
`overrides` (``--set key=value``).
"""
