"""The advance logic of the sequence engine.

- :mod:`~seqsim.engine.rules`: the scheduling rules every engine calls;
- :mod:`~seqsim.engine.registry`: every engine by name (nothing else chooses one);
- :mod:`~seqsim.engine.poll`: what a poll takes and reports, the processor interface;
- the per-row engine, the reference: literal SQL on DuckDB as production ran it
  (:mod:`~seqsim.engine.row`, :mod:`~seqsim.engine.row_send`,
  :mod:`~seqsim.engine.row_queries`, run by :mod:`~seqsim.engine.row_processor`,
  and under ``[faults]`` by :mod:`~seqsim.engine.row_faults`);
- the compiled engine (``engine = "batch"``): the same rules as loops over integer
  arrays, compiled with numba, a whole run per call (:mod:`~seqsim.engine.kernel`,
  the poll; :mod:`~seqsim.engine.kernel_advance`, :mod:`~seqsim.engine.kernel_ready`,
  :mod:`~seqsim.engine.kernel_catchup`, :mod:`~seqsim.engine.kernel_devices`,
  :mod:`~seqsim.engine.kernel_heap`, :mod:`~seqsim.engine.kernel_room`, and
  :mod:`~seqsim.engine.kernel_faults` for the
  one-message ``[faults]``; :mod:`~seqsim.engine.kernel_layout`, the arrays;
  :mod:`~seqsim.engine.kernel_world` and :mod:`~seqsim.engine.kernel_tables`, to and
  from the scenario and tables; :mod:`~seqsim.engine.kernel_run`, a whole run);
- compiled passes over a finished run's columns, for its checks and results
  (:mod:`~seqsim.engine.tallies`, :mod:`~seqsim.engine.pair_scan`,
  :mod:`~seqsim.engine.send_scan`, :mod:`~seqsim.engine.lateness`);
- :mod:`~seqsim.engine.schema` (the tables), :mod:`~seqsim.engine.fleet` (devices).

Imports only the base modules and the model.
"""
