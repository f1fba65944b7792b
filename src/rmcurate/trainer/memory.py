"""What a CPU training run costs in memory, and keeping it to that.

Two things measured here (docs/benchmarks.md, "Memory on CPU"):
- glibc keeps the memory of freed tensors under its *dynamic* mmap threshold (up to 32 MiB) in the
  heap, where fragmentation holds it: the generative trainer's peak RSS grew 2.4 -> 5.4 GiB over
  three steps whose live tensors never passed 2.8 GiB. A fixed 1 MiB threshold gives every larger
  tensor its own mapping, returned to the system when freed.
- A batch that cannot fit should stop before the first step with a hint, not swap for an hour.
"""
import ctypes
import ctypes.util

M_MMAP_THRESHOLD = -3  # glibc's mallopt parameter; setting it also turns the dynamic threshold off
MMAP_THRESHOLD = 1 << 20


def return_freed_tensors() -> bool:
    """Make freed tensor memory go back to the system (glibc only; elsewhere a no-op). Returns whether set."""
    name = ctypes.util.find_library("c")
    try:
        libc = ctypes.CDLL(name or "libc.so.6")
        return bool(libc.mallopt(M_MMAP_THRESHOLD, MMAP_THRESHOLD))
    except (OSError, AttributeError):  # musl, macOS: no mallopt
        return False


def available_bytes() -> int | None:
    """Memory this process may still take: the smaller of MemAvailable and the cgroup's room, if known."""
    room = []
    try:
        with open("/proc/meminfo") as f:
            for line in f:
                if line.startswith("MemAvailable:"):
                    room.append(int(line.split()[1]) * 1024)
    except OSError:
        pass
    for limit, used in (("/sys/fs/cgroup/memory.max", "/sys/fs/cgroup/memory.current"),
                        ("/sys/fs/cgroup/memory/memory.limit_in_bytes", "/sys/fs/cgroup/memory/memory.usage_in_bytes")):
        try:
            cap = open(limit).read().strip()
            if cap != "max" and int(cap) < 1 << 60:
                room.append(int(cap) - int(open(used).read().strip()))
            break
        except (OSError, ValueError):
            continue
    return min(room) if room else None


def causal_lm_bytes(config, n_params: int, batch: int, length: int, recompute: bool) -> int:
    """Peak bytes of fp32 AdamW training of a causal LM on CPU, over the resident process.

    Weights, gradients and two moments: 16 bytes a parameter. Activations of a layer: Korthikanti et
    al. (2022)'s 16-bit figure, (34 x hidden + 5 x heads x length) bytes a token, doubled for fp32; all
    layers' kept, or with recomputation one layer's plus each layer's input. For SmolLM2-135M at 16 x
    256 this says 2.7 GB recomputed and 9.8 GB kept, against 2.7 and 9.5 GB measured (docs/benchmarks.md).
    """
    hidden, layers = config.hidden_size, config.num_hidden_layers
    heads = config.num_attention_heads
    per_layer = batch * length * (34 * hidden + 5 * heads * length) * 2
    acts = (per_layer + layers * batch * length * hidden * 4) if recompute else layers * per_layer
    return 16 * n_params + acts


def fit_hint(need: int, batch: int, length: int, part: int, room: int | None) -> str | None:
    """A one-line hint when `need` bytes will not fit in `room` (with a margin for the process itself).
    `part`: examples a step runs at once; below the batch, only a shorter --max-length saves memory."""
    if room is None or need + (400 << 20) <= room:
        return None
    gib = 1 << 30
    advice = "a smaller --max-length" if part < batch or part == 1 else "a smaller --batch-size or --max-length"
    return (f"--batch-size {batch} at --max-length {length} needs about {need / gib:.1f} GiB to train on this "
            f"CPU and {room / gib:.1f} GiB is free: try {advice}")
