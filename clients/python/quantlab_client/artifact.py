"""Reads a run's compact weights from quantlab's ``.npz`` export, with NumPy alone (this module imports nothing else
and can be copied on its own).

Get the file with ``quantlab export-model RUN --format npz --out run.npz`` or
``GET /experiments/RUN/export?format=npz``. docs/EXPORT.md describes it: per layer ``NAME/codes`` with
``NAME/steps`` (fixed point) or ``NAME/scales`` and ``dictionaries/D`` (dictionary), or ``NAME/values`` (float32),
and ``metadata.json``.

    from quantlab_client.artifact import read_npz
    art = read_npz("run.npz")
    art.weights["conv1/kernel"]          # float32, shape [kh, kw, cin, cout]
    art.layers["conv1/kernel"].codes     # the stored integers
    art.metadata["representation"]       # e.g. {"kind": "fixed", "bits": 8, ...}

Decoding is the artifact's (docs/ARTIFACT.md): value i = codes[i] * steps[i mod S] for fixed point,
codebook[codes[i]] * scales[i mod S] for a dictionary, computed in float64 and rounded to float32, where S is 1 or
the last dimension (one step or scale per output channel). The result equals quantlab's own decoder bit for bit.
"""
from __future__ import annotations

import json
import zipfile
from dataclasses import dataclass, field
from typing import Dict, List, Optional

import numpy as np

NPZ_FORMAT = "quantlab-npz/1"


@dataclass
class Layer:
    name: str
    encoding: str  # "float32", "fixed" or "dictionary"
    bits: int
    shape: List[int]
    codes: Optional[np.ndarray] = None  # signed ints (fixed point) or codebook indices (dictionary)
    steps: Optional[np.ndarray] = None  # fixed point: float64, one or one per output channel
    scales: Optional[np.ndarray] = None  # dictionary: float64, one or one per output channel
    dictionary: Optional[int] = None  # dictionary: index into Artifact.dictionaries
    values: Optional[np.ndarray] = None  # float32 layers: the values as stored


@dataclass
class Artifact:
    metadata: dict
    dictionaries: List[np.ndarray]
    layers: Dict[str, Layer]
    weights: Dict[str, np.ndarray] = field(default_factory=dict)  # every layer decoded to float32, in stored order


def decode(layer: Layer, dictionaries: List[np.ndarray]) -> np.ndarray:
    """One layer's float32 weights, shaped like the layer."""
    if layer.encoding == "float32":
        return layer.values.astype(np.float32, copy=False)
    if layer.encoding == "fixed":
        base, factors = layer.codes.astype(np.float64), layer.steps
    elif layer.encoding == "dictionary":
        base, factors = dictionaries[layer.dictionary].astype(np.float64)[layer.codes], layer.scales
    else:
        raise ValueError(f"layer {layer.name}: unknown encoding {layer.encoding!r}")
    # One factor, or one per entry of the last axis: NumPy's broadcasting is exactly "factor i mod S".
    return (base * (factors if base.ndim else factors[0])).astype(np.float32)


def read_npz(path) -> Artifact:
    """Reads a quantlab ``.npz`` export (a path or a file object) and decodes every layer."""
    with zipfile.ZipFile(path) as z:
        metadata = json.loads(z.read("metadata.json").decode("utf-8"))
    if metadata.get("format") != NPZ_FORMAT:
        raise ValueError(f"not a {NPZ_FORMAT} file (format {metadata.get('format')!r})")
    with np.load(path, allow_pickle=False) as npz:
        dictionaries = [npz[f"dictionaries/{d}"] for d in range(metadata["dictionaries"])]
        layers: Dict[str, Layer] = {}
        for spec in metadata["layers"]:
            name = spec["name"]
            layer = Layer(name=name, encoding=spec["encoding"], bits=spec["bits"], shape=spec["shape"], dictionary=spec["dictionary"])
            if layer.encoding == "float32":
                layer.values = npz[f"{name}/values"]
            else:
                layer.codes = npz[f"{name}/codes"]
                setattr(layer, "steps" if layer.encoding == "fixed" else "scales", npz[f"{name}/{'steps' if layer.encoding == 'fixed' else 'scales'}"])
            layers[name] = layer
    art = Artifact(metadata=metadata, dictionaries=dictionaries, layers=layers)
    for name, layer in layers.items():
        w = decode(layer, dictionaries)
        if list(w.shape) != list(layer.shape):
            raise ValueError(f"layer {name}: decoded shape {list(w.shape)} is not {layer.shape}")
        art.weights[name] = w
    return art
