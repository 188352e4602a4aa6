"""EC-DD: seeds, prompts, parsing of each stage's answer, the runner's records and drops, resume after kill -9,
the HTTP backend against real localhost servers, and a generated file training CAER."""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from ecdd_script import ScriptedBackend, scripted_app, serving

from emocause.config import load_config
from emocause.data import load
from emocause.errors import ConfigError, DataError
from emocause.models.chat import BackendError, GenerationOptions, LocalChatBackend, OpenAIChatBackend
from emocause.pipeline.ecdd.filters import PatternToxicity, seed_cause_text
from emocause.pipeline.ecdd.report import run_rows
from emocause.pipeline.ecdd.run import PROMPT_STAGES, EcddConfig, run_ecdd
from emocause.pipeline.ecdd.seeds import Seed, in_shard, parse_shard, read_seeds
from emocause.pipeline.ecdd.store import sidecar
from emocause.pipeline.ecdd.text import (
    fill_persons,
    locate_in_dialogue,
    parse_annotation,
    parse_category,
    parse_dialogue,
    parse_quality,
    read_turn,
)
from emocause.resources.prompts import load_prompts

SEEDS = [
    {"head": "PersonX wins the race", "tail": "proud"},
    {"head": "PersonX gets a new puppy", "tail": "happy"},
    {"head": "PersonX loses PersonX's keys", "tail": "frustrated"},
    {"head": "PersonX lies on the beach", "tail": "mellowish"},  # not in the dictionary: the LLM says relaxed
    {"head": "PersonX sees a strange light", "tail": "blorft"},  # the LLM cannot categorise it
    {"head": "PersonX meets the mayor", "tail": "impressed"},  # neutral in the dictionary
    {"head": "PersonX insults PersonY", "tail": "angry"},  # the scripted dialogue turns toxic
    {"head": "PersonX fails the exam", "tail": "sad", "relation": "xWant"},  # another relation
]


def _seed_file(path: Path, seeds: list[dict[str, str]]) -> Path:
    path.write_text("".join(json.dumps(s) + "\n" for s in seeds), encoding="utf-8")
    return path


def _config(**changes: object) -> EcddConfig:
    return EcddConfig(**{"semantic_check": False, "dialogue_mode": "whole", "concurrency": 3, **changes})  # type: ignore[arg-type]


# --- parsing -----------------------------------------------------------------------------------------------


def test_dialogue_parsing_strips_stage_directions_and_merges_turns() -> None:
    text = (
        "Sure! Here it is:\nMike: hi there\nMegan (crying sadly): I lost it. *sobs* All of it.\n"
        "and I can't find it.\n**Mike**: Oh no. [pauses] What happened?\nNarrator: silence.\n"
        "Megan: The bag was stolen.\nMegan: Right at the station.\nPerson 2: That's awful."
    )
    parsed = parse_dialogue(text, "Megan", "Mike", min_turns=4)
    assert not isinstance(parsed, str)
    assert parsed.turns == [
        ("Megan", "I lost it. All of it. and I can't find it."),
        ("Mike", "Oh no. What happened?"),
        ("Megan", "The bag was stolen. Right at the station."),
        ("Mike", "That's awful."),
    ]
    assert parsed.directions_removed == 3
    assert parse_dialogue("Megan: hi\nMike: hello", "Megan", "Mike", min_turns=4) == (
        "fewer than 4 turns between Megan and Mike"
    )


def test_turn_reading_keeps_one_speaker_and_whole_sentences() -> None:
    text = "Megan: I did it! I finally won. *smiling* It was\nMike: Great!\nMegan: more"
    assert read_turn(text, "Megan", "Megan", "Mike") == ("I did it! I finally won.", 1)
    assert read_turn("Mike: hello\nSure thing.", "Megan", "Megan", "Mike") == ("Sure thing.", 0)


def test_annotation_must_be_verbatim_or_a_near_copy() -> None:
    turns = [("Megan", "I won the race today. I feel so proud!"), ("Mike", "Wow, congratulations.")]
    exact = locate_in_dialogue("“i feel so proud!”", turns, speakers={"Megan"})
    assert exact is not None and (exact.turn, exact.text, exact.snapped) == (0, "I feel so proud!", False)
    near = locate_in_dialogue("Megan: I won the race to day.", turns)
    assert near is not None and (near.text, near.snapped) == ("I won the race today.", True)
    assert locate_in_dialogue("Wow, congratulations.", turns, speakers={"Megan"}) is None
    assert locate_in_dialogue("Megan is happy about winning", turns) is None


