"""The advance logic of the sequence engine.

- :mod:`~seqsim.engine.rules`: the scheduling rules every engine calls;
- :mod:`~seqsim.engine.registry`: every engine by name (nothing else chooses one);
- :mod:`~seqsim.engine.poll`: what a poll takes and reports, the processor interface;
- the per-row engine, the reference: literal SQL on DuckDB as production ran it
  (:mod:`~seqsim.engine.row`, :mod:`~seqsim.engine.row_send`,
  :mod:`~seqsim.engine.row_queries`, run by :mod:`~seqsim.engine.row_processor`,
  and under ``[faults]`` by :mod:`~seqsim.engine.row_faults`);
- the batch engine: the same rules on indexed in-memory state
  (:mod:`~seqsim.engine.batch`, :mod:`~seqsim.engine.batch_state`), with a closed
  form (:mod:`~seqsim.engine.vector`) when nothing can hold a message back;
- :mod:`~seqsim.engine.schema` (the tables), :mod:`~seqsim.engine.fleet` (devices).

Imports only the base modules and the model.
"""
