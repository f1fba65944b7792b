"""The kernel's word that this process writes no file: Linux Landlock, through its three syscalls.

`rmcurate sql` checks each statement with DuckDB's parser, and DuckDB refuses paths outside the
database. Both are rules inside the process we are trying to contain: a parser case we did not
foresee, or a path DuckDB allows for its own use (the database file, its WAL, its temp folder),
is enough to destroy the warehouse. Landlock closes that class: once `forbid_writes` returns,
the kernel refuses this thread, and every thread it starts later (DuckDB's workers), any file
creation, write, truncation, rename or removal outside the folders named, whatever the SQL says.
Reading is left alone: DuckDB's `enable_external_access = false` decides what may be read.

Landlock is in Linux since 5.13 (2021). Where the kernel lacks it, `forbid_writes` returns None and
the caller says so; the parser and DuckDB's switches are then the only locks.
"""
import ctypes
import os
import platform

# Syscall numbers are the same on x86-64 and arm64 (both use the generic table for these).
CREATE_RULESET, ADD_RULE, RESTRICT_SELF = 444, 445, 446
CREATE_RULESET_VERSION = 1 << 0
RULE_PATH_BENEATH = 1
PR_SET_NO_NEW_PRIVS = 38

# Every right that changes the file tree, by the ABI version that introduced it.
WRITE_FILE, REMOVE_DIR, REMOVE_FILE = 1 << 1, 1 << 4, 1 << 5
MAKE = sum(1 << b for b in (6, 7, 8, 9, 10, 11, 12))  # char, dir, reg, sock, fifo, block, sym
REFER, TRUNCATE = 1 << 13, 1 << 14  # ABI 2 (link/rename across folders), ABI 3


class _RulesetAttr(ctypes.Structure):
    _fields_ = [("handled_access_fs", ctypes.c_uint64)]


class _PathBeneath(ctypes.Structure):
    _pack_ = 1
    _fields_ = [("allowed_access", ctypes.c_uint64), ("parent_fd", ctypes.c_int32)]


def abi_version() -> int:
    """Landlock's ABI version here, or 0 where there is none (another OS, an old or locked-down kernel)."""
    if platform.system() != "Linux" or platform.machine() not in ("x86_64", "aarch64"):
        return 0
    libc = ctypes.CDLL(None, use_errno=True)
    version = libc.syscall(CREATE_RULESET, None, ctypes.c_size_t(0), ctypes.c_uint32(CREATE_RULESET_VERSION))
    return max(version, 0)


def forbid_writes(writable: list[str]) -> int | None:
    """From now on this thread and its future threads change no file outside `writable` (folders).
    Returns the ABI version enforced, or None where Landlock is not available. Irreversible."""
    abi = abi_version()
    if abi < 1:
        return None
    handled = WRITE_FILE | REMOVE_DIR | REMOVE_FILE | MAKE
    if abi >= 2:
        handled |= REFER
    if abi >= 3:
        handled |= TRUNCATE
    libc = ctypes.CDLL(None, use_errno=True)
    attr = _RulesetAttr(handled)
    ruleset = libc.syscall(CREATE_RULESET, ctypes.byref(attr), ctypes.c_size_t(ctypes.sizeof(attr)),
                           ctypes.c_uint32(0))
    if ruleset < 0:
        return None
    try:
        for folder in writable:
            fd = os.open(folder, os.O_PATH | os.O_DIRECTORY | os.O_CLOEXEC)
            try:
                rule = _PathBeneath(handled, fd)
                if libc.syscall(ADD_RULE, ruleset, ctypes.c_int(RULE_PATH_BENEATH), ctypes.byref(rule),
                                ctypes.c_uint32(0)) != 0:
                    raise OSError(ctypes.get_errno(), f"landlock_add_rule({folder})")
            finally:
                os.close(fd)
        # Required of an unprivileged process, and harmless for root: no exec can gain rights back.
        if libc.prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0:
            raise OSError(ctypes.get_errno(), "prctl(PR_SET_NO_NEW_PRIVS)")
        if libc.syscall(RESTRICT_SELF, ruleset, ctypes.c_uint32(0)) != 0:
            raise OSError(ctypes.get_errno(), "landlock_restrict_self")
    finally:
        os.close(ruleset)
    return abi