def test_answer_parsers() -> None:
    assert parse_annotation('Sure.\nEmotion: "I feel proud."\n**Cause**: I won.') == (
        "I feel proud.",
        "I won.",
    )
    assert parse_annotation("Emotion: only this") is None
    quality = parse_quality(
        "Score: 4/5\nReasoning: fits well.\nBetter emotion sentence: null\nBetter cause sentence: I won."
    )
    assert quality is not None and (quality.score, quality.reasoning, quality.better_emotion, quality.better_cause) == (
        4, "fits well.", None, "I won."
    )  # fmt: skip
    assert parse_quality("Score: 9") is None and parse_quality("It is good.") is None
    assert parse_category("The category is: Afraid.") == "afraid" and parse_category("no idea") is None
    assert (
        fill_persons("PersonX gives PersonY PersonX's book", "Megan", "Mike")
        == "Megan gives Mike Megan's book"
    )
    assert seed_cause_text("PersonX loses PersonX's keys") == "someone loses their keys"


def test_pattern_toxicity() -> None:
    assert PatternToxicity().scores(["You are an idiot.", "You are a good friend."]) == [1.0, 0.0]


# --- seeds and prompts -------------------------------------------------------------------------------------


def test_seeds_from_the_atomic_sample(real_root: Path) -> None:
    seeds = read_seeds("atomic", ["xReact"], real_root)
    assert len(seeds.seeds) > 362  # 362 xReact rows, several tails each
    assert seeds.skipped["no inference (none)"] >= 1 and all(s.relation == "xReact" for s in seeds.seeds)
    assert len({s.id for s in seeds.seeds}) == len(seeds.seeds)


def test_seed_files_in_every_format(tmp_path: Path) -> None:
    jsonl = read_seeds(str(_seed_file(tmp_path / "s.jsonl", SEEDS + SEEDS[:1])))
    assert len(jsonl.seeds) == 7 and jsonl.skipped == {"duplicate": 1, "relation xWant": 1}
    full = tmp_path / "train.tsv"
    full.write_text("PersonX wins\txReact\tproud\nPersonX wins\txReact\tnone\nPersonX wins\txWant\tmore\n")
    assert [s.tail for s in read_seeds(str(full)).seeds] == ["proud"]
    sample = tmp_path / "sample.tsv"
    sample.write_text("PersonX wins @@ xReact\tproud| happy\n")
    assert [s.tail for s in read_seeds(str(sample)).seeds] == ["proud", "happy"]
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"head": "x", "tail": "y"}\n{"head": 3}\n')
    with pytest.raises(DataError, match="line 2"):
        read_seeds(str(bad))
    with pytest.raises(DataError, match="unknown seed file type"):
        read_seeds(str(_seed_file(tmp_path / "s.txt", SEEDS)))


def test_shards_split_seeds_disjointly_and_completely() -> None:
    seeds = [Seed(f"PersonX does thing {i}", "xReact", "happy") for i in range(200)]
    shards = [{s.id for s in seeds if in_shard(s, (i, 4))} for i in range(1, 5)]
    assert set().union(*shards) == {s.id for s in seeds} and sum(map(len, shards)) == 200
    assert all(20 < len(shard) < 80 for shard in shards)
    assert (
        seeds[0].id == Seed("PersonX does thing 0 ", "xReact", "Happy").id
    )  # stable across spacing and case
    with pytest.raises(ConfigError):
        parse_shard("5/4")


def test_prompt_sets_are_versioned_and_checked(tmp_path: Path) -> None:
    packaged = load_prompts("ecdd-v1", PROMPT_STAGES)
    assert "expand this sentence into no more than three sentences" in packaged.templates["situation"]
    folder = shutil.copytree(
        Path(str(Path(__file__).parents[1] / "src/emocause/resources/prompts/ecdd-v1")), tmp_path / "mine"
    )
    (folder / "quality.txt").write_text((folder / "quality.txt").read_text() + "\nBe strict.")
    assert load_prompts(str(folder), PROMPT_STAGES).fingerprint != packaged.fingerprint
    (folder / "situation.txt").write_text("Expand {sentense}")
    with pytest.raises(ConfigError, match="unknown placeholder"):
        load_prompts(str(folder), PROMPT_STAGES)


# --- the runner --------------------------------------------------------------------------------------------


def _run(config: EcddConfig, out: Path, **kwargs: object) -> object:
    return asyncio.run(run_ecdd(config, ScriptedBackend(), out, **kwargs))  # type: ignore[arg-type]


