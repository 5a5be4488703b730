"""Turning a proposal spec (``Grounder(proposals=...)``, ``--proposals``) into a
:class:`~tubescope.proposals.ProposalSource`, through a registry of spec kinds.

A spec string is ``KIND`` or ``KIND:ARGUMENT``. Each kind is registered, with
:func:`register_proposal_kind`, by the module that implements it:

=======================================  ==================================================
``"precomputed:PATH"``                   :class:`PrecomputedProposals`: PATH is a proposal
                                         file (our JSON or the official one), or a
                                         directory with ``{video_stem}.json`` per video (or
                                         ``{video_stem}/*.json``, VidSTG style)
``"detector:NAME[@MODEL_ID_OR_DIR]"``    :class:`DetectorProposals` over the detector
                                         registered as NAME (``grounding-dino``,
                                         ``owlv2``: :mod:`tubescope.proposals.detectors`),
                                         with its default or the given weights
``"attention"``                          :class:`AttentionProposals` (detector-free)
an object with ``name`` and ``tracks()``  used as is
a callable ``frame -> sv.Detections``    wrapped in :class:`DetectorProposals`
=======================================  ==================================================

A new kind is one module with a builder ``build(argument, options) -> ProposalSource``
decorated with :func:`register_proposal_kind` (and imported by ``tubescope.proposals``);
docs/proposals.md walks through one. An unknown kind or detector name raises a one-line
:class:`~tubescope.errors.ProposalError` that lists the valid forms.

Example:
    >>> from tubescope.proposals import resolve_proposals
    >>> resolve_proposals("attention").name
    'attention'
    >>> source = resolve_proposals("detector:owlv2@google/owlv2-base-patch16")
    >>> source.name, source.detector.model_id
    ('detector:owlv2', 'google/owlv2-base-patch16')
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Literal

from tubescope.errors import ProposalError
from tubescope.proposals.base import ProposalSource
from tubescope.registry import Registry

__all__ = [
    "resolve_proposals",
    "register_proposal_kind",
    "unregister_proposal_kind",
    "proposal_kinds",
    "valid_specs",
    "ProposalKind",
    "SpecOptions",
]

#: Whether a kind takes ``KIND:ARGUMENT``: always, never (``"attention"``), or either.
ArgumentRule = Literal["required", "none", "optional"]


@dataclass(frozen=True)
class SpecOptions:
    """Settings that apply to whatever a spec builds.

    Attributes:
        device: torch device of model-based sources (the built-in detectors).
        stride: frames between detector runs (detector specs and callables; paper: 10).
    """

    device: str = "cpu"
    stride: int = 10


#: ``build(argument, options) -> ProposalSource``; ``argument`` is None for a bare ``KIND``.
Builder = Callable[[str | None, SpecOptions], ProposalSource]


@dataclass(frozen=True)
class ProposalKind:
    """One registered spec kind.

    Attributes:
        name: the ``KIND`` of ``KIND[:ARGUMENT]`` (lower case).
        build: makes the source from the argument and the :class:`SpecOptions`.
        usage: how error messages show the form, e.g. ``'"precomputed:PATH" (a file)'``; a
            callable is called each time (for lists that other registries fill).
        argument: ``"required"``, ``"none"`` or ``"optional"``.
    """

    name: str
    build: Builder
    usage: str | Callable[[], str]
    argument: ArgumentRule = "required"

    def describe(self) -> str:
        """The usage text shown in messages."""
        return self.usage() if callable(self.usage) else self.usage


_KINDS: Registry[ProposalKind] = Registry("proposal kind", ProposalError, case_insensitive=True, reserved=":@")
_ARGUMENT_RULES = ("required", "none", "optional")


def register_proposal_kind(
    name: str, *, usage: str | Callable[[], str], argument: ArgumentRule = "required"
) -> Callable[[Builder], Builder]:
    """Decorator: make ``build`` the handler of the spec kind ``name``.

    Raises:
        ProposalError: ``name`` is empty, has a ``:`` or ``@``, is registered already, or
            ``argument`` is not one of ``"required"``, ``"none"``, ``"optional"``.

    Example:
        >>> from tubescope.proposals import (
        ...     proposal_kinds, register_proposal_kind, resolve_proposals, unregister_proposal_kind)
        >>> class Empty:
        ...     name = "empty"
        ...     def tracks(self, video, frames=None):
        ...         return []
        >>> @register_proposal_kind("empty", usage='"empty" (no tracks)', argument="none")
        ... def build_empty(argument, options):
        ...     return Empty()
        >>> resolve_proposals("empty").name
        'empty'
        >>> _ = unregister_proposal_kind("empty")
    """
    key = _KINDS.check_name(name)
    if argument not in _ARGUMENT_RULES:
        raise ProposalError(
            f"proposal kind {name!r}: argument must be one of {_ARGUMENT_RULES}, got {argument!r}"
        )

    def add(build: Builder) -> Builder:
        _KINDS.add(key, ProposalKind(key, build, usage, argument))
        return build

    return add


def unregister_proposal_kind(name: str) -> ProposalKind | None:
    """Remove a spec kind; returns it (None when it was not registered)."""
    return _KINDS.remove(name)


def proposal_kinds() -> Mapping[str, ProposalKind]:
    """The registered spec kinds (read-only), in registration order.

    Example:
        >>> from tubescope.proposals import proposal_kinds
        >>> list(proposal_kinds())
        ['attention', 'detector', 'precomputed']
    """
    return _KINDS.mapping()


def valid_specs() -> tuple[str, ...]:
    """Every valid form of a spec, as the error messages list them."""
    return (
        *(kind.describe() for kind in _KINDS.mapping().values()),
        "a ProposalSource object (has .name and .tracks(video, frames))",
        "a detector callable frame -> supervision.Detections",
    )


def invalid_spec(spec: Any, why: str) -> ProposalError:
    """The one-line error for a spec that cannot be used, listing the valid forms."""
    return ProposalError(
        f"invalid proposal spec {spec!r}: {why}; valid forms: {'; '.join(valid_specs())}"
    )


def resolve_proposals(spec: Any, *, device: str = "cpu", stride: int = 10) -> ProposalSource:
    """The :class:`ProposalSource` for ``spec`` (forms in the module docstring).

    Args:
        spec: a spec string, a ProposalSource, or a detector callable.
        device: torch device of the built-in detectors.
        stride: detect every ``stride`` frames (detector specs and callables; paper: 10).

    Nothing is loaded here: detector weights load on first use.

    Raises:
        ProposalError: an unknown kind or detector name (the message lists the valid forms),
            a malformed argument, or ``precomputed:PATH`` naming a path that does not exist.

    Example:
        >>> from tubescope.errors import ProposalError
        >>> from tubescope.proposals import resolve_proposals
        >>> resolve_proposals("detector:grounding-dino").name
        'detector:grounding-dino'
        >>> try:
        ...     resolve_proposals("sam3")
        ... except ProposalError as err:
        ...     print(str(err)[:58])
        invalid proposal spec 'sam3': unknown kind 'sam3'; valid f
    """
    if isinstance(spec, ProposalSource) and not isinstance(spec, (str, bytes)):
        return spec
    options = SpecOptions(device=device, stride=stride)
    if isinstance(spec, str):
        name, sep, argument = spec.strip().partition(":")
        kind = _KINDS.find(name)
        if kind is None:
            raise invalid_spec(spec, f"unknown kind {name.strip()!r}")
        argument = argument.strip()
        if (kind.argument == "none" and sep) or (kind.argument == "required" and not argument):
            raise ProposalError(f"invalid proposal spec {spec!r}: expected {kind.describe()}")
        try:
            return kind.build(argument or None, options)
        except ProposalError as err:
            raise ProposalError(f"invalid proposal spec {spec!r}: {err}") from None
    if callable(spec):
        from tubescope.proposals.detector import DetectorProposals

        return DetectorProposals(spec, stride=stride)
    raise invalid_spec(
        spec,
        f"expected a string, a ProposalSource or a detector callable, got {type(spec).__name__}",
    )
