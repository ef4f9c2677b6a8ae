"""The store's domain orchestration, written once for every backend: no SQL, no driver, no UI.

Why this shape. The rules of a write (what a claim hands out, what a failure holds, what a gate
decision opens) are plain synchronous functions over a unit of work (``uow.Unit``): the data
operations one write transaction needs, named by meaning (``claim_next``, ``dependents_of``,
``event``), never by table. A backend implements the unit, and only that: SQLite over its ``Tx``
(store/sqlite/uow.py), a PostgreSQL backend over a synchronous driver on the store's own thread.
One transaction runs to its end on one thread, with no await point inside it: no other coroutine
interleaves with it while its lock is held, and the event loop is never blocked by one. The rules
stay ordinary, testable functions (tests/store/test_domain.py runs them over plain dicts).

- ``tasks``: enqueue validation, claim, complete, fail, retry, cancel, dependencies, priorities.
- ``liveness``: reaping timed-out leases and silent agents; holding what waits on a failure.
- ``gates``: the gate decision (checks, outcome, opening the next milestone), conditions, resuming.
"""
