"""On a GPU box: our HTTP judge client against vLLM's offline engine, same prompts.

    python -m benchmarks.judge_gpu --model /path/to/hf-model [--n 2000] [--in-flight 256]

Needs `pip install vllm` (a CUDA build) beside the project. It measures labels/s
of the feedback_choice template over real turns of the bundled ShareGPT sample
(1) through `vllm serve` + HttpJudge, and (2) through `vllm.LLM.chat` in
process (OfflineJudge), one after the other so they never share the GPU.
Target: HTTP / offline >= 0.9, i.e. the client costs at most 10%.
"""
import argparse
import atexit
import gc
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx

from rmcurate.judges.embedded import free_port
from rmcurate.judges.offline import OfflineJudge
from rmcurate.judges.vllm_http import HttpJudge
from rmcurate.prompts.templates import load

from benchmarks.judge import real_turns


def serve(model: str, port: int, log: Path) -> subprocess.Popen:
    proc = subprocess.Popen([sys.executable, "-m", "vllm.entrypoints.openai.api_server", "--model", model,
                             "--served-model-name", "judge", "--port", str(port), "--max-logprobs", "20"],
                            stdout=log.open("w"), stderr=subprocess.STDOUT, start_new_session=True)
    deadline = time.monotonic() + 900
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise SystemExit(f"vllm serve exited with {proc.returncode}; see {log}")
        try:
            if httpx.get(f"http://127.0.0.1:{port}/health", timeout=2).status_code == 200:
                return proc
        except httpx.HTTPError:
            pass
        time.sleep(1)
    proc.kill()
    raise SystemExit(f"vllm serve not healthy after 900 s; see {log}")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model", required=True, help="a local Hugging Face model folder")
    ap.add_argument("--n", type=int, default=2000)
    ap.add_argument("--in-flight", type=int, default=256)
    ap.add_argument("--max-chars", type=int, default=2000)
    args = ap.parse_args()
    home = Path(tempfile.mkdtemp(prefix="rmcurate-bench-gpu-"))
    atexit.register(shutil.rmtree, home, True)  # the disk is small: leave nothing behind
    template = load("feedback_choice")
    requests = [template.render(**t) for t in real_turns(home, args.n + 64, args.max_chars, conversations=17_000)]
    warm, timed = requests[:64], requests[64:]

    port = free_port()
    proc = serve(args.model, port, home / "serve.log")
    try:
        judge = HttpJudge([f"http://127.0.0.1:{port}"], "judge", max_in_flight=args.in_flight)
        judge.run(warm)
        t0 = time.perf_counter()
        results = judge.run(timed)
        http_rate = len(timed) / (time.perf_counter() - t0)
        assert all(r.ok for r in results), "some HTTP requests failed"
    finally:
        os.killpg(proc.pid, 15)
        proc.wait()

    offline = OfflineJudge(args.model)
    offline.run(warm)
    t0 = time.perf_counter()
    offline.run(timed)
    offline_rate = len(timed) / (time.perf_counter() - t0)
    del offline
    gc.collect()
    print(f"{len(timed)} labels: HTTP client {http_rate:.1f}/s at {args.in_flight} in flight, "
          f"offline LLM.chat {offline_rate:.1f}/s, ratio {http_rate / offline_rate:.2f} (target >= 0.9)")


if __name__ == "__main__":
    main()
