"""The TaskRouter engine: plain records and the rules that change them, in pure Python (no web
framework). Every call runs under ``Backend.lock``.

Module map (lower modules never import higher ones; ``tests/test_engine_structure.py`` checks it):

- ``state``            the records (slotted dataclasses) and named statuses: Activity, TaskChannel,
                       TaskQueue, Worker and WorkerChannel, Workflow, Task, Reservation, Event, and a
                       task's routing state (Route, TaskRouting)
- ``validation``       value rules shared by every resource (JSON attributes, names, limits)
- ``expressions``      the TaskRouter expression language: tokenizer, parser, ``Expression``, ``order_by``
- ``expression_nodes`` the expression tree and its value semantics (comparison, ordering, HAS/IN)
- ``workflow_config``  workflow configuration documents: parsing and validation into filters and targets
- ``events``           event records: the callback field groups and their rendering (form / snake_case)
- ``context``          what a workspace needs from outside: clock, SID source, event sink, work queue
                       (``RoutingHooks``: what the workspace tells the router)
- ``lifecycle``        Task and Reservation state machines as transition tables; the capacity rule;
                       ``Timers``, the one registry of task timers (TTL, target, reservation, 24 h, 5 min)
- ``updates``          ``ReservationUpdate``: a reservation update as one typed value (REST or callback)
- ``instructions``     what ``dequeue`` and ``supervise`` check and leave behind without telephony
- ``activities``       where reservations move their workers (single-tasking activities, post-work)
- ``routing.index``    the routing index (queue membership, free workers, waiting tasks), derived state
- ``routing.matching`` eligibility of a worker for a task, and worker order
- ``routing.steps``    workflow filters and targets: entering a step, skip_if, target timeouts
- ``routing.transfers`` task transfers (Event Bridge): to a worker or a queue, WARM or COLD
- ``tables``           the workspace aggregate's records, derived state and shared helpers
- ``workers``          the rules of Workers and WorkerChannels
- ``tasks``            the rules of Tasks
- ``workspace``        ``Workspace``: the aggregate, with the rules of the configuration resources
                       (workspace, Activities, TaskChannels, TaskQueues, Workflows)
- ``router``           coordination only: hooks, the work queue's drain, offers, reservation updates,
                       and the one table from timer kind to handler
- ``backend``          ``Backend``: accounts and their workspaces, the lock, assembly of the above
- ``listing``          lists read a page at a time: a table's derived order (positions, dates) or a
                       list made whole
- ``queries``          list filters of the REST resources (a record test and an order each)
- ``history``          the digested event history statistics read from (derived state)
- ``statistics``       real-time and cumulative statistics

Entry points for the HTTP layer: ``Backend`` (workspaces by account), the ``Workspace`` methods
(``create_task``, ``update_worker``, ``update_reservation(reservation, ReservationUpdate)``, ...),
``queries`` and ``statistics``.
"""
