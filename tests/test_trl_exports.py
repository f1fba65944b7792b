"""The pair exports as TRL and strict chat templates take them: logged prompts that open with the
assistant, are empty, or repeat a role are repaired or dropped with a reason, and TRL's own
RewardTrainer and DPOTrainer prepare the rows with a real model's chat template."""
import json

import pytest
from test_export import NOW, snapshot_home  # noqa: F401 - the fixture

from rmcurate.rules.export.chat import trainable_prompt
from rmcurate.schemas.pairs import Pair
from rmcurate.warehouse.exports import export
from rmcurate.warehouse.feedback import insert_models
from rmcurate.warehouse.snapshot import write_snapshot

# Mistral's rule, as many templates have it: optional system, then user/assistant alternating.
STRICT_TEMPLATE = (
    "{% set msgs = messages[1:] if messages[0]['role'] == 'system' else messages %}"
    "{% for m in msgs %}{% if (m['role'] == 'user') != (loop.index0 % 2 == 0) %}"
    "{{ raise_exception('Conversation roles must alternate user/assistant/user/assistant/...') }}{% endif %}"
    "{{ m['role'] }}: {{ m['content'] }}\n{% endfor %}")

U, A = "user", "assistant"


def msg(role, content):
    return {"role": role, "content": content}


CALL = {"role": "assistant", "content": "", "tool_calls": [{"id": "c1", "type": "function",
                                                           "function": {"name": "weather", "arguments": "{}"}}]}
RESULT = {"role": "tool", "content": "20C", "tool_call_id": "c1"}


@pytest.mark.parametrize("prompt, expected, repair, reason", [
    ([msg(U, "hi")], [msg(U, "hi")], None, None),
    ([msg("system", "be brief"), msg(U, "hi")], [msg("system", "be brief"), msg(U, "hi")], None, None),
    ([msg(A, "Hello! How can I help?"), msg(U, "fix my code")], [msg(U, "fix my code")],
     "opening assistant messages removed", None),
    ([msg(U, "part one"), msg(U, "part two")], [msg(U, "part one\n\npart two")],
     "consecutive messages of one role merged", None),
    ([msg(U, "q"), msg(A, ""), msg(U, "again")], [msg(U, "q\n\nagain")],
     "empty messages removed; consecutive messages of one role merged", None),
    ([msg(U, "weather?"), CALL, RESULT, msg(A, "It is 20C."), msg(U, "and tomorrow?")],
     [msg(U, "weather?"), CALL, RESULT, msg(A, "It is 20C."), msg(U, "and tomorrow?")], None, None),
    ([msg(U, "weather?"), CALL, RESULT], [msg(U, "weather?"), CALL, RESULT], None, None),  # the reply reads the result
    ([msg(U, "weather?"), msg(A, ""), RESULT, msg(U, "well?")], [msg(U, "weather?\n\nwell?")],
     "empty messages removed; tool results without their call removed; consecutive messages of one role merged", None),
    ([], None, None, "prompt has no user message"),
    ([msg(A, "Welcome!")], None, None, "prompt has no user message"),
    ([msg(U, "q"), msg(A, "a")], None, None, "prompt does not end with a user message"),
])
def test_trainable_prompt(prompt, expected, repair, reason):
    assert trainable_prompt(prompt) == (expected, repair, reason)


@pytest.fixture
def awkward_export(snapshot_home, tmp_path):
    """The export fixture plus pairs whose logged prompts no strict template takes as they are."""
    home, con, _ = snapshot_home
    awkward = {"p-opened": [msg(A, "Hi, I am your assistant."), msg(U, "What is a monad?")],
               "p-empty": [], "p-assistant-only": [msg(A, "Welcome back!")],
               "p-twice": [msg(U, "Sort this list."), msg(U, "[3, 1, 2]")]}
    insert_models(con, "pairs", [
        Pair(pair_id=pid, prompt=prompt, chosen=f"A careful answer ({pid}).", rejected="No.", origin="rmboost",
             intended_label="worse", source_item_id=f"conv-{pid}:1", pipeline_version="rmboost-1", run_id="r2",
             created_at=NOW) for pid, prompt in awkward.items()])
    write_snapshot(con, home, "run2")
    out = {}
    for fmt in ("trl", "openrlhf"):
        export(con, home, fmt, tmp_path / fmt, snapshot="run2", test_fraction=0.3)
        out[fmt] = tmp_path / fmt
    return out


