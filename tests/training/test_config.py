import re
from pathlib import Path

import pytest

from qaflow.errors import ConfigurationError, NotFoundError
from qaflow.training import load_training_config, load_with_overrides

REPO = Path(__file__).resolve().parents[2]


@pytest.mark.parametrize("name", ["minilm-l6-squad.toml", "minilm-l6-squad-cpu.toml"])
def test_shipped_configs_are_valid(name: str) -> None:
    config = load_training_config(REPO / "training" / name)
    assert config.model.base == "bundled-minilm"
    assert "squad_v1.1_train.jsonl.gz" in config.data.train_files


def test_overrides_replace_values(tmp_path: Path) -> None:
    path = tmp_path / "c.toml"
    path.write_text('[optimization]\nepochs = 2\n[run]\noutput_dir = "a"\n', encoding="utf-8")
    config = load_with_overrides(path, base="/m/v1", output_dir=tmp_path / "b", max_steps=7)
    assert config.model.base == "/m/v1"
    assert config.optimization.epochs == 2
    assert config.optimization.max_steps == 7
    assert config.run.output_dir == tmp_path / "b"


def test_assignments_override_any_setting(tmp_path: Path) -> None:
    path = tmp_path / "c.toml"
    path.write_text("[optimization]\nlearning_rate = 5e-5\n", encoding="utf-8")
    config = load_with_overrides(
        path,
        max_steps=7,
        assignments=[
            "optimization.learning_rate=1e-4",
            "optimization.epochs = 3",
            "optimization.precision=bf16",
            'model.name="qa v3"',
            "run.output_dir=/tmp/run-b",
        ],
    )
    opt = config.optimization
    assert (opt.learning_rate, opt.epochs, opt.precision, opt.max_steps) == (1e-4, 3, "bf16", 7)
    assert config.model.name == "qa v3"
    assert config.run.output_dir == Path("/tmp/run-b")


@pytest.mark.parametrize(
    ("assignment", "message"),
    [
        ("optimization.learning_rate", "SECTION.KEY=VALUE"),
        ("epochs=3", "SECTION.KEY=VALUE"),
        ("optimization.epoch=3", "unknown training setting 'optimization.epoch'"),
        ("optimization.batch_size=-1", "batch_size"),
    ],
)
def test_bad_assignments_say_what_is_wrong(tmp_path: Path, assignment: str, message: str) -> None:
    path = tmp_path / "c.toml"
    path.write_text("", encoding="utf-8")
    with pytest.raises(ConfigurationError, match=message):
        load_with_overrides(path, assignments=[assignment])


def test_fingerprint_ignores_where_output_goes(tmp_path: Path) -> None:
    path = tmp_path / "c.toml"
    path.write_text("", encoding="utf-8")
    a = load_with_overrides(path, output_dir=tmp_path / "x")
    b = load_with_overrides(path, output_dir=tmp_path / "y")
    c = load_with_overrides(path, max_steps=3)
    assert a.fingerprint() == b.fingerprint() != c.fingerprint()


def test_batch_order_seed_defaults_to_the_split_seed(tmp_path: Path) -> None:
    path = tmp_path / "c.toml"
    path.write_text("[optimization]\nseed = 5\n", encoding="utf-8")
    assert load_training_config(path).optimization.batch_order_seed == 5
    path.write_text("[optimization]\nseed = 5\norder_seed = 9\n", encoding="utf-8")
    continued = load_training_config(path).optimization
    assert (continued.seed, continued.batch_order_seed) == (5, 9)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("[optimization]\nlearnin_rate = 1e-4\n", "learnin_rate"),
        ("[optimization]\nbatch_size = 0\n", "batch_size"),
        ("[preprocessing]\nmax_seq_len = 64\ndoc_stride = 48\n", "room for context"),
        ("not toml [", "TOML"),
    ],
)
def test_bad_configs_say_what_is_wrong(tmp_path: Path, text: str, message: str) -> None:
    path = tmp_path / "c.toml"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(ConfigurationError, match=message):
        load_training_config(path)


def test_missing_config(tmp_path: Path) -> None:
    with pytest.raises(NotFoundError):
        load_training_config(tmp_path / "absent.toml")


def test_the_gpu_sweeps_variants_are_valid_settings() -> None:
    """Every variant line of training/device/sweep.sh applies to the config it runs."""
    script = (REPO / "training" / "device" / "sweep.sh").read_text(encoding="utf-8")
    variants = re.findall(r'^\s+"([a-z])\|([^"]*)"$', script, flags=re.MULTILINE)
    assert [name for name, _ in variants] == ["a", "b", "c", "d", "e"]
    seen = set()
    files = set()
    for _, words in variants:
        # The script expands the settings unquoted: words split on blanks, quotes kept as text.
        assignments = words.split()[1::2]  # the values after each --set
        config = load_with_overrides(
            REPO / "training" / "minilm-l6-squad-gpu-continue.toml", assignments=assignments
        )
        opt = config.optimization
        seen.add((opt.learning_rate, opt.epochs, opt.batch_size))
        assert config.preprocessing.max_seq_len == 384
        assert opt.precision == "auto"
        files.add(tuple(config.data.train_files))
    assert len(seen) == 5
    assert files == {
        ("squad_v1.1_train.jsonl.gz",),
        ("squad_v1.1_train.jsonl.gz", "squadshifts.jsonl.gz", "tydiqa_goldp_en.jsonl.gz"),
    }


def test_the_gpu_sweeps_students_are_valid_settings() -> None:
    """DISTILL_SET's default and the teacher settings sweep.sh adds apply to the config."""
    script = (REPO / "training" / "device" / "sweep.sh").read_text(encoding="utf-8")
    default = re.search(r"^distill_set=\$\{DISTILL_SET-([^}]*)\}$", script, flags=re.MULTILINE)
    assert default is not None
    teachers = "['/tmp/qaflow-sweep/a/model','src/qaflow/bundled/minilm-l6-squad']"
    assignments = [
        *default.group(1).split()[1::2],
        f"distillation.teachers={teachers}",
        "distillation.weight=0.9",
        "optimization.time_budget_minutes=2",
    ]
    config = load_with_overrides(
        REPO / "training" / "minilm-l6-squad-gpu-continue.toml", assignments=assignments
    )
    assert config.optimization.learning_rate == 1e-4
    assert config.distillation.teachers == [
        "/tmp/qaflow-sweep/a/model",
        "src/qaflow/bundled/minilm-l6-squad",
    ]
    assert config.distillation.weight == 0.9
