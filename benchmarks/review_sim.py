"""The review loop, simulated with the judge dev set as the reviewer: how fast does the first pass
learn to catch corrections as reviews come in, with random reviews alone against the mixed queue?

The 912 dev-set follow-ups (one reader's gold) are split, stratified, into a pool the simulated
reviewer draws from (70%) and a held-out set nothing is trained on (30%). The label stage is the
cues, then a first pass (stages/first_pass.py `fit`: the same features and model) trained on the
reviewed items (weight 1) beside the pool's cue labels (weight 0.3, as the home's cues are), which
answers when its top probability reaches 0.5. After each batch of 25 reviews it is refitted.

Correction recall: of the held-out follow-ups the reader put in category 1 or 2 (the user corrects
or rejects the reply), the share the stage labels 1 or 2; and its precision: of the held-out
follow-ups the stage labels 1 or 2, the share the reader did. Mean and spread over seeds (each a
new split and a new draw). Strategies:
- random: the next 25 from a uniform draw of the pool;
- mixed: 40% random, 30% uncertain (lowest top probability under the current first pass), 30%
  similar (nearest MiniLM follow-ups to the reviewed items the stage had wrong). The `disagree`
  strategy needs a judge's audit and is not simulated.

    python -m benchmarks.review_sim --seeds 5
"""
import argparse
import json

import numpy as np

from rmcurate.judges import GOLD
from rmcurate.rules.feedback.cues import cue
from rmcurate.rules.feedback.embed import Embedder
from rmcurate.rules.feedback.first_pass import features
from rmcurate.stages.first_pass import WEAK, fit

BATCH = 25
STEPS = (0, 50, 100, 200, 300, 400)


def stage(model, X: np.ndarray, cues: list) -> np.ndarray:
    """The category the stage gives each row (0: none): the cue first, else the first pass at >= 0.5."""
    out = np.array([c[0] if c else 0 for c in cues])
    if model is not None:
        p = model.probabilities(X)
        top, conf = p.argmax(axis=1) + 1, p.max(axis=1)
        answer = (out == 0) & (conf >= 0.5)
        out[answer] = top[answer]
    return out


def train(X, y, reviewed: list[int], pool: np.ndarray, cues: list):
    weak = [i for i in pool if cues[i] and i not in set(reviewed)]
    idx = list(reviewed) + weak
    labels = np.array([y[i] for i in reviewed] + [cues[i][0] for i in weak])
    weights = np.array([1.0] * len(reviewed) + [WEAK] * len(weak))
    if len(set(labels.tolist())) < 2:
        return None
    return fit(X[idx], labels, weights)


def run(X, E, y, cues, pool, held, strategy: str, seed: int) -> list[float]:
    rng = np.random.default_rng(seed)
    order = list(rng.permutation(pool))
    reviewed: list[int] = []
    model = train(X, y, reviewed, pool, cues)
    corrections = [i for i in held if y[i] in (1, 2)]
    curve = []
    for step in STEPS:
        while len(reviewed) < step:
            todo = [i for i in order if i not in set(reviewed)]
            n = min(BATCH, step - len(reviewed))
            if strategy == "random" or model is None:
                batch = todo[:n]
            else:
                k_random, k_uncertain = round(n * 0.4), round(n * 0.3)
                batch = todo[:k_random]
                rest = [i for i in todo if i not in set(batch)]
                p = model.probabilities(X[rest]).max(axis=1)
                batch += [rest[j] for j in np.argsort(p)[:k_uncertain]]
                rest = [i for i in rest if i not in set(batch)]
                labelled = stage(model, X[reviewed], [cues[i] for i in reviewed]) if reviewed else np.array([])
                wrong = [r for r, got in zip(reviewed, labelled) if got != y[r]]
                if wrong and rest:
                    near = (E[rest] @ E[wrong].T).max(axis=1)
                    batch += [rest[j] for j in np.argsort(-near)[:n - len(batch)]]
                batch += [i for i in rest if i not in set(batch)][:n - len(batch)]
            reviewed += batch
            model = train(X, y, reviewed, pool, cues)
        got = stage(model, X[corrections], [cues[i] for i in corrections])
        said = stage(model, X[held], [cues[i] for i in held])
        flagged = np.isin(said, (1, 2))
        curve.append((float(np.isin(got, (1, 2)).mean()),
                      float(np.isin(y[held][flagged], (1, 2)).mean()) if flagged.any() else 0.0))
    return curve


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, default=5)
    args = parser.parse_args()
    gold = [json.loads(line) for line in GOLD.read_text().split("\n") if line.strip()]
    y = np.array([g["label"] for g in gold])
    embed = Embedder()
    X = features([{k: g.get(k) for k in ("prompt", "response", "feedback")} for g in gold], embed)
    E = X[:, :384]  # the MiniLM part: unit vectors, a dot product is the cosine
    cues = [cue(g["feedback"]) for g in gold]
    from sklearn.model_selection import train_test_split

    results = {"random": [], "mixed": []}
    for seed in range(args.seeds):
        pool, held = train_test_split(np.arange(len(gold)), test_size=0.3, stratify=y, random_state=seed)
        for strategy in results:
            results[strategy].append(run(X, E, y, cues, pool, held, strategy, seed))
    out = {"reviews": STEPS, "held_out": int(len(held)), "held_out_corrections": int(sum(y[held] <= 2))}
    for s, c in results.items():
        c = np.array(c)  # (seeds, steps, [recall, precision])
        for k, name in enumerate(("recall", "precision")):
            out[f"{s}_{name}"] = [round(float(v), 3) for v in c[:, :, k].mean(axis=0)]
            out[f"{s}_{name}_sd"] = [round(float(v), 3) for v in c[:, :, k].std(axis=0)]
    print(json.dumps(out))


if __name__ == "__main__":
    main()
