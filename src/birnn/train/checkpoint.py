"""Checkpoints: a directory of safetensors and JSON files, replaced atomically. No pickle.

Layout of a checkpoint directory ``path``::

    model.safetensors     the model's flat parameters ("embed.weight", ...)
    config.json           the caller's JSON dict: model config, vocabularies, task information,
                          and "sha256": {"model.safetensors": its SHA-256}
    trainer.safetensors   optimizer state (flat arrays)            } both or neither: present in
    trainer.json          epoch, best score, RNG state, schedule...  } checkpoints made to resume
                          (and the SHA-256 of trainer.safetensors)

Integrity. Each tensor file's SHA-256 is recorded in its JSON file and checked on load, so a
file changed after the save (a flipped byte, weights overwritten, a file from another
checkpoint) is refused; so are parameters that are not finite (NaN or infinite), on save and on
load: such a model predicts garbage without saying so.

Atomic replacement. A save never writes into ``path`` itself:

1. everything is written into a fresh hidden sibling ``.<name>.tmp-<pid>-<random>``, each file
   is fsynced, then the directory;
2. a checkpoint already at ``path`` is renamed to ``.<name>.old`` (any earlier ``.<name>.old``
   is first renamed to ``.<name>.trash-<random>`` and deleted);
3. the temporary directory is renamed to ``path``; the parent directory is fsynced after each
   rename;
4. ``.<name>.old`` is renamed to a trash name and deleted, as are stale temporary directories.

Every rename is atomic, so at every moment either ``path`` holds a complete checkpoint, or (a
crash between steps 2 and 3) ``path`` is missing and ``.<name>.old`` holds the previous complete
one: :func:`load_checkpoint` falls back to it. ``.<name>.old`` only ever appears by renaming a
complete checkpoint and disappears by rename, never by a partial delete. Temporary and trash
directories are never read, and the next save removes them, so a crash leaves nothing that can
confuse a later save or load. One process writes a given checkpoint path at a time.

Every file is written with ``os.write`` and ``os.fsync`` before any rename (the test of the
protocol stops the process at each of these calls and loads what is left).

Errors reading or writing (missing, unreadable, altered or inconsistent files) raise
:class:`CheckpointError`, a ``ValueError`` whose message names the path.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import secrets
import shutil
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray

from birnn._checks import describe

MODEL_FILE = "model.safetensors"
CONFIG_FILE = "config.json"
TRAINER_TENSORS_FILE = "trainer.safetensors"
TRAINER_INFO_FILE = "trainer.json"
FILES = (MODEL_FILE, CONFIG_FILE, TRAINER_TENSORS_FILE, TRAINER_INFO_FILE)
FORMAT = "birnn-checkpoint-1"  # stored in each safetensors header
_log = logging.getLogger("birnn")
CHECKSUMS = "sha256"  # the key of a JSON file's {tensor file name: SHA-256} (reserved)

Arrays = dict[str, NDArray[Any]]


class CheckpointError(ValueError):
    """A checkpoint cannot be read or written; the message names the path and the cause."""


@dataclass
class TrainerState:
    """What resuming training needs besides the parameters."""

    tensors: Arrays  # optimizer state, flat (trainer.safetensors)
    info: dict[str, Any]  # epoch, best score, RNG state, ... as JSON (trainer.json)


@dataclass
class Checkpoint:
    params: Arrays  # flat dotted names -> arrays (own copies)
    config: dict[str, Any]  # the JSON dict given to save_checkpoint
    trainer_state: TrainerState | None  # None for a checkpoint saved without one (e.g. best/)
    path: Path  # the directory actually read (``.<name>.old`` after an interrupted save)


def _safetensors_numpy() -> Any:
    try:
        import safetensors.numpy
    except ImportError as err:
        raise ImportError(
            "checkpoints need the safetensors package (a dependency of birnn): "
            "pip install safetensors"
        ) from err
    return safetensors.numpy


def _siblings(path: Path) -> tuple[Path, str, str]:
    """(.<name>.old, prefix of temporary dirs, prefix of trash dirs)"""
    return path.parent / f".{path.name}.old", f".{path.name}.tmp-", f".{path.name}.trash-"


# -- saving ---------------------------------------------------------------------------------


def save_checkpoint(
    path: str | os.PathLike[str],
    params: Mapping[str, NDArray[Any]],
    config: Mapping[str, Any],
    trainer_state: TrainerState | None = None,
) -> Path:
    """Write a checkpoint directory at ``path``, atomically replacing one already there.

    Refuses to replace a directory holding anything but checkpoint files. Returns ``path``.
    """
    path = Path(path)
    st = _safetensors_numpy()
    files = _pair(path, st, MODEL_FILE, CONFIG_FILE, "params", params, "config", config)
    if trainer_state is not None:
        if not isinstance(trainer_state, TrainerState):
            raise TypeError(
                f"trainer_state must be a TrainerState; received {describe(trainer_state)}"
            )
        files |= _pair(path, st, TRAINER_TENSORS_FILE, TRAINER_INFO_FILE,
                       "trainer_state.tensors", trainer_state.tensors,
                       "trainer_state.info", trainer_state.info)  # fmt: skip
    _check_replaceable(path)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        _remove_leftovers(path)
        tmp = path.parent / f"{_siblings(path)[1]}{os.getpid()}-{secrets.token_hex(4)}"
        tmp.mkdir()
        try:
            for name, data in files.items():
                _write_bytes(tmp / name, data)
            _fsync_dir(tmp)
        except BaseException:
            shutil.rmtree(tmp, ignore_errors=True)
            raise
        _swap_in(tmp, path)
    except OSError as err:
        raise CheckpointError(f"cannot save checkpoint {path}: {err}") from err
    return path


def _pair(
    path: Path,
    st: Any,
    tensors_file: str,
    json_file: str,
    what: str,
    arrays: Any,
    json_what: str,
    info: Any,
) -> dict[str, bytes]:
    """The bytes of a tensor file and of the JSON file that records its SHA-256."""
    data = st.save(_check_arrays(path, what, arrays), metadata={"format": FORMAT})
    _json_text(path, json_what, info)  # a JSON dict, or the error that says why not
    if CHECKSUMS in info:
        raise ValueError(f"{json_what} must not use the key {CHECKSUMS!r}: the checkpoint's own")
    recorded = {CHECKSUMS: {tensors_file: hashlib.sha256(data).hexdigest()}, **info}
    return {tensors_file: data, json_file: _json_text(path, json_what, recorded).encode()}


def _check_arrays(path: Path, what: str, arrays: Any) -> Arrays:
    if not isinstance(arrays, Mapping):
        raise TypeError(f"{what} must be a dict of name -> np.ndarray; received {describe(arrays)}")
    out = {}
    for name, value in arrays.items():
        if not isinstance(name, str) or not name:
            raise TypeError(f"{what} names must be non-empty strings; received {name!r}")
        if not isinstance(value, np.ndarray) or value.dtype.kind not in "biuf":
            raise TypeError(
                f"{what}[{name!r}] must be a numeric np.ndarray; received {describe(value)}"
            )
        if value.dtype.kind == "f" and not np.isfinite(value).all():
            raise CheckpointError(
                f"cannot save checkpoint {path}: {what}[{name!r}] holds "
                f"{int((~np.isfinite(value)).sum())} values that are NaN or infinite"
            )
        # safetensors writes raw memory: a transposed view must become C-ordered first
        # (np.ascontiguousarray would also turn a 0-d array into shape (1,))
        out[name] = value if value.flags.c_contiguous else value.copy(order="C")
    return out


def _json_text(path: Path, what: str, value: Any) -> str:
    if not isinstance(value, Mapping):
        raise TypeError(f"{what} must be a JSON-serialisable dict; received {describe(value)}")
    try:
        return json.dumps(value, indent=2, allow_nan=False) + "\n"
    except (TypeError, ValueError) as err:
        raise CheckpointError(f"cannot save checkpoint {path}: {what} is not JSON: {err}") from err


def _check_replaceable(path: Path) -> None:
    if path.is_symlink():
        raise CheckpointError(f"cannot save checkpoint {path}: it is a symbolic link")
    if not path.exists():
        return
    if not path.is_dir():
        raise CheckpointError(f"cannot save checkpoint {path}: it exists and is not a directory")
    foreign = sorted(p.name for p in path.iterdir() if p.name not in FILES)
    if foreign:
        raise CheckpointError(
            f"refusing to replace {path}: it holds files that are not part of a checkpoint "
            f"({', '.join(foreign[:5])})"
        )


def _remove_leftovers(path: Path) -> None:
    """Delete temporary and trash directories left by an interrupted save."""
    _, tmp_prefix, trash_prefix = _siblings(path)
    for entry in path.parent.iterdir():
        if entry.name.startswith((tmp_prefix, trash_prefix)) and entry.is_dir():
            shutil.rmtree(entry, ignore_errors=True)


def _discard(directory: Path, trash_prefix: str) -> None:
    """Remove a directory by first renaming it away, so it never exists half deleted."""
    trash = directory.parent / f"{trash_prefix}{secrets.token_hex(4)}"
    os.rename(directory, trash)
    _fsync_dir(directory.parent)
    shutil.rmtree(trash, ignore_errors=True)


def _swap_in(tmp: Path, path: Path) -> None:
    old, _, trash_prefix = _siblings(path)
    if path.exists():
        if old.exists():
            _discard(old, trash_prefix)  # a stale backup: path is complete
        os.rename(path, old)
        _fsync_dir(path.parent)
    # else: either a first save, or old holds the last good checkpoint of an interrupted swap
    os.rename(tmp, path)
    _fsync_dir(path.parent)
    if old.exists():
        _discard(old, trash_prefix)


def remove_checkpoint(path: str | os.PathLike[str]) -> None:
    """Delete the checkpoint at ``path`` (and its backup), if any; never a non-checkpoint dir."""
    path = Path(path)
    _check_replaceable(path)
    old, _, trash_prefix = _siblings(path)
    try:
        for directory in (path, old):
            if directory.is_dir():
                _discard(directory, trash_prefix)
    except OSError as err:
        raise CheckpointError(f"cannot remove checkpoint {path}: {err}") from err


def _write_bytes(file: Path, data: bytes) -> None:
    """A new file holding ``data``, on disk before this returns."""
    fd = os.open(file, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
    try:
        view = memoryview(data)
        while view:
            view = view[os.write(fd, view) :]
        os.fsync(fd)
    finally:
        os.close(fd)


def _fsync_dir(directory: Path) -> None:
    """Make renames and new entries durable; directories cannot be opened on every platform."""
    try:
        fd = os.open(directory, os.O_RDONLY)
    except OSError:  # pragma: no cover - Windows
        return
    try:
        os.fsync(fd)
    except OSError:  # pragma: no cover - file systems without directory fsync
        pass
    finally:
        os.close(fd)


# -- loading --------------------------------------------------------------------------------


def load_checkpoint(path: str | os.PathLike[str]) -> Checkpoint:
    """Read the checkpoint at ``path`` (or its backup, after a save interrupted mid-swap)."""
    path = Path(path)
    where = _resolve(path)
    st = _safetensors_numpy()
    params, config = _read_pair(st, where / MODEL_FILE, where / CONFIG_FILE)
    tensors_file, info_file = where / TRAINER_TENSORS_FILE, where / TRAINER_INFO_FILE
    if tensors_file.exists() != info_file.exists():
        present, absent = (
            (tensors_file, info_file) if tensors_file.exists() else (info_file, tensors_file)
        )
        raise CheckpointError(f"{where}: has {present.name} but not {absent.name}")
    trainer_state = None
    if tensors_file.exists():
        trainer_state = TrainerState(*_read_pair(st, tensors_file, info_file))
    return Checkpoint(params, config, trainer_state, where)


def _read_pair(st: Any, tensors_file: Path, json_file: Path) -> tuple[Arrays, dict[str, Any]]:
    """A tensor file, checked against the SHA-256 its JSON file records, and that JSON."""
    info = _read_json(json_file)
    legacy = bool(info) and CHECKSUMS not in info  # saved before checksums were (birnn 0.1)
    recorded = info.pop(CHECKSUMS, None)
    expected = recorded.get(tensors_file.name) if isinstance(recorded, dict) else None
    if not legacy and not isinstance(expected, str):
        raise CheckpointError(
            f"{json_file}: not a birnn checkpoint (it records no SHA-256 of {tensors_file.name})"
        )
    if not tensors_file.is_file():
        raise CheckpointError(f"{tensors_file}: missing")
    try:
        data = tensors_file.read_bytes()
    except OSError as err:
        raise CheckpointError(f"{tensors_file}: cannot be read ({err})") from err
    if legacy:  # still loadable: its values are checked (finite), its bytes cannot be
        _log.warning(
            "birnn: %s records no SHA-256 (saved by an older birnn): its integrity is not "
            "checked; saving it again records one",
            json_file,
        )
    elif hashlib.sha256(data).hexdigest() != expected:
        raise CheckpointError(
            f"{tensors_file}: its SHA-256 is not the one recorded in {json_file.name}: the file "
            "was changed or damaged after it was saved"
        )
    return _decode_tensors(st, tensors_file, data), info


def _resolve(path: Path) -> Path:
    if path.is_dir():
        return path
    if path.exists():
        raise CheckpointError(f"{path}: not a checkpoint directory")
    old = _siblings(path)[0]
    if old.is_dir():  # a save was interrupted between its two renames
        return old
    raise CheckpointError(f"{path}: no checkpoint there")


def _decode_tensors(st: Any, file: Path, data: bytes) -> Arrays:
    try:
        loaded = st.load(data)
    except Exception as err:  # safetensors raises its own error type for corrupt files
        raise CheckpointError(f"{file}: not a readable safetensors file ({err})") from err
    for name, value in loaded.items():
        if value.dtype.kind == "f" and not np.isfinite(value).all():
            raise CheckpointError(
                f"{file}: {name} holds {int((~np.isfinite(value)).sum())} values that are NaN "
                "or infinite: the model is unusable"
            )
    return {name: np.array(value, copy=True) for name, value in loaded.items()}


def _read_json(file: Path) -> dict[str, Any]:
    if not file.is_file():
        raise CheckpointError(f"{file}: missing")
    try:
        value = json.loads(file.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as err:
        raise CheckpointError(f"{file}: not readable JSON ({err})") from err
    if not isinstance(value, dict):
        raise CheckpointError(f"{file}: must hold a JSON object; found {type(value).__name__}")
    return value


# -- parameters against a model -------------------------------------------------------------


def check_params(
    expected: Mapping[str, NDArray[Any]], loaded: Mapping[str, NDArray[Any]], source: str = ""
) -> None:
    """Raise CheckpointError unless ``loaded`` has exactly ``expected``'s names and shapes.

    The message lists every missing, unexpected and mismatched name; ``source`` (the
    checkpoint path) starts it.
    """
    missing = sorted(set(expected) - set(loaded))
    unexpected = sorted(set(loaded) - set(expected))
    mismatched = [
        f"{name} {tuple(loaded[name].shape)} (model: {tuple(expected[name].shape)})"
        for name in sorted(set(expected) & set(loaded))
        if loaded[name].shape != expected[name].shape
    ]
    problems = []
    if missing:
        problems.append(f"missing {missing}")
    if unexpected:
        problems.append(f"unexpected {unexpected}")
    if mismatched:
        problems.append(f"shape mismatch: {', '.join(mismatched)}")
    if problems:
        prefix = f"{source}: " if source else ""
        raise CheckpointError(f"{prefix}parameters do not match the model: {'; '.join(problems)}")


def assign_params(
    target: Mapping[str, NDArray[Any]], loaded: Mapping[str, NDArray[Any]], source: str = ""
) -> None:
    """Copy ``loaded`` into the model's live arrays ``target`` (checked first; all or nothing)."""
    check_params(target, loaded, source)
    for name, array in target.items():
        np.copyto(array, loaded[name], casting="same_kind")
