"""The model-family registry: one adapter class per family, declaring everything about it.

A *family* is a :class:`~tubescope.engine.backends.adapter.TransformersBackend` subclass that
declares, in its own class body:

* ``family``: its name (``load_backend(..., family=...)``, ``preset(..., family)``, the CLI);
* ``model_types``: the ``config.json`` ``model_type`` values it loads (detection);
* ``model_class_name``: the transformers model class that loads those checkpoints;
* ``paper``: its :class:`PaperSettings` (the official code's frames, resolution, grounding
  token and backend options, with per-dataset overrides), or ``None`` when the paper did not
  run it;
* ``tiny``: its :class:`TinyRecipe` (special tokens, chat template and the JSON files of a
  tiny random checkpoint for :func:`tubescope.testing.save_tiny_model`), or ``None``.

Defining such a class registers it (``TransformersBackend.__init_subclass__`` calls
:func:`register`), the way trackers' ``BaseTracker`` registers its trackers. Nothing lists the
families by hand: like transformers' lazy auto mappings, the registry imports the modules of
``tubescope.engine.backends`` the first time it is asked about families, so adding a family is
adding one module to that package. Importing this module imports neither torch nor
transformers; asking it about families does (the adapter modules need torch). A family
defined outside tubescope registers when its module is imported.

Everything that needs to know the families reads this registry: :func:`load_backend` and
:func:`detect_family` (:mod:`.loading`), the lazy class names of
:mod:`tubescope.engine.backends`, :func:`tubescope.engine.config.preset`,
:func:`tubescope.testing.save_tiny_model` and ``TINY_FAMILIES``, and ``tubescope demo
--family``.

Example:
    >>> from tubescope.engine.backends.families import adapter_for, family_names, paper_settings
    >>> "qwen2-vl" in family_names()
    True
    >>> adapter_for("llava_onevision").family
    'llava-onevision'
    >>> paper_settings("qwen2-vl").config_fields("vidstg")["num_frames"]
    10
"""

from __future__ import annotations

import copy
import importlib
import os
import pkgutil
import sys
import threading
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, fields
from types import MappingProxyType
from typing import Any

from tubescope.errors import ModelUnavailableError, TubescopeError, ValidationError

__all__ = [
    "BackendOptionError",
    "FamilyError",
    "PaperSettings",
    "TinyRecipe",
    "TinySpec",
    "register",
    "adapter_classes",
    "adapter_class",
    "adapter_for",
    "family_names",
    "paper_settings",
    "tiny_families",
    "tiny_recipe",
]

#: the package whose modules hold tubescope's own families.
PACKAGE = "tubescope.engine.backends"


class FamilyError(TubescopeError, ValueError):
    """A model family is unknown, or a family class declares itself inconsistently."""


class BackendOptionError(TubescopeError, TypeError):
    """An adapter was given an option it does not have (``--set backend_options`` / keyword).

    A ``TypeError`` too, as for any unexpected keyword argument.
    """


def _frozen(mapping: Mapping[str, Any]) -> Mapping[str, Any]:
    return MappingProxyType(copy.deepcopy(dict(mapping)))


@dataclass(frozen=True)
class PaperSettings:
    """What the official code runs for one backbone, on top of the family-independent ``paper``
    preset (see :func:`tubescope.engine.config.preset`).

    Attributes:
        num_frames: sampled frames.
        resolution: square frame size in pixels.
        token_offset: prompt position of the fixed grounding token, from the end.
        backend_options: adapter options that reproduce the official visual token grid.
        datasets: per dataset name, :class:`~tubescope.engine.config.GrounderConfig` fields that
            the official script of that dataset sets differently.

    Example:
        >>> s = PaperSettings(20, 224, -3, datasets={"vidstg": {"num_frames": 10}})
        >>> s.config_fields("vidstg")["num_frames"], s.config_fields("hcstvg-v2")["num_frames"]
        (10, 20)
    """

    num_frames: int
    resolution: int | None
    token_offset: int
    backend_options: Mapping[str, Any] = field(default_factory=dict)
    datasets: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)

    def __post_init__(self) -> None:
        from tubescope.engine.config import GrounderConfig

        known = {f.name for f in fields(GrounderConfig)}
        for dataset, overrides in self.datasets.items():
            unknown = sorted(set(overrides) - known)
            if unknown:
                raise FamilyError(
                    f"PaperSettings.datasets[{dataset!r}]: {', '.join(unknown)} "
                    "is not a GrounderConfig field"
                )
        object.__setattr__(self, "backend_options", _frozen(self.backend_options))
        object.__setattr__(
            self,
            "datasets",
            MappingProxyType({name: _frozen(values) for name, values in self.datasets.items()}),
        )

    def config_fields(self, dataset: str | None = None) -> dict[str, Any]:
        """The ``GrounderConfig`` fields of this backbone on ``dataset`` (fresh copies)."""
        values: dict[str, Any] = {
            "num_frames": self.num_frames,
            "resolution": self.resolution,
            "token_offset": self.token_offset,
            "backend_options": copy.deepcopy(dict(self.backend_options)),
        }
        values.update(copy.deepcopy(dict(self.datasets.get(dataset or "", {}))))
        return values