def test_run_keeps_labels_and_records_every_drop(tmp_path: Path) -> None:
    seeds = _seed_file(tmp_path / "seeds.jsonl", SEEDS)
    out = tmp_path / "gen" / "ecdd.jsonl"
    summary = _run(_config(seeds=str(seeds)), out)
    assert summary.kept == 4  # type: ignore[attr-defined]
    assert summary.dropped == {  # type: ignore[attr-defined]
        "emotion word not categorised": 1, "neutral emotion": 1, "toxic": 1
    }  # fmt: skip
    drops = [json.loads(line) for line in sidecar(out, "dropped.jsonl").read_text().splitlines()]
    assert {d["tail"]: d["stage"] for d in drops} == {
        "blorft": "emotion dictionary", "impressed": "emotion dictionary", "angry": "toxicity"
    }  # fmt: skip
    records = {r["tail"]: r for r in map(json.loads, out.read_text().splitlines())}
    relaxed = records["mellowish"]
    assert relaxed["emotion"] == "relaxed" and relaxed["provenance"]["category_source"] == "llm"
    assert relaxed["provenance"]["stage_directions_removed"] == 2
    assert relaxed["quality"] == {"score": 4, "reasoning": "The labels fit.", "better_emotion_sentence": None,
                                  "better_cause_sentence": None}  # fmt: skip
    # The output is ECC: the project's loader reads it, with the cause sentence located in its turn.
    dialogues = load(str(out), "all").dialogues
    assert len(dialogues) == 4
    by_tail = {d.meta["tail"]: d for d in dialogues}
    proud = by_tail["proud"]
    assert proud.emotion == "proud" and proud.turns[0].role == "speaker" and proud.turns[1].role == "listener"
    assert (
        proud.turns[0].cause_turns == [2]
        and proud.turns[0].cause_spans[0].text == "It means a lot to me. It really does."
    )
    assert proud.turns[0].meta["emotion_sentence"] == "I can't stop thinking about it."
    assert sum(len(load(str(out), split).dialogues) for split in ("train", "valid", "test")) == 4
    summary_file = json.loads(sidecar(out, "summary.json").read_text())
    assert summary_file["kept_in_file"] == 4 and summary_file["calls"] > 0


def test_run_refuses_to_overwrite_and_resumes_without_repeating(tmp_path: Path) -> None:
    seeds = _seed_file(tmp_path / "seeds.jsonl", SEEDS)
    out = tmp_path / "ecdd.jsonl"
    _run(_config(seeds=str(seeds), max_seeds=3), out)
    with pytest.raises(ConfigError, match="already exists"):
        _run(_config(seeds=str(seeds)), out)
    with pytest.raises(ConfigError, match="other settings"):
        _run(_config(seeds=str(seeds), prompts=str(Path(__file__).parents[1] / "src/emocause/resources/prompts/ecdd-v1"),
                     relations=["xReact", "xWant"]), out, resume=True)  # fmt: skip
    # A kill mid-write leaves a partial last line: the resume cuts it and runs that seed again.
    with out.open("a") as fh:
        fh.write('{"doc_id": "ecdd-half')
    summary = _run(_config(seeds=str(seeds)), out, resume=True)
    assert summary.already_done == 3 and summary.seeds_in_shard == 7  # type: ignore[attr-defined]
    ids = [json.loads(line)["doc_id"] for line in out.read_text().splitlines()]
    drops = [json.loads(line)["seed_id"] for line in sidecar(out, "dropped.jsonl").read_text().splitlines()]
    assert len(ids) == len(set(ids)) == 4 and len(ids) + len(drops) == 7
    # The speed rows describe the resumed invocation alone, and say so.
    rows = {r.metric: r for r in run_rows(out)}
    assert rows["seeds_per_minute"].n == 4 and rows["completion_tokens_per_second"].n == 4
    assert "3 seeds were done before a resume" in rows["kept_share"].notes


def test_resume_refuses_a_file_this_pipeline_did_not_write(tmp_path: Path) -> None:
    seeds = _seed_file(tmp_path / "seeds.jsonl", SEEDS[:2])
    out = tmp_path / "notes.jsonl"
    notes = '{"note": "mine"}\n{"note": "no newline at the end"}'
    out.write_text(notes)
    for resume in (True, False):
        with pytest.raises(ConfigError, match=r"notes\.jsonl: not an EC-DD run: no run manifest notes\.run\.json "
                                              r"found beside it; nothing was changed"):  # fmt: skip
            _run(_config(seeds=str(seeds)), out, resume=resume)
    assert out.read_text() == notes
    assert sorted(p.name for p in tmp_path.iterdir()) == ["notes.jsonl", "seeds.jsonl"]