def load(folder):
    """The export as the dataset card's snippet loads it."""
    from datasets import load_dataset

    manifest = json.loads((folder / "manifest.json").read_text())
    splits = [s for s, c in manifest["splits"].items() if c["rows"]]
    return manifest, load_dataset("parquet", data_files={s: str(folder / f"data/{s}-*.parquet") for s in splits})


def test_every_pair_row_has_a_prompt_strict_templates_accept(awkward_export, smollm2):
    from transformers import AutoTokenizer

    strict = AutoTokenizer.from_pretrained(smollm2)
    strict.chat_template = STRICT_TEMPLATE
    for fmt, folder in awkward_export.items():
        manifest, ds = load(folder)
        assert manifest["dropped"].get("prompt has no user message") == 2, manifest["dropped"]
        assert manifest["repaired"] == {"opening assistant messages removed": 1,
                                        "consecutive messages of one role merged": 1}, manifest["repaired"]
        n = 0
        for split in ds.values():
            for row in split:
                whole = row["prompt"] + row["chosen"] if fmt == "trl" else row["chosen"]
                strict.apply_chat_template(whole, tokenize=False)  # raises on a role out of turn
                assert row["prompt"] and row["prompt"][-1]["role"] == "user"
                n += 1
        assert n == sum(c["rows"] for c in manifest["splits"].values()) > 0


def test_trl_reward_and_dpo_trainers_prepare_the_trl_export(awkward_export, smollm2, tmp_path):
    from transformers import AutoModelForCausalLM, AutoModelForSequenceClassification, AutoTokenizer
    from trl import DPOConfig, DPOTrainer, RewardConfig, RewardTrainer

    _, ds = load(awkward_export["trl"])
    tok = AutoTokenizer.from_pretrained(smollm2)  # SmolLM2's own chat template
    common = dict(report_to="none", max_steps=1, per_device_train_batch_size=2, use_cpu=True, save_strategy="no")
    rm = AutoModelForSequenceClassification.from_pretrained(smollm2, num_labels=1)
    rm.config.pad_token_id = tok.pad_token_id
    reward = RewardTrainer(model=rm, args=RewardConfig(output_dir=str(tmp_path / "rm"), **common),
                           train_dataset=ds["train"], eval_dataset=ds.get("test"), processing_class=tok)
    assert len(reward.train_dataset) == len(ds["train"])  # nothing filtered out or failed in preparation
    assert {"chosen_ids", "rejected_ids"} <= set(reward.train_dataset.column_names)
    dpo = DPOTrainer(model=AutoModelForCausalLM.from_pretrained(smollm2),
                     args=DPOConfig(output_dir=str(tmp_path / "dpo"), **common),
                     train_dataset=ds["train"], processing_class=tok)
    assert len(dpo.train_dataset) == len(ds["train"])
    assert {"prompt_ids", "chosen_ids", "rejected_ids"} <= set(dpo.train_dataset.column_names)


def test_an_empty_split_has_no_shard_and_the_card_names_only_splits_with_rows(snapshot_home, tmp_path):
    home, con, _ = snapshot_home
    export(con, home, "trl", tmp_path / "trl", test_fraction=0.0)  # everything in train
    manifest, ds = load(tmp_path / "trl")
    assert manifest["splits"]["test"]["rows"] == 0 and list(ds) == ["train"]
    assert not list((tmp_path / "trl" / "data").glob("test-*"))
    card = (tmp_path / "trl" / "README.md").read_text()
    assert "split: train" in card and "split: test" not in card and "'test'" not in card


@pytest.mark.parametrize("is_dpo", [False, True])
def test_openrlhf_reward_dataset_prepares_the_openrlhf_export(awkward_export, smollm2, is_dpo):
    """OpenRLHF's own RewardDataset, with the flags the card gives (--chosen_key chosen --rejected_key rejected
    --apply_chat_template, no --prompt_key), on SmolLM2's chat template."""
    from types import SimpleNamespace

    from openrlhf.datasets import RewardDataset
    from transformers import AutoTokenizer

    manifest, ds = load(awkward_export["openrlhf"])
    tok = AutoTokenizer.from_pretrained(smollm2)
    flags = SimpleNamespace(chosen_key="chosen", rejected_key="rejected", apply_chat_template=True)
    strategy = SimpleNamespace(args=SimpleNamespace(data=flags))
    prepared = RewardDataset(ds["train"], tok, max_length=512, strategy=strategy, is_dpo=is_dpo, num_processors=1)
    assert len(prepared) == len(ds["train"]) > 0  # no row lost in its preparation
    for i, row in enumerate(ds["train"]):
        # the reply is in the chosen text, and (DPO) the prompt is the conversation before it
        assert row["chosen"][-1]["content"].strip()[:40] in prepared.chosens[i]
        if is_dpo:
            assert prepared.prompts[i].rstrip().endswith("assistant")
    chosen_ids, _, reject_ids, _, _ = prepared.collate_fn([prepared[0], prepared[1]])
    assert chosen_ids.shape[0] == reject_ids.shape[0] == 2


