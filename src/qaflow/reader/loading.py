"""Loading the tokenizer and backend of a :class:`ModelSpec`; errors wrapped at the boundary."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from qaflow.errors import ConfigurationError, ModelLoadError, QaflowError
from qaflow.reader._hf import hf_loading
from qaflow.reader.backends import QABackend, check_backend, create_backend
from qaflow.reader.bundled import resolve_ref
from qaflow.reader.onnx_cache import OnnxModel, ensure_onnx_model
from qaflow.reader.types import ModelSpec, ReaderOptions


def load_tokenizer(spec: ModelSpec) -> Any:
    """The fast tokenizer named by ``spec.tokenizer``; raises :class:`ModelLoadError`."""
    tokenizer = _from_pretrained("AutoTokenizer", spec, spec.tokenizer, "tokenizer")
    if not getattr(tokenizer, "is_fast", False):
        raise _load_error(spec, spec.tokenizer, "a fast (Rust) tokenizer is required for offsets")
    return tokenizer


def load_backend(
    spec: ModelSpec,
    *,
    threads: int | None,
    onnx_cache_dir: Path | None = None,
    device: str = "cpu",
) -> QABackend:
    """The model named by ``spec.model`` on ``spec.backend``; raises :class:`ModelLoadError`."""
    ref = resolve_ref(spec.model)
    _require_existing_directory(spec, ref)
    try:
        return create_backend(
            spec.backend, ref, threads=threads, onnx_cache_dir=onnx_cache_dir, device=device
        )
    except QaflowError:
        raise
    except Exception as exc:
        raise _load_error(spec, spec.model, _reason(exc)) from exc


def build_onnx_model(spec: ModelSpec, *, int8: bool, cache_dir: Path) -> OnnxModel:
    """Export ``spec.model`` to ONNX into ``cache_dir`` now (the ONNX backends reuse it)."""
    check_backend("onnx-int8" if int8 else "onnx")
    ref = resolve_ref(spec.model)
    _require_existing_directory(spec, ref)
    try:
        return ensure_onnx_model(ref, "int8" if int8 else "fp32", cache_dir)
    except QaflowError:
        raise
    except Exception as exc:
        raise _load_error(spec, spec.model, f"ONNX export: {_reason(exc)}") from exc


def check_options_for(spec: ModelSpec, options: ReaderOptions) -> None:
    """:func:`check_options_fit` without loading the weights: the tokenizer and the config.

    Raises :class:`ConfigurationError` for options the model cannot honour and
    :class:`ModelLoadError` when its tokenizer or config cannot be read.
    """
    tokenizer = load_tokenizer(spec)
    config = _from_pretrained("AutoConfig", spec, spec.model, "config")
    positions = getattr(config, "max_position_embeddings", None)
    check_options_fit(spec, options, tokenizer, positions if isinstance(positions, int) else None)


def check_options_fit(
    spec: ModelSpec, options: ReaderOptions, tokenizer: Any, max_sequence_length: int | None
) -> None:
    """Reject options the model cannot honour, before the first question fails on them."""
    limits = [tokenizer.model_max_length, max_sequence_length]
    longest = min(limit for limit in limits if isinstance(limit, int) and limit > 0)
    if options.max_seq_len > longest:
        raise ConfigurationError(
            f"max_seq_len {options.max_seq_len} exceeds the {longest} tokens "
            f"model '{spec.name}' accepts"
        )
    specials = tokenizer.num_special_tokens_to_add(pair=True)
    room = options.max_seq_len - options.max_question_len - specials
    if options.doc_stride >= room:
        raise ConfigurationError(
            f"doc_stride {options.doc_stride} must be below the {room} context tokens a window "
            f"of model '{spec.name}' holds (max_seq_len - max_question_len - {specials} specials)"
        )


def _from_pretrained(auto_class: str, spec: ModelSpec, ref: str, what: str) -> Any:
    """``transformers.<auto_class>.from_pretrained`` of the reference, its errors as
    :class:`ModelLoadError`. Imported under the lock: the lazy import is not thread-safe."""
    resolved = resolve_ref(ref)
    _require_existing_directory(spec, resolved)
    try:
        with hf_loading():
            import transformers

            return getattr(transformers, auto_class).from_pretrained(resolved)
    except Exception as exc:
        raise _load_error(spec, ref, f"{what}: {_reason(exc)}") from exc


# A model directory has its config; a tokenizer-only directory has a tokenizer file instead.
_MODEL_MARKERS = ("config.json", "tokenizer_config.json", "tokenizer.json")


def _require_existing_directory(spec: ModelSpec, ref: str) -> None:
    path = Path(ref).expanduser()
    looks_like_path = path.is_absolute() or ref.startswith((".", "~")) or path.exists()
    if looks_like_path and not path.is_dir():
        raise _load_error(spec, ref, f"directory {str(path)!r} does not exist")
    if path.is_dir() and not any((path / name).is_file() for name in _MODEL_MARKERS):
        # transformers' own message for this case talks about sentencepiece and tiktoken.
        raise _load_error(
            spec,
            ref,
            f"directory {str(path)!r} is not a Hugging Face model: it has no config.json",
        )


def _load_error(spec: ModelSpec, ref: str, reason: str) -> ModelLoadError:
    return ModelLoadError(f"Could not load model '{spec.name}' (ref {ref}): {reason}")


def _reason(exc: BaseException) -> str:
    text = " ".join(str(exc).split()) or type(exc).__name__
    if _hub_offline():
        text += " (the Hugging Face hub is offline: HF_HUB_OFFLINE is set)"
    return text


def _hub_offline() -> bool:
    from huggingface_hub import constants

    return bool(constants.is_offline_mode())