def test_max_seeds_is_at_least_one_or_all(tmp_path: Path) -> None:
    from typer.testing import CliRunner

    import emocause.cli.ecdd  # noqa: F401  (adds `ecdd` to the app)
    from emocause.cli import app

    out = tmp_path / "ecdd.jsonl"
    result = CliRunner().invoke(app, ["ecdd", "run", "-o", str(out), "--max-seeds", "0", "--seeds",
                                      str(tmp_path / "none.jsonl"), "--base-url", "http://127.0.0.1:9/v1"])  # fmt: skip
    assert result.exit_code == 2 and "Invalid value for '--max-seeds'" in result.output, result.output
    wide_help = CliRunner().invoke(app, ["ecdd", "run", "--help"], env={"COLUMNS": "200"})
    assert "(N >= 1); default: all" in wide_help.output
    seeds = _seed_file(tmp_path / "seeds.jsonl", SEEDS)
    with pytest.raises(ConfigError, match="max_seeds 0: expected at least 1, or null for all seeds"):
        _run(_config(seeds=str(seeds), max_seeds=0), out)
    assert not out.exists()
    everything = load_config(EcddConfig, None, {"seeds": str(seeds), "max_seeds": None})
    assert everything.max_seeds is None and EcddConfig().max_seeds is None
    assert _run(_config(seeds=str(seeds)), out).seeds_in_shard == 7  # type: ignore[attr-defined]


def test_text_that_is_not_utf8_is_a_data_error(tmp_path: Path) -> None:
    seeds = tmp_path / "seeds.jsonl"
    seeds.write_bytes('{"head": "PersonX wins", "tail": "proud"}\n{"head": "PersonX eats cr\u00eape", '
                      '"tail": "happy"}\n'.encode("latin-1"))  # fmt: skip
    with pytest.raises(DataError, match=r"seeds\.jsonl \(line 2, byte 67\): not UTF-8 text \(byte 0xea\)"):
        read_seeds(str(seeds))
    tsv = tmp_path / "seeds.tsv"
    tsv.write_bytes("PersonX wins\txReact\tproud\nPersonX eats cr\u00eape\txReact\thappy\n".encode("cp1252"))
    with pytest.raises(DataError, match=r"seeds\.tsv \(line 2, byte 41\): not UTF-8 text"):
        read_seeds(str(tsv))
    # A resumed output that is no longer UTF-8 is reported, and its partial last line is not cut.
    out = tmp_path / "ecdd.jsonl"
    _run(_config(seeds=str(_seed_file(tmp_path / "good.jsonl", SEEDS[:2]))), out)
    with out.open("ab") as fh:
        fh.write(b'{"doc_id": "caf\xe9"}\n{"doc_id": "ecdd-half')
    written = out.read_bytes()
    with pytest.raises(DataError, match=r"ecdd\.jsonl \(line 3, byte \d+\): not UTF-8 text"):
        _run(_config(seeds=str(tmp_path / "good.jsonl")), out, resume=True)
    assert out.read_bytes() == written


def test_backend_failures_are_retried_on_resume(tmp_path: Path) -> None:
    class Failing(ScriptedBackend):
        async def complete(self, messages, options):  # type: ignore[no-untyped-def]
            if "In the scene" in messages[-1]["content"]:
                raise BackendError("server down")
            return await super().complete(messages, options)

    seeds = _seed_file(tmp_path / "seeds.jsonl", SEEDS[:3])
    out = tmp_path / "ecdd.jsonl"
    summary = asyncio.run(run_ecdd(_config(seeds=str(seeds)), Failing(), out))
    assert summary.failed == {"server down": 3} and not out.read_text()
    assert _run(_config(seeds=str(seeds)), out, resume=True).kept == 3  # type: ignore[attr-defined]


