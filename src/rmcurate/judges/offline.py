"""The `vllm-offline` backend: in-process `vllm.LLM`, for a GPU box.

vLLM is not a dependency of the project (pip install vllm on the GPU machine);
it is imported only when this backend is built. One `run` hands the whole batch
to `LLM.chat`, which schedules it as continuous batching does on a server.
"""
import time
from collections.abc import Callable, Sequence
from datetime import UTC, datetime

from rmcurate.schemas.judge import JudgeRequest, JudgeResult


class OfflineJudge:
    def __init__(self, model_path: str, **llm_kwargs):
        from vllm import LLM  # noqa: PLC0415 - optional, heavy

        self.model = str(model_path)
        self.llm = LLM(model=self.model, **llm_kwargs)

    def sampling_params(self, request: JudgeRequest):
        from vllm import SamplingParams  # noqa: PLC0415
        from vllm.sampling_params import StructuredOutputsParams  # noqa: PLC0415

        s, so = request.sampling, request.structured.body()
        return SamplingParams(temperature=s.temperature, top_p=s.top_p, max_tokens=s.max_tokens, seed=s.seed,
                              logprobs=s.top_logprobs or None,
                              structured_outputs=StructuredOutputsParams(**so) if so else None)

    def run(self, requests: Sequence[JudgeRequest], keys: Sequence[str] | None = None,
            on_result: Callable[[int, JudgeResult], None] | None = None) -> list[JudgeResult]:
        if not requests:
            return []
        keys = keys or [r.key(self.model) for r in requests]
        started = datetime.now(UTC)
        t0 = time.perf_counter()
        conversations = [[{"role": r, "content": c} for r, c in req.messages] for req in requests]
        outputs = self.llm.chat(conversations, [self.sampling_params(r) for r in requests], use_tqdm=False)
        latency = (time.perf_counter() - t0) / len(requests)
        results = []
        for i, (key, out) in enumerate(zip(keys, outputs)):
            gen = out.outputs[0]
            top = None
            if gen.logprobs:
                top = {lp.decoded_token: lp.logprob for lp in gen.logprobs[0].values()}
            r = JudgeResult(key=key, status="ok", text=gen.text, finish_reason=gen.finish_reason, top_logprobs=top,
                            prompt_tokens=len(out.prompt_token_ids or []), completion_tokens=len(gen.token_ids),
                            latency_s=latency, endpoint="offline", attempts=1, started_at=started,
                            finished_at=datetime.now(UTC))
            if on_result:
                on_result(i, r)
            results.append(r)
        return results
