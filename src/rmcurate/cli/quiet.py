"""Silence DuckDB's binding diagnostics at interpreter teardown (about 40 `nanobind: leaked ...` lines).

Prefect leaves daemon threads (its event loop, log and event workers) running when a process
exits; their frames keep the module graph, DuckDB's type constants included, alive through
finalization, and DuckDB's nanobind binding then reports those objects as leaked. They are freed
with the process: the report is noise after the results. An atexit handler registered before
Prefect is imported runs after Prefect's own (atexit is last in, first out), so only what is
printed during teardown goes to /dev/null; everything the run printed before stays.
"""
import atexit
import os
import sys

from rmcurate.settings import WarehouseSettings


def _stderr_to_devnull() -> None:
    sys.stderr.flush()
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, 2)
    os.close(devnull)


def quiet_teardown() -> None:
    if not WarehouseSettings().teardown_stderr:  # set: keep it, to debug the shutdown itself
        atexit.register(_stderr_to_devnull)