def test_kill_9_then_resume_loses_and_repeats_nothing(tmp_path: Path) -> None:
    seeds = _seed_file(
        tmp_path / "seeds.jsonl",
        [{"head": f"PersonX wins race number {i}", "tail": "proud"} for i in range(40)],
    )
    out = tmp_path / "ecdd.jsonl"
    with serving(scripted_app(delay_s=0.05)) as url:
        command = [sys.executable, "-c", "from emocause.cli import main; main()", "ecdd", "run", "-o", str(out),
                   "--seeds", str(seeds), "--base-url", url, "--model", "scripted", "--concurrency", "4",
                   "--set", "semantic_check=false", "--set", "dialogue_mode=whole"]  # fmt: skip
        process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        deadline = time.monotonic() + 120
        while not (out.exists() and len(out.read_text().splitlines()) >= 5):
            assert process.poll() is None, process.stderr.read().decode()  # type: ignore[union-attr]
            assert time.monotonic() < deadline, "no records written"
            time.sleep(0.05)
        os.kill(process.pid, signal.SIGKILL)
        process.wait()
        written = len(out.read_text().splitlines())
        assert written < 40
        resumed = subprocess.run(
            [*command, "--resume"], check=False, capture_output=True, text=True, timeout=300
        )
        assert resumed.returncode == 0, resumed.stderr
    ids = [json.loads(line)["doc_id"] for line in out.read_text().splitlines()]
    assert len(ids) == len(set(ids)) == 40
    summary = json.loads(sidecar(out, "summary.json").read_text())
    assert summary["already_done"] >= written - 1 and summary["kept"] == 40 - summary["already_done"]


# --- backends over HTTP ------------------------------------------------------------------------------------


def test_openai_backend_against_the_projects_lm_server(tiny_models: dict[str, Path]) -> None:
    from emocause.service.lm_app import create_lm_app

    local = LocalChatBackend(str(tiny_models["llama"]), max_batch=8, batch_wait_ms=50)
    batches: list[int] = []
    generate = local._generate
    local._generate = lambda prompts, options: (batches.append(len(prompts)), generate(prompts, options))[1]  # type: ignore[method-assign]

    async def ask(url: str) -> list[object]:
        backend = OpenAIChatBackend(url, "tiny", concurrency=8, retries=0)
        try:
            options = GenerationOptions(max_tokens=5, temperature=0.0)
            answers = await asyncio.gather(*(backend.complete([{"role": "user", "content": f"Hello {i}"}], options)
                                             for i in range(6)))  # fmt: skip
            with pytest.raises(BackendError, match="HTTP 400"):
                await backend.complete([{"role": "user", "content": "x"}], GenerationOptions(max_tokens=5000))
            return list(answers)
        finally:
            await backend.aclose()

    with serving(create_lm_app(local)) as url:
        answers = asyncio.run(ask(url))
    assert all(a.prompt_tokens > 3 and 0 < a.completion_tokens <= 5 for a in answers)  # type: ignore[attr-defined]
    assert max(batches) > 1  # concurrent clients shared generation passes


def test_openai_backend_reports_an_unreachable_server() -> None:
    async def ask() -> None:
        backend = OpenAIChatBackend("http://127.0.0.1:9/v1", "m", retries=1, timeout_s=2)
        try:
            await backend.complete([{"role": "user", "content": "hi"}], GenerationOptions())
        finally:
            await backend.aclose()

    with pytest.raises(BackendError, match="127.0.0.1:9"):
        asyncio.run(ask())


# --- a generated file trains CAER --------------------------------------------------------------------------


def test_generated_file_trains_caer(tiny_models: dict[str, Path], tmp_path: Path) -> None:
    from emocause.training.generation import ResponderRecipe, train_responder

    seeds = _seed_file(
        tmp_path / "seeds.jsonl",
        [{"head": f"PersonX wins race number {i}", "tail": "proud"} for i in range(30)],
    )
    out = tmp_path / "ecdd.jsonl"
    _run(_config(seeds=str(seeds)), out)
    recipe = load_config(ResponderRecipe, None, {
        "dataset": str(out), "model.lm.name": str(tiny_models["llama"]), "model.lm.lora_layers": 0,
        "train.max_train_examples": 8, "train.max_valid_examples": 4, "train.batch_size": 4, "train.epochs": 1,
    })  # fmt: skip
    result = train_responder(recipe, tmp_path / "run")
    assert result.steps == 2 and (result.best_folder / "weights.safetensors").is_file()


def test_report_of_a_run_that_kept_nothing(tmp_path: Path) -> None:
    from emocause.pipeline.ecdd.report import file_statistics, statistics_rows

    empty = tmp_path / "run" / "ecdd.jsonl"
    empty.parent.mkdir()
    empty.write_text("")
    stats = file_statistics(empty)
    assert stats.dialogues == 0 and stats.mtld is None
    assert statistics_rows(stats, "run/ecdd.jsonl", "all", "m", 0.0) == []
