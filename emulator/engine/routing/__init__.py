"""Routing: the index of who is free and what is waiting (``index``), who may take a task and in
which order (``matching``), and where a task goes through its workflow (``steps``)."""
