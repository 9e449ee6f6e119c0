"""The TaskRouter engine: pure Python state and rules, no HTTP."""
