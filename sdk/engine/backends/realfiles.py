"""A real checkpoint's files without its weights: tokenizer, chat template, configs.

:func:`tubescope.testing.save_tiny_model` with ``like=`` builds a tiny random-weight
checkpoint whose tokenizer, chat template, special-token ids and preprocessing are a real
checkpoint's, so prompts, token ids and pixel geometry are tested on what users load.
:class:`RealFiles` finds those files:

* in one or several directories, searched in order (a file missing from the first is taken
  from the next: Qwen2-VL's tokenizer files and Qwen2.5-VL's identical ``vocab.json``);
* plain or ``xz``-compressed (``vocab.json`` or ``vocab.json.xz``), so a repository can keep
  them small;
* with the family's *documented* values for files none of the directories has (a family whose
  published files are only partly available, e.g. LLaVA-NeXT-Video's ``tokenizer.model``
  alone, declares the rest from its model card in ``TinyRecipe.documented``).

The shape helpers scale a real geometry to a tiny model: :func:`scale_sections` (M-RoPE
sections to a smaller head) and :func:`scale_block_indexes` (full-attention blocks to a
shallower tower).

Example:
    >>> import json, tempfile
    >>> from pathlib import Path
    >>> folder = Path(tempfile.mkdtemp())
    >>> _ = (folder / "config.json").write_text(json.dumps({"vocab_size": 10}))
    >>> real = RealFiles(folder, documented={"generation_config.json": {"eos_token_id": 2}})
    >>> real.json("config.json")["vocab_size"], real.json("generation_config.json")["eos_token_id"]
    (10, 2)
    >>> real.origin("config.json") == str(folder / "config.json"), real.origin("generation_config.json")
    (True, 'documented')
    >>> scale_sections([16, 24, 24], 8), scale_block_indexes([7, 15, 23, 31], 32, 2)
    ([2, 3, 3], [1])
"""

from __future__ import annotations

import copy
import json
import lzma
import os
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

from tubescope.errors import ModelUnavailableError

__all__ = [
    "RealFiles",
    "TOKENIZER_FILES",
    "scale_sections",
    "scale_block_indexes",
]

#: the files a tokenizer is built from (whichever of them exist).
TOKENIZER_FILES = (
    "tokenizer.json",
    "tokenizer_config.json",
    "special_tokens_map.json",
    "added_tokens.json",
    "vocab.json",
    "merges.txt",
    "tokenizer.model",
    "chat_template.json",
    "chat_template.jinja",
)

_COMPRESSED = ".xz"


