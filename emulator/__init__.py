"""A local, stateful emulator of Twilio TaskRouter (REST API v1).

``from emulator import TaskRouterEmulator`` gives the Python facade (see ``emulator.facade``).
Names are imported on first use, so importing the package (as the pytest plugin does in every
test session) stays cheap.
"""

__version__ = "0.1.0"

_EXPORTS = {
    "TaskRouterEmulator": "emulator.facade",
    "EmulatorServer": "emulator.facade",
    "EmulatorMock": "emulator.mock",
    "BlueprintError": "emulator.blueprints",
    "LoadResult": "emulator.blueprints",
    "Credentials": "emulator.http",
}

__all__ = ["__version__", *_EXPORTS]


def __getattr__(name: str):
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'emulator' has no attribute {name!r}")
    import importlib
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


def __dir__():
    return sorted(set(globals()) | set(_EXPORTS))
