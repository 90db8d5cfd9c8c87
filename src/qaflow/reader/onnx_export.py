"""Exporting a Hugging Face QA model to ONNX: trace, fuse, check against PyTorch, quantize.

The TorchScript exporter (``dynamo=False``) is used on purpose: with torch 2.13 and transformers 5
it traces a correct graph with dynamic batch and sequence axes in seconds, needs no ``onnxscript``,
and its graph of eager attention is what ONNX Runtime's BERT fusions recognise (fused Attention,
EmbedLayerNormalization, SkipLayerNormalization, BiasGelu). The torch.export-based exporter also
gives a correct graph, but takes ~15x longer and its graph runs slower.
"""

from __future__ import annotations

import inspect
import logging
import os
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import numpy as np

from qaflow.errors import ModelLoadError
from qaflow.reader._hf import hf_loading
from qaflow.reader.backends.base import IdArray

OnnxPrecision = Literal["fp32", "int8"]

OPSET = 17
INPUT_NAMES = ("input_ids", "attention_mask", "token_type_ids")
OUTPUT_NAMES = ("start_logits", "end_logits")
# The fp32 graph must reproduce PyTorch's logits this closely, or it is not used.
PARITY_TOLERANCE = 1e-3


@dataclass(frozen=True, slots=True)
class ExportReport:
    """What an fp32 export produced: the graph's inputs and how close it is to PyTorch."""

    input_names: tuple[str, ...]
    fused: bool
    max_abs_error: float
    max_position_embeddings: int | None


def export_fp32(model_dir: Path, target: Path) -> ExportReport:
    """Write ``target`` (fp32 ONNX, fused where ONNX Runtime can) and prove it matches PyTorch."""
    import torch

    model = _load_eager_model(model_dir)
    uses_types = "token_type_ids" in inspect.signature(model.forward).parameters
    input_names = INPUT_NAMES if uses_types else INPUT_NAMES[:2]
    traced = target.with_name(f".traced-{target.name}")
    _trace(_logits_module(model, input_names), input_names, traced)
    probe = _probe_inputs(uses_types)
    with torch.inference_mode():
        expected = model(**{name: torch.from_numpy(array) for name, array in probe.items()})
    reference = (expected.start_logits.numpy(), expected.end_logits.numpy())
    fused = target.with_name(f".fused-{target.name}")
    candidates = [fused, traced] if _fuse(traced, fused, model.config) else [traced]
    errors: list[float] = []
    for candidate in candidates:
        error = _max_abs_error(candidate, probe, reference)
        errors.append(error)
        if error <= PARITY_TOLERANCE:
            os.replace(candidate, target)
            _remove(traced, fused)
            positions = getattr(model.config, "max_position_embeddings", None)
            return ExportReport(
                input_names=input_names,
                fused=candidate == fused,
                max_abs_error=error,
                max_position_embeddings=positions if isinstance(positions, int) else None,
            )
    _remove(traced, fused)
    raise ModelLoadError(
        f"the ONNX export of {model_dir} does not reproduce PyTorch's logits "
        f"(max abs error {max(errors):.2e} > {PARITY_TOLERANCE:.0e})"
    )


def quantize_int8(source: Path, target: Path) -> None:
    """Dynamic int8 quantization of the weights of MatMul and fused Attention (per channel)."""
    import onnx
    from onnxruntime.quantization import QuantType, quantize_dynamic

    partial = target.with_name(f".partial-{target.name}")
    with _quiet():
        quantize_dynamic(
            source,
            partial,
            weight_type=QuantType.QInt8,
            per_channel=True,
            op_types_to_quantize=["MatMul", "Attention"],
            # Shape inference stops at the fused com.microsoft ops; their outputs are float.
            extra_options={"DefaultTensorType": onnx.TensorProto.FLOAT},
        )
    os.replace(partial, target)


