"""Inference spread over devices (``--devices N``): one process per device, each on a shard of
the work, every result gathered back by the calling process.

The work is a list of items (videos) cut into batches; batch ``k`` goes to shard ``k mod N``,
so each device scores exactly the batches one device would, and the caller puts the results
back in input order by their indices. The shards need no communication with each other, so no
process group is made: the calling process spawns one process per device (``spawn``, as CUDA
needs), each sends what it computes down a pipe, and only the caller writes files and draws
progress. A worker's error reaches the caller as the same exception (a bad video, a
``DataError``), its warnings as the caller's warnings. One device runs in the calling process.

What a task sends must pickle by value (numpy arrays, not tensors: a tensor would travel
through shared memory that dies with its sender).
"""

from __future__ import annotations

import multiprocessing
import pickle
import traceback
import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from multiprocessing.connection import Connection, wait
from typing import Any

import torch

from motionfit.errors import ConfigError, RunError
from motionfit.stopping import ignore_stop_signals

Send = Callable[[Any], None]
ModelSource = torch.nn.Module | Callable[[], torch.nn.Module]
"""The model itself, or how a worker process builds it (e.g. loads it from a run)."""

_DATA, _WARNING, _ERROR, _DONE = "data", "warning", "error", "done"


@dataclass(frozen=True)
class Shard:
    """The work of one device: ``indices`` of the items it handles, in increasing order."""

    rank: int
    device: torch.device
    indices: tuple[int, ...]


Task = Callable[[Shard, Send], None]


def default_device() -> torch.device:
    """The first CUDA device when there is one, else the CPU."""
    return torch.device("cuda" if torch.cuda.is_available() else "cpu")


def inference_devices(count: int, device: torch.device | str | None = None) -> list[torch.device]:
    """The devices ``--devices count`` spreads inference over: the first ``count`` GPUs with
    CUDA, else ``count`` CPU processes. ``device`` picks the kind (default
    :func:`default_device`); one device is ``device`` itself. A :class:`ConfigError` for fewer
    than 1, more GPUs than are visible, or several devices of another kind."""
    if count < 1:
        raise ConfigError(f"--devices must be >= 1, got {count}")
    chosen = torch.device(device) if device is not None else default_device()
    if count == 1:
        return [chosen]
    if chosen.type == "cpu":
        return [torch.device("cpu")] * count
    if chosen.type != "cuda":
        raise ConfigError(f"--devices {count}: several devices need CUDA or the CPU, not {chosen}")
    visible = torch.cuda.device_count()
    if count > visible:
        raise ConfigError(
            f"--devices {count}: only {visible} CUDA device(s) visible; pass --devices {visible} "
            "or fewer (CUDA_VISIBLE_DEVICES selects them)"
        )
    return [torch.device("cuda", i) for i in range(count)]


def make_shards(
    devices: Sequence[torch.device], items: int, batch: int = 1, what: str = "videos"
) -> list[Shard]:
    """Deal ``items`` in batches of ``batch`` to ``devices``: batch ``k`` (items ``k*batch`` to
    ``(k+1)*batch - 1``) goes to shard ``k mod N``. With fewer batches than devices, only as
    many shards as batches (with a warning naming ``what`` is split)."""
    batches = -(-items // batch)
    used = max(1, min(len(devices), batches))
    if used < len(devices):
        warnings.warn(
            f"--devices {len(devices)}: {items} {what} make only {batches} batch(es); using {used} "
            "device(s)",
            stacklevel=2,
        )
    shards = []
    for rank in range(used):
        dealt = range(rank, batches, used)
        indices = tuple(i for k in dealt for i in range(k * batch, min(items, (k + 1) * batch)))
        shards.append(Shard(rank, devices[rank], indices))
    return shards


def run_shards(task: Task, shards: Sequence[Shard], receive: Send) -> None:
    """Run ``task(shard, send)`` for every shard; ``receive`` gets each object a task sends, in
    this process, in the order they arrive (a shard's own in its order). One shard runs here;
    several run in one spawned process each, ended when this call ends, by error or not."""
    if len(shards) == 1:
        task(shards[0], receive)
        return
    context = multiprocessing.get_context("spawn")
    threads = max(1, torch.get_num_threads() // len(shards))
    readers: dict[Connection, tuple[Shard, multiprocessing.process.BaseProcess]] = {}
    processes = []
    try:
        for shard in shards:
            reader, writer = context.Pipe(duplex=False)
            process = context.Process(
                target=_worker, args=(task, shard, writer, threads), name=f"motionfit-{shard.rank}"
            )
            process.start()
            writer.close()  # the worker holds the only writer: its end is our EOF
            readers[reader] = (shard, process)
            processes.append(process)
        while readers:
            for ready in wait(list(readers)):
                _handle(readers, ready, receive)
    finally:  # the workers ignore SIGTERM (left to this process) and hold nothing to save
        for process in processes:
            if process.is_alive():
                process.kill()
            process.join()


def _handle(
    readers: dict[Connection, tuple[Shard, multiprocessing.process.BaseProcess]],
    reader: object,
    receive: Send,
) -> None:
    """One message of a worker: data to ``receive``, a warning re-issued, an error raised."""
    assert isinstance(reader, Connection)  # wait() returns the readers it was given
    shard, process = readers[reader]
    try:
        kind, payload = reader.recv()
    except EOFError:
        process.join(timeout=5)
        raise RunError(
            f"the inference process of device {shard.rank} ({shard.device}) ended without its "
            f"results (exit code {process.exitcode}; out of memory?)"
        ) from None
    if kind == _DATA:
        receive(payload)
    elif kind == _WARNING:
        message, category = payload
        warnings.warn(message, category, stacklevel=1)
    elif kind == _ERROR:
        raise payload
    else:
        del readers[reader]
        reader.close()


def _worker(task: Task, shard: Shard, writer: Connection, threads: int) -> None:
    """A device's process: run ``task`` on ``shard``, sending its messages, warnings and
    error (or the end) to the parent."""
    ignore_stop_signals()
    if shard.device.type == "cuda":
        torch.cuda.set_device(shard.device)
    else:
        torch.set_num_threads(threads)

    def forward(message: Warning | str, category: type[Warning], *args: Any, **kw: Any) -> None:
        writer.send((_WARNING, (str(message), category)))

    warnings.showwarning = forward
    try:
        task(shard, lambda payload: writer.send((_DATA, payload)))
    except BaseException as exc:  # every error goes to the parent
        writer.send((_ERROR, _portable(exc, shard)))
    else:
        writer.send((_DONE, None))
    finally:
        writer.close()


def _portable(exc: BaseException, shard: Shard) -> BaseException:
    """``exc`` with the worker's traceback as a note, or a :class:`RunError` saying the same
    when it does not survive pickling."""
    where = f"in the inference process of device {shard.rank} ({shard.device}):\n"
    try:
        copy = pickle.loads(pickle.dumps(exc))
    except Exception:  # any exception that cannot travel
        copy = RunError(f"{type(exc).__name__}: {exc}")
    copy.add_note(where + "".join(traceback.format_exception(exc)))
    return copy
