"""The kernel's word that this process writes no file: Linux Landlock, through its three syscalls.

`rmcurate sql` checks each statement with DuckDB's parser, and DuckDB refuses paths outside the
database. Both are rules inside the process we are trying to contain: a parser case we did not
foresee, or a path DuckDB allows for its own use (the database file, its WAL, its temp folder),
is enough to destroy the warehouse. Landlock closes that class: once `forbid_writes` returns,
the kernel refuses this thread, and every thread it starts later (DuckDB's workers), any file
creation, write, truncation, rename or removal outside the folders named, whatever the SQL says.
With `hide`, reading is confined too: nothing under that folder (the home: its salt, exports,
models, judge caches) can be read but the paths named in `show` (the warehouse file, its WAL, the
snapshots), so the salt does not rest on DuckDB's path list alone. Landlock only allows, so hiding
one folder means allowing every sibling of it and of each folder above it, as they are now.

Landlock is in Linux since 5.13 (2021). Where the kernel lacks it (macOS, Windows, older Linux,
container profiles that filter its syscalls), `forbid_writes` returns None; `rmcurate sql` then
refuses to run unless told to accept the risk (warehouse/query.py).
"""
import ctypes
import os
import platform
import stat

# Syscall numbers are the same on x86-64 and arm64 (both use the generic table for these).
CREATE_RULESET, ADD_RULE, RESTRICT_SELF = 444, 445, 446
CREATE_RULESET_VERSION = 1 << 0
RULE_PATH_BENEATH = 1
PR_SET_NO_NEW_PRIVS = 38

# Every right that changes the file tree, by the ABI version that introduced it; and the two that read.
READ_FILE, READ_DIR = 1 << 2, 1 << 3
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


def forbid_writes(writable: list[str], hide: str | None = None, show: list[str] = ()) -> int | None:
    """From now on this thread and its future threads change no file outside `writable` (folders),
    and, with `hide`, read nothing under that folder but the paths in `show` (files or folders).
    Returns the ABI version enforced, or None where Landlock is not available. Irreversible."""
    abi = abi_version()
    if abi < 1:
        return None
    handled = WRITE_FILE | REMOVE_DIR | REMOVE_FILE | MAKE
    if abi >= 2:
        handled |= REFER
    if abi >= 3:
        handled |= TRUNCATE
    reads = READ_FILE | READ_DIR if hide else 0
    handled |= reads
    libc = ctypes.CDLL(None, use_errno=True)
    attr = _RulesetAttr(handled)
    ruleset = libc.syscall(CREATE_RULESET, ctypes.byref(attr), ctypes.c_size_t(ctypes.sizeof(attr)),
                           ctypes.c_uint32(0))
    if ruleset < 0:
        return None
    try:
        for folder in writable:
            allow(libc, ruleset, folder, handled)
        if hide:
            for path in readable_around(hide) + [p for p in show if os.path.exists(p)]:
                allow(libc, ruleset, path, reads)
        # Required of an unprivileged process, and harmless for root: no exec can gain rights back.
        if libc.prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0:
            raise OSError(ctypes.get_errno(), "prctl(PR_SET_NO_NEW_PRIVS)")
        if libc.syscall(RESTRICT_SELF, ruleset, ctypes.c_uint32(0)) != 0:
            raise OSError(ctypes.get_errno(), "landlock_restrict_self")
    finally:
        os.close(ruleset)
    return abi


def readable_around(hidden: str) -> list[str]:
    """Every entry beside `hidden` and beside each folder above it: the whole tree but `hidden`."""
    hidden = os.path.realpath(hidden)
    found, below = [], hidden
    while below != os.path.dirname(below):  # up to the root
        above = os.path.dirname(below)
        try:
            names = os.listdir(above)
        except OSError:
            names = []
        for name in names:
            path = os.path.join(above, name)
            real = os.path.realpath(path)  # a link to the hidden folder or above it would open it again
            if path != below and not (real == hidden or real.startswith(hidden.rstrip("/") + "/")
                                      or hidden.startswith(real.rstrip("/") + "/")):
                found.append(path)
        below = above
    return found


def allow(libc, ruleset: int, path: str, rights: int) -> None:
    """Grant `rights` beneath `path` (only the rights a file can have, when it is a file)."""
    try:
        fd = os.open(path, os.O_PATH | os.O_CLOEXEC)
    except OSError:
        return  # gone since it was listed, or a dangling link: nothing to allow
    try:
        if not stat.S_ISDIR(os.fstat(fd).st_mode):
            rights &= READ_FILE | WRITE_FILE | TRUNCATE
        rule = _PathBeneath(rights, fd)
        if libc.syscall(ADD_RULE, ruleset, ctypes.c_int(RULE_PATH_BENEATH), ctypes.byref(rule),
                        ctypes.c_uint32(0)) != 0:
            raise OSError(ctypes.get_errno(), f"landlock_add_rule({path})")
    finally:
        os.close(fd)