class RealFiles:
    """The files of a real checkpoint, looked up in ``directories`` in order.

    Args:
        directories: folders holding checkpoint files (plain or ``.xz``); a ``(folder, names)``
            pair contributes only the files named (a vocabulary shared with another checkpoint).
        documented: ``{file name: JSON object}`` used for files no folder has.

    Raises:
        ModelUnavailableError: a folder does not exist.
    """

    def __init__(
        self,
        *directories: str | os.PathLike[str] | tuple[str | os.PathLike[str], Iterable[str]],
        documented: Mapping[str, Any] | None = None,
    ) -> None:
        entries: list[tuple[Path, frozenset[str] | None]] = []
        for entry in directories:
            if isinstance(entry, tuple):
                folder, names = entry
                entries.append((Path(folder), frozenset(names)))
            else:
                entries.append((Path(entry), None))
        for folder, _ in entries:
            if not folder.is_dir():
                raise ModelUnavailableError(f"like={os.fspath(folder)!r}: no such directory")
        self._entries = tuple(entries)
        self.documented = dict(documented or {})

    @property
    def directories(self) -> tuple[Path, ...]:
        return tuple(folder for folder, _ in self._entries)

    @classmethod
    def of(
        cls,
        like: str | os.PathLike[str] | Sequence[str | os.PathLike[str]] | RealFiles,
        documented: Mapping[str, Any] | None = None,
    ) -> RealFiles:
        """``like`` as :class:`RealFiles`: a folder, a list of folders, or one already made."""
        if isinstance(like, RealFiles):
            entries = [(f, n) if n is not None else f for f, n in like._entries]
            return cls(*entries, documented={**(documented or {}), **like.documented})
        if isinstance(like, (str, os.PathLike)):
            return cls(like, documented=documented)
        return cls(*like, documented=documented)

    def find(self, name: str) -> Path | None:
        """The first ``name`` (or ``name.xz``) in the folders, or None."""
        for directory, names in self._entries:
            if names is not None and name not in names:
                continue
            for candidate in (directory / name, directory / (name + _COMPRESSED)):
                if candidate.is_file():
                    return candidate
        return None

    def origin(self, name: str) -> str | None:
        """Where ``name`` comes from: its path, ``"documented"``, or None when absent."""
        found = self.find(name)
        if found is not None:
            return str(found)
        return "documented" if name in self.documented else None

    def read_bytes(self, name: str) -> bytes | None:
        """The bytes of a real file (decompressed), or None when no folder has it."""
        found = self.find(name)
        if found is None:
            return None
        data = found.read_bytes()
        return lzma.decompress(data) if found.name.endswith(_COMPRESSED) else data

    def json(self, name: str) -> Any:
        """A JSON file (a real one first, else the documented object), or None."""
        data = self.read_bytes(name)
        if data is None:
            value = self.documented.get(name)
            return copy.deepcopy(value) if value is not None else None
        try:
            return json.loads(data.decode("utf-8"))
        except (UnicodeDecodeError, json.JSONDecodeError) as err:
            raise ModelUnavailableError(f"{self.find(name)}: not valid JSON ({err})") from None

    def jsons(self, *names: str) -> dict[str, Any]:
        """``{name: JSON}`` of those of ``names`` that exist (real or documented)."""
        found = {name: self.json(name) for name in names}
        return {name: value for name, value in found.items() if value is not None}

    def require_json(self, name: str) -> Any:
        """Like :meth:`json`, but a missing file is an error naming the folders searched."""
        value = self.json(name)
        if value is None:
            where = ", ".join(os.fspath(d) for d in self.directories) or "no folder"
            raise ModelUnavailableError(f"like: no {name} in {where} and none documented")
        return value

    def write(self, names: Iterable[str], directory: str | os.PathLike[str]) -> list[str]:
        """Write the files among ``names`` that exist (real or documented) into ``directory``
        (decompressed); returns the names written."""
        out = Path(directory)
        written = []
        for name in names:
            data = self.read_bytes(name)
            if data is None and name in self.documented:
                data = json.dumps(self.documented[name], indent=2, ensure_ascii=False).encode()
            if data is not None:
                (out / name).write_bytes(data)
                written.append(name)
        return written

    def chat_template(self) -> str | None:
        """The chat template: ``chat_template.jinja``, ``chat_template.json`` or the
        tokenizer config's, in that order."""
        jinja = self.read_bytes("chat_template.jinja")
        if jinja is not None:
            return jinja.decode("utf-8")
        for name in ("chat_template.json", "tokenizer_config.json"):
            data = self.json(name)
            if isinstance(data, Mapping) and isinstance(data.get("chat_template"), str):
                return str(data["chat_template"])
        return None

    def __repr__(self) -> str:
        folders = ", ".join(repr(os.fspath(d)) for d in self.directories)
        return f"RealFiles({folders}, documented={sorted(self.documented)})"


def scale_sections(sections: Sequence[int], total: int) -> list[int]:
    """Integer sections proportional to ``sections`` that add up to ``total`` (largest
    remainders; every section keeps at least 1 when ``total`` allows).

    Example:
        >>> scale_sections([24, 20, 20], 8)
        [3, 3, 2]
    """
    weights = [int(s) for s in sections]
    whole = sum(weights)
    if whole <= 0 or total < 0:
        raise ValueError(f"cannot scale sections {list(sections)} to {total}")
    exact = [w * total / whole for w in weights]
    out = [int(x) for x in exact]
    order = sorted(range(len(exact)), key=lambda i: (-(exact[i] - out[i]), i))
    for i in order[: total - sum(out)]:
        out[i] += 1
    for i, value in enumerate(out):  # a zero section would drop an axis: borrow from the largest
        if value == 0 and total >= len(out):
            largest = max(range(len(out)), key=lambda k: out[k])
            out[largest] -= 1
            out[i] = 1
    return out


def scale_block_indexes(indexes: Sequence[int], depth: int, tiny_depth: int) -> list[int]:
    """The blocks of a ``tiny_depth`` tower that play the role of ``indexes`` in a ``depth`` one.

    A periodic pattern (every ``p``-th block, ending at the last one: Qwen2.5-VL's full-attention
    blocks 7, 15, 23, 31 of 32) keeps its period, shortened to the tiny depth when longer, so a
    2-block tower gets one windowed block then one full block. Any other pattern is scaled
    proportionally.

    Example:
        >>> scale_block_indexes([7, 15, 23, 31], 32, 16), scale_block_indexes([5, 11, 17], 24, 6)
        ([7, 15], [1, 2, 4])
    """
    chosen = sorted(int(i) for i in indexes)
    if not chosen:
        return []
    period = depth // len(chosen)
    if period >= 1 and chosen == list(range(period - 1, depth, period)):
        step = max(1, min(period, tiny_depth))
        return list(range(step - 1, tiny_depth, step))
    return sorted({min(tiny_depth - 1, (i * tiny_depth) // depth) for i in chosen})