@dataclass(frozen=True)
class TinySpec:
    """What a :class:`TinyRecipe` builds a checkpoint from: the tiny tokenizer and the sizes
    requested from :func:`tubescope.testing.save_tiny_model`.

    Attributes:
        tokenizer: the family's tiny tokenizer (its special tokens already added), or the real
            checkpoint's tokenizer when built ``like`` real files.
        vocab_size: logits of the language model (at least ``len(tokenizer)``; the real
            config's vocabulary size when built ``like`` real files).
        hidden_size, num_layers, num_heads, num_kv_heads: the language model's size.
        real: the :class:`~tubescope.engine.backends.realfiles.RealFiles` the checkpoint is
            built like, or None for a fully synthetic one.
    """

    tokenizer: Any
    vocab_size: int
    hidden_size: int
    num_layers: int
    num_heads: int
    num_kv_heads: int
    real: Any = None

    def __post_init__(self) -> None:
        head_dim = self.hidden_size // self.num_heads
        if head_dim * self.num_heads != self.hidden_size or head_dim % 2:
            raise ValidationError(
                f"{self.hidden_size} must split into {self.num_heads} heads of an even size",
                field="hidden_size",
            )

    @property
    def head_dim(self) -> int:
        return self.hidden_size // self.num_heads

    def token_ids(self, *tokens: str) -> list[int]:
        """The tokenizer ids of ``tokens`` (special tokens of the recipe)."""
        return [int(self.tokenizer.convert_tokens_to_ids(t)) for t in tokens]

    def pixel_config(
        self, mean: Sequence[float], std: Sequence[float], **resize: Any
    ) -> dict[str, Any]:
        """Preprocessor fields of a tiny checkpoint: bicubic resize (``resize``: ``size``,
        crops, ...), ``x / 255``, then ``(x - mean) / std``."""
        return {
            "do_resize": True,
            **resize,
            "resample": 3,
            "do_rescale": True,
            "rescale_factor": 1 / 255,
            "do_normalize": True,
            "image_mean": mean,
            "image_std": std,
        }

    def vision_config(self, **extra: Any) -> dict[str, Any]:
        """A ViT vision tower's config fields: 2 layers of width 32 (2 heads), 112 px frames in
        14 px patches, plus ``extra`` (its ``model_type``, ...)."""
        return {
            "hidden_size": 32,
            "intermediate_size": 64,
            "num_hidden_layers": 2,
            "num_attention_heads": 2,
            "image_size": 112,
            "patch_size": 14,
            **extra,
        }

    def text_config(self, **extra: Any) -> dict[str, Any]:
        """The language model's config fields at the requested size, plus ``extra``."""
        return {
            "vocab_size": self.vocab_size,
            "hidden_size": self.hidden_size,
            "intermediate_size": self.hidden_size * 2,
            "num_hidden_layers": self.num_layers,
            "num_attention_heads": self.num_heads,
            "num_key_value_heads": self.num_kv_heads,
            "max_position_embeddings": 4096,
            "tie_word_embeddings": False,
            **extra,
        }