def _load_eager_model(model_dir: Path) -> Any:
    import torch

    with hf_loading():
        from transformers import AutoModelForQuestionAnswering

        # Eager attention: the SDPA graph runs no faster in ONNX Runtime and defeats its fusions.
        model = AutoModelForQuestionAnswering.from_pretrained(
            model_dir, dtype=torch.float32, attn_implementation="eager"
        )
    return model.eval()


def _logits_module(model: Any, input_names: tuple[str, ...]) -> Any:
    """The model with positional inputs and a (start, end) tuple out, as tracing needs."""
    import torch

    class LogitsOnly(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.model = model

        def forward(self, *inputs: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
            output = self.model(**dict(zip(input_names, inputs, strict=True)))
            return output.start_logits, output.end_logits

    return LogitsOnly().eval()


def _trace(module: Any, input_names: tuple[str, ...], target: Path) -> None:
    import torch

    sample = _probe_inputs("token_type_ids" in input_names, batch=2, length=16)
    args = tuple(torch.from_numpy(sample[name]) for name in input_names)
    axes = {name: {0: "batch", 1: "sequence"} for name in (*input_names, *OUTPUT_NAMES)}
    with _quiet(), torch.no_grad():
        torch.onnx.export(
            module,
            args,
            str(target),
            input_names=list(input_names),
            output_names=list(OUTPUT_NAMES),
            dynamic_axes=axes,
            opset_version=OPSET,
            do_constant_folding=True,
            dynamo=False,
        )


def _probe_inputs(uses_types: bool, *, batch: int = 3, length: int = 37) -> dict[str, IdArray]:
    """A right-padded batch of unequal lengths, like the reader's, with question/context types."""
    rng = np.random.default_rng(0)
    input_ids = rng.integers(1000, 2000, size=(batch, length), dtype=np.int64)
    attention_mask = np.zeros((batch, length), dtype=np.int64)
    token_type_ids = np.zeros((batch, length), dtype=np.int64)
    for row in range(batch):
        # Padding present in every probe, so nothing traced assumes a full mask.
        used = max(2, length - row * (length // (batch + 1)) - 1)
        attention_mask[row, :used] = 1
        token_type_ids[row, used // 3 : used] = 1
        input_ids[row, used:] = 0
    inputs = {"input_ids": input_ids, "attention_mask": attention_mask}
    if uses_types:
        inputs["token_type_ids"] = token_type_ids
    return inputs


def _fuse(source: Path, target: Path, config: Any) -> bool:
    """ONNX Runtime's transformer fusions; False (graph left unfused) when they do not apply."""
    try:
        from onnxruntime.transformers.optimizer import optimize_model

        with _quiet():
            optimized = optimize_model(
                str(source),
                model_type="bert",
                num_heads=_config_int(config, "num_attention_heads", "n_heads"),
                hidden_size=_config_int(config, "hidden_size", "dim"),
                opt_level=0,
            )
            optimized.save_model_to_file(str(target))
    except Exception:
        # Fusion is an optimisation: an architecture it does not know still runs unfused.
        return False
    return True


def _max_abs_error(
    path: Path, probe: dict[str, IdArray], reference: tuple[np.ndarray, np.ndarray]
) -> float:
    import onnxruntime as ort

    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    start, end = session.run(list(OUTPUT_NAMES), probe)
    valid = probe["attention_mask"].astype(bool)
    return float(
        max(
            np.abs(start - reference[0])[valid].max(),
            np.abs(end - reference[1])[valid].max(),
        )
    )


def _config_int(config: Any, *names: str) -> int:
    for name in names:
        value = getattr(config, name, None)
        if isinstance(value, int):
            return value
    return 0  # ONNX Runtime then reads it from the graph


def _remove(*paths: Path) -> None:
    for path in paths:
        path.unlink(missing_ok=True)


@contextmanager
def _quiet() -> Iterator[None]:
    """Silences the exporter's and quantizer's warnings and log lines for a block."""
    previous = logging.root.manager.disable
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        logging.disable(logging.WARNING)
        try:
            yield
        finally:
            logging.disable(previous)