@pytest.fixture
def tool_export(snapshot_home, tmp_path):
    """The export fixture plus a conversation that calls a tool before its answer: its turn labelled, and an
    RMBoost pair on it whose prompt carries the call and its result."""
    from rmcurate.readers.detect import detect
    from rmcurate.schemas.feedback import FeedbackLabel
    from rmcurate.warehouse.ingest import ingest_file

    home, con, _ = snapshot_home
    call = {"id": "call_7", "type": "function", "function": {"name": "weather", "arguments": '{"city": "Paris"}'}}
    path = tmp_path / "tools.jsonl"
    path.write_text(json.dumps({"id": "tool-conv", "messages": [
        {"role": "user", "content": "What is the weather in Paris right now?"},
        {"role": "assistant", "content": None, "tool_calls": [call]},
        {"role": "tool", "tool_call_id": "call_7", "content": "{\"temp_c\": 20}"},
        {"role": "assistant", "content": "It is 20 degrees Celsius in Paris."},
        {"role": "user", "content": "Thanks, that is exactly what I needed to know today."}]}) + "\n")
    ingest_file(con, path, detect(path))
    (item_id, cid, prompt, steps), = con.execute(
        "SELECT item_id, conversation_id, prompt, steps FROM turns WHERE steps <> []").fetchall()
    insert_models(con, "feedback_labels", [FeedbackLabel(
        item_id=item_id, conversation_id=cid, category=5, label=4, method="judged", kept=True,
        pipeline_version="wildreward-1", run_id="r2", labeled_at=NOW)])
    insert_models(con, "pairs", [Pair(
        pair_id="p-tools", prompt=[{"role": "user", "content": prompt}, *steps], chosen="It is 20 degrees Celsius in Paris.",
        rejected="I cannot know the weather.", origin="rmboost", intended_label="worse", source_item_id=item_id,
        pipeline_version="rmboost-1", run_id="r2", created_at=NOW)])
    write_snapshot(con, home, "run2")
    out = {}
    for fmt in ("trl", "ordinal"):
        export(con, home, fmt, tmp_path / fmt, snapshot="run2", test_fraction=0.0)
        out[fmt] = tmp_path / fmt
    return out, item_id


def test_tool_calls_are_exported_in_the_conversational_shape_trl_takes(tool_export, smollm2, tmp_path):
    from transformers import AutoModelForSequenceClassification, AutoTokenizer
    from trl import RewardConfig, RewardTrainer

    out, item_id = tool_export
    _, trl = load(out["trl"])
    (row,) = [r for r in trl["train"] if r["chosen"][0]["content"] == "It is 20 degrees Celsius in Paris."]
    assert [m["role"] for m in row["prompt"]] == ["user", "assistant", "tool"]
    assert row["prompt"][1]["tool_calls"] == [{"id": "call_7", "type": "function", "function": {
        "name": "weather", "arguments": '{"city": "Paris"}'}}]
    assert row["prompt"][2]["tool_call_id"] == "call_7" and row["prompt"][2]["content"] == '{"temp_c": 20}'
    _, ordinal = load(out["ordinal"])
    (turn,) = [r for r in ordinal["train"] if r["item_id"] == item_id]
    assert [m["role"] for m in turn["steps"]] == ["assistant", "tool"]
    assert 'Assistant: [calls weather({"city": "Paris"})]' in turn["text"] and 'Tool: {"temp_c": 20}' in turn["text"]
    tok = AutoTokenizer.from_pretrained(smollm2)
    rm = AutoModelForSequenceClassification.from_pretrained(smollm2, num_labels=1)
    rm.config.pad_token_id = tok.pad_token_id
    reward = RewardTrainer(model=rm, args=RewardConfig(output_dir=str(tmp_path / "rm"), report_to="none", max_steps=1,
                                                       per_device_train_batch_size=2, use_cpu=True, save_strategy="no"),
                           train_dataset=trl["train"], processing_class=tok)
    assert len(reward.train_dataset) == len(trl["train"])  # the tool row prepared with the rest