@dataclass(frozen=True)
class TinyRecipe:
    """How :func:`tubescope.testing.save_tiny_model` writes a tiny random checkpoint of a family.

    Attributes:
        specials: the tokenizer's special tokens, added after the tiny byte-level vocabulary in
            this order (the placeholder, the template's markers, ...).
        named_tokens: tokenizer roles (``eos_token``, ``pad_token``, ``bos_token``,
            ``unk_token``) -> one of ``specials``.
        chat_template: the Jinja chat template saved with the tokenizer.
        files: ``TinySpec -> {file name: JSON object}``, the checkpoint's configuration files as
            a real checkpoint has them: ``"config.json"`` holds the model config's fields
            (given to the model class's config class), every other entry (``
            "preprocessor_config.json"``, ...) is written as it is.
        like: ``TinySpec -> {file name: JSON object}`` like ``files``, for a checkpoint built
            like real files (``save_tiny_model(..., like=PATH)``, ``TinySpec.real``): the real
            config shrunk to small widths and depths with its token ids, vision geometry and
            rotary sections kept, and the real preprocessor configs. None: the family cannot
            be built like real files.
        documented: ``{file name: JSON object}``, what the family's published checkpoint has
            where the given real folders lack a file (values from its model card or its
            transformers conversion), e.g. the added tokens of a tokenizer given only as
            ``tokenizer.model``.

    Example:
        >>> from tubescope.engine.backends.families import tiny_recipe
        >>> recipe = tiny_recipe("llava-next-video")
        >>> recipe.named_tokens["bos_token"], "<video>" in recipe.specials
        ('<s>', True)
    """

    specials: tuple[str, ...]
    named_tokens: Mapping[str, str]
    chat_template: str
    files: Callable[[TinySpec], Mapping[str, Mapping[str, Any]]]
    like: Callable[[TinySpec], Mapping[str, Mapping[str, Any]]] | None = None
    documented: Mapping[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        object.__setattr__(self, "specials", tuple(self.specials))
        object.__setattr__(self, "named_tokens", MappingProxyType(dict(self.named_tokens)))
        object.__setattr__(self, "documented", _frozen(self.documented))
        stray = sorted(set(self.named_tokens.values()) - set(self.specials))
        if stray:
            raise FamilyError(f"TinyRecipe.named_tokens: {stray} are not in specials")


# ---------------------------------------------------------------------------- the registry


class _Registry:
    """family name -> adapter class, config model_type -> family name."""

    def __init__(self) -> None:
        self.by_family: dict[str, type] = {}
        self.by_model_type: dict[str, str] = {}

    def copy(self) -> _Registry:
        other = _Registry()
        other.by_family = dict(self.by_family)
        other.by_model_type = dict(self.by_model_type)
        return other


_REGISTRY = _Registry()
_LOCK = threading.RLock()
_discovered = False
_discovering = False


def _where(cls: type) -> str:
    return f"{cls.__module__}.{cls.__qualname__}"


def _source(cls: type) -> tuple[str, str]:
    module = sys.modules.get(cls.__module__)
    path = getattr(module, "__file__", None) or cls.__module__
    return os.path.realpath(path), cls.__qualname__


def _declared(cls: type, name: str) -> Any:
    if name not in cls.__dict__:
        raise FamilyError(
            f"{_where(cls)} declares family {cls.__dict__.get('family')!r} but not its own "
            f"{name!r} (every family class declares family, model_types, model_class_name, "
            "paper and tiny in its class body; see tubescope.engine.backends.families)"
        )
    return cls.__dict__[name]


def register(cls: type) -> None:
    """Add the family class ``cls`` to the registry (its class attributes say what it handles).

    Called by ``TransformersBackend.__init_subclass__`` for every subclass that declares
    ``family``; subclasses that do not are variants of their parent and are not registered.
    The same class defined again (same file and qualified name: its module reloaded, or
    imported a second time under another name) replaces the registered one, except that a copy
    never replaces the class of a ``tubescope.engine.backends`` module.

    Raises:
        FamilyError: a declaration is missing or malformed, or the family name or one of the
            model types already belongs to another class.
    """
    family = _declared(cls, "family")
    if not isinstance(family, str) or not family or family != family.strip():
        raise FamilyError(f"{_where(cls)}: family must be a non-empty name, got {family!r}")
    model_types = _declared(cls, "model_types")
    if (
        not isinstance(model_types, tuple)
        or not model_types
        or not all(isinstance(t, str) and t for t in model_types)
    ):
        raise FamilyError(
            f"{_where(cls)}: model_types must be a non-empty tuple of config model_type names, "
            f"got {model_types!r}"
        )
    name = getattr(cls, "model_class_name", "")
    if not isinstance(name, str) or not name:
        raise FamilyError(f"{_where(cls)}: model_class_name must name a transformers model class")
    paper = _declared(cls, "paper")
    if paper is not None and not isinstance(paper, PaperSettings):
        raise FamilyError(f"{_where(cls)}: paper must be a PaperSettings or None, got {paper!r}")
    tiny = _declared(cls, "tiny")
    if tiny is not None and not isinstance(tiny, TinyRecipe):
        raise FamilyError(f"{_where(cls)}: tiny must be a TinyRecipe or None, got {tiny!r}")

    with _LOCK:
        registry = _REGISTRY
        previous = registry.by_family.get(family)
        if previous is not None and _source(previous) == _source(cls):
            # the same definition again: a reload replaces it; a copy imported under another
            # module name (pytest imports sdk/x.py as "sdk.x" for its doctests) never replaces
            # the class of the tubescope package
            if previous.__module__ != cls.__module__ and previous.__module__.startswith(
                PACKAGE + "."
            ):
                return
            _drop(registry, family)
            previous = None
        if previous is not None:
            raise FamilyError(
                f"{_where(cls)}: family {family!r} is already registered by {_where(previous)}"
            )
        taken = {t: registry.by_model_type[t] for t in model_types if t in registry.by_model_type}
        if taken:
            owners = ", ".join(
                f"{t!r} by {_where(registry.by_family[f])} ({f})" for t, f in taken.items()
            )
            raise FamilyError(
                f"{_where(cls)} (family {family!r}): model_type {owners} is already registered"
            )
        registry.by_family[family] = cls
        for model_type in model_types:
            registry.by_model_type[model_type] = family


def _drop(registry: _Registry, family: str) -> None:
    registry.by_family.pop(family, None)
    for model_type in [t for t, f in registry.by_model_type.items() if f == family]:
        del registry.by_model_type[model_type]


def _discover() -> _Registry:
    """Import every module of :data:`PACKAGE` once, so its family classes register."""
    global _discovered, _discovering
    with _LOCK:
        if not (_discovered or _discovering):
            _discovering = True
            try:
                package = importlib.import_module(PACKAGE)
                for module in pkgutil.iter_modules(package.__path__):
                    if not module.name.startswith("_"):
                        importlib.import_module(f"{PACKAGE}.{module.name}")
                _discovered = True
            finally:
                _discovering = False
        return _REGISTRY


def adapter_classes() -> dict[str, type]:
    """``family name -> adapter class`` of every registered family, sorted by name."""
    registry = _discover()
    return {name: registry.by_family[name] for name in sorted(registry.by_family)}


def family_names() -> tuple[str, ...]:
    """The registered family names, sorted."""
    return tuple(adapter_classes())


def adapter_class(family: str) -> type:
    """The adapter class of ``family``.

    Raises:
        FamilyError: ``family`` is not registered.
    """
    classes = adapter_classes()
    if family not in classes:
        raise FamilyError(f"family {family!r} is not one of {list(classes)}")
    return classes[family]


def adapter_for(model_type: str, model_id: str = "<model>") -> type:
    """The adapter class handling a config ``model_type`` (e.g. ``"qwen2_vl"``).

    Raises:
        ModelUnavailableError: no registered family handles ``model_type`` (the message names
            ``model_id`` and the supported types).
    """
    registry = _discover()
    family = registry.by_model_type.get(model_type)
    if family is None:
        raise ModelUnavailableError(
            f"{model_id}: model_type {model_type!r} is not a supported video MLLM family; "
            f"supported: {sorted(registry.by_model_type)}"
        )
    return registry.by_family[family]


def paper_settings(family: str | None) -> PaperSettings | None:
    """The :class:`PaperSettings` of ``family``; None for no family, an unregistered one (a
    custom backend object) or one the paper did not run."""
    if family is None:
        return None
    cls = _discover().by_family.get(family)
    return None if cls is None else cls.__dict__["paper"]


def tiny_families() -> tuple[str, ...]:
    """The registered families that have a :class:`TinyRecipe`, sorted."""
    return tuple(name for name, cls in adapter_classes().items() if cls.__dict__["tiny"])


def tiny_recipe(family: str) -> TinyRecipe:
    """The :class:`TinyRecipe` of ``family``.

    Raises:
        FamilyError: ``family`` is not registered or has no tiny recipe.
    """
    cls = _discover().by_family.get(family)
    recipe = None if cls is None else cls.__dict__["tiny"]
    if recipe is None:
        raise FamilyError(f"family {family!r} is not one of {list(tiny_families())}")
    return recipe
