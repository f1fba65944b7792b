"""A kernel without Landlock, as macOS, Windows, older Linux and many container profiles are to
rmcurate: a seccomp filter (what Docker's default profile is) makes Landlock's three syscalls fail
with ENOSYS in this process and every process it starts. `apply()` is irreversible."""
import ctypes
import platform

PR_SET_NO_NEW_PRIVS, PR_SET_SECCOMP, SECCOMP_MODE_FILTER = 38, 22, 2
LD_W_ABS, JEQ_K, RET_K = 0x20, 0x15, 0x06
ALLOW, ERRNO, ENOSYS = 0x7FFF0000, 0x00050000, 38
LANDLOCK = (444, 445, 446)  # create_ruleset, add_rule, restrict_self (x86-64 and arm64 alike)


class Instruction(ctypes.Structure):
    _fields_ = [("code", ctypes.c_uint16), ("jt", ctypes.c_uint8), ("jf", ctypes.c_uint8), ("k", ctypes.c_uint32)]


class Program(ctypes.Structure):
    _fields_ = [("len", ctypes.c_ushort), ("filter", ctypes.POINTER(Instruction))]


def apply() -> None:
    assert platform.system() == "Linux" and platform.machine() in ("x86_64", "aarch64")
    n = len(LANDLOCK)
    code = [Instruction(LD_W_ABS, 0, 0, 0)]  # the syscall number
    code += [Instruction(JEQ_K, n - i, 0, nr) for i, nr in enumerate(LANDLOCK)]  # to the ENOSYS return
    code += [Instruction(RET_K, 0, 0, ALLOW), Instruction(RET_K, 0, 0, ERRNO | ENOSYS)]
    program = Program(len(code), (Instruction * len(code))(*code))
    libc = ctypes.CDLL(None, use_errno=True)
    if libc.prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0 or \
            libc.prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER, ctypes.byref(program), 0, 0) != 0:
        raise OSError(ctypes.get_errno(), "seccomp filter")
