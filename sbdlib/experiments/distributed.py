"""Sweeps on a Ray cluster: one configuration per Ray task, the same work as the local loop.

``python -m sbdlib.experiments EXPERIMENT --ray [ADDRESS] --storage PATH_OR_URL`` fans the
experiment's configurations (:class:`~sbdlib.experiments.RunSpec`) out as Ray tasks. Each
task trains one population -- all the seeds of one configuration -- by calling
:func:`sbdlib.experiments.run_spec`, the function the local loop calls, so Ray is only the
scheduler: the rows it returns are the local run's rows.

* **Resources**: a task asks for one GPU where the cluster has GPUs (and ``--cpus-per-task``
  CPUs beside it), else for ``--cpus-per-task`` CPUs; inside, torch uses that many threads.
* **Storage**: checkpoints go to ``--storage`` (:mod:`sbdlib.experiments.storage`: a folder every node
  sees, or an fsspec URL synced from and to each task). Without it they go to ``runs/``,
  which only works on one machine (checked).
* **Failures**: a task whose worker dies (killed, out of memory, a lost node) is retried up to
  ``--retries`` times, as is one failing with an ``OSError`` (storage); the retry resumes from
  the checkpoints in storage, exactly (:func:`sbdlib.training.train_many`). A rerun of the
  command skips what has finished. ``--retrain`` deletes the checkpoints once, before any
  task, so a retried task still resumes.
* **Results**: the driver collects the tasks' rows and writes the one results table
  (:func:`sbdlib.experiments.results.write_results`) in the local run's (spec, seed) order, after each
  task, so a sweep that stops keeps what it has.

Ray is imported only here, and only when a function needs it: importing sbdlib never does.
"""

from __future__ import annotations

import os
import socket
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterable, Sequence

import torch

from sbdlib.experiments import (DEFAULT_EXPERIMENT, MAX_POPULATION, RunSpec, SpecRun, checkpoint_name,
                                checkpoints_folder, config_name, plan_experiment, run_spec)
from sbdlib.experiments.results import write_results
from sbdlib.experiments.storage import Storage, open_storage
from sbdlib.scales import Scale

INSTALL_HINT = "pip install -e '.[distributed]'"
DEFAULT_RETRIES = 3        # retries of a task whose worker died (each resumes from its checkpoints)
DEFAULT_RAY_PORT = 6379    # `ray start --head`'s port, when an address names only a host
CONNECT_TIMEOUT = 5.0      # seconds to reach a cluster's address before saying it is unreachable
NAMED_ADDRESSES = ("", "auto", "local")  # ray.init's own: a running or new cluster, a running one, a new one


class SetupError(RuntimeError):
    """Ray, the cluster or the tasks' resources are not usable: raised before any task starts."""


def require_ray():
    """The ``ray`` module, or one line saying which extra installs it."""
    try:
        import ray
    except ImportError:
        raise SetupError(f"--ray needs Ray, which is not installed: {INSTALL_HINT}") from None
    return ray


def _host_port(address: str) -> tuple[str, int]:
    """``HOST[:PORT]`` or ``ray://HOST:PORT`` -> ``(host, port)`` (one clear error otherwise)."""
    text = address.removeprefix("ray://")
    host, _, port = text.rpartition(":") if ":" in text else (text, "", str(DEFAULT_RAY_PORT))
    if not host or not port.isdigit():
        raise SetupError(f"cannot read Ray address {address!r}; write it as HOST:PORT (e.g. 10.0.0.5:6379), "
                         f"ray://HOST:PORT, 'auto' (a cluster running here) or leave it out (start one here)")
    return host, int(port)


def check_reachable(address: str, timeout: float = CONNECT_TIMEOUT) -> None:
    """Open (and close) a TCP connection to a cluster's address, so an unreachable one fails in seconds, not minutes."""
    if address in NAMED_ADDRESSES:
        return
    host, port = _host_port(address)
    try:
        socket.create_connection((host, port), timeout=timeout).close()
    except OSError as exc:
        raise SetupError(f"cannot reach a Ray cluster at {address} ({type(exc).__name__}: {exc}); start one "
                              f"there with `ray start --head`, or check the address and that its port is open"
                              ) from None


def connect(address: str | None) -> bool:
    """Join the Ray cluster at ``address`` (see :data:`NAMED_ADDRESSES`); returns whether this call started Ray."""
    ray = require_ray()
    if ray.is_initialized():
        return False
    address = address or ""
    check_reachable(address)
    try:
        ray.init(address=address or None)
    except (ConnectionError, RuntimeError, ValueError) as exc:
        raise SetupError(f"cannot join a Ray cluster at {address or 'this machine'}: "
                              f"{str(exc).strip().splitlines()[0]}") from None
    return True


@dataclass(frozen=True)
class TaskResources:
    """What each task asks Ray for, and the device it trains on there."""

    num_cpus: int
    num_gpus: int
    device: str

    def options(self, retries: int) -> dict[str, Any]:
        """``ray.remote(...).options(...)`` keywords: these resources and the retry policy."""
        return dict(num_cpus=self.num_cpus, num_gpus=self.num_gpus, max_retries=retries, retry_exceptions=[OSError])


def _alive_nodes() -> list[dict[str, float]]:
    """The resources of each live node of the connected cluster."""
    ray = require_ray()
    return [node.get("Resources", {}) for node in ray.nodes() if node.get("Alive")]


def task_resources(cpus_per_task: int, device: str | None, nodes: Sequence[dict[str, float]]) -> TaskResources:
    """One GPU per task where the cluster has GPUs (unless ``device`` is ``cpu``), else ``cpus_per_task`` CPUs.

    Raises before any task starts if no node could ever run such a task (it would wait forever).
    """
    if not isinstance(cpus_per_task, int) or cpus_per_task < 1:
        raise SetupError(f"--cpus-per-task must be a positive integer, got {cpus_per_task!r}")
    most_cpus = max((n.get("CPU", 0) for n in nodes), default=0)
    gpus = sum(n.get("GPU", 0) for n in nodes)
    wants_gpu = device is None and gpus > 0 or device is not None and device.startswith("cuda")
    if device is not None and device != "cpu" and not device.startswith("cuda"):
        raise SetupError(f"--device {device!r} cannot be used on a Ray cluster; give cpu or cuda (each task gets "
                         f"its own GPU)")
    if wants_gpu and gpus == 0:
        raise SetupError(f"--device {device} asks for GPUs but the Ray cluster has none; "
                         f"leave --device out or give cpu")
    if cpus_per_task > most_cpus:
        raise SetupError(f"each task asks for {cpus_per_task} CPUs but the largest node of the Ray cluster has "
                         f"{most_cpus:g}; lower --cpus-per-task")
    return TaskResources(cpus_per_task, 1 if wants_gpu else 0, "cuda" if wants_gpu else "cpu")


def train_spec_task(spec: RunSpec, seeds: list[int], scale: Scale, storage: Storage, device: str, threads: int,
                    max_population: int, ship: bool, progress: str) -> SpecRun:
    """What one Ray task runs: :func:`sbdlib.experiments.run_spec` for one configuration, with the task's threads."""
    torch.set_num_threads(threads)  # this worker process belongs to the task: its CPU share, not the node's
    return run_spec(spec, seeds, scale=scale, storage=storage, ship=ship, progress=progress, device=device,
                    max_population=max_population)


def _describe(run: SpecRun, scale: Scale) -> str:
    """One line on what a task did: trained, resumed (from which steps) or only evaluated."""
    steps = run.start_steps
    if all(step >= run.spec.scale_for(scale).steps for step in steps):
        how = "finished before, evaluated"
    elif any(steps):
        how = f"resumed from steps {list(steps)}"
    else:
        how = "trained"
    return f"{config_name(run.spec, scale)}: seeds {[r['seed'] for r in run.rows]} {how}"


def _first_line(exc: BaseException) -> str:
    """The gist of a task's error: its last non-empty line (Ray puts the traceback first)."""
    lines = [line for line in str(exc).strip().splitlines() if line.strip()]
    return f"{type(exc).__name__}: {lines[-1] if lines else ''}"


def _collect(refs: dict, out: Path, scale: Scale) -> list[dict[str, Any]]:
    """Wait for every task, writing the finished specs' rows in spec order after each; raise at the end on failures."""
    ray = require_ray()
    runs: dict[int, SpecRun] = {}
    failed: dict[int, str] = {}
    pending = list(refs)
    try:
        while pending:
            ready, pending = ray.wait(pending, num_returns=1)
            index, spec = refs[ready[0]]
            try:
                runs[index] = ray.get(ready[0])
            except ray.exceptions.RayError as exc:
                failed[index] = f"{config_name(spec, scale)}: {_first_line(exc)}"
                print(f"[ray] FAILED {failed[index]}", flush=True)
                continue
            print(f"[ray] {_describe(runs[index], scale)}", flush=True)
            write_results([row for i in sorted(runs) for row in runs[i].rows], out)
    except KeyboardInterrupt:
        for ref in pending:
            ray.cancel(ref, force=True)
        print("[ray] interrupted: the unfinished tasks were cancelled; rerun the command to resume them", flush=True)
        raise
    if failed:
        raise RuntimeError(f"{len(failed)} of {len(refs)} configurations failed after their retries (finished ones "
                           f"are in {out}; a rerun resumes the rest from their checkpoints):\n  "
                           + "\n  ".join(failed[i] for i in sorted(failed)))
    return [row for i in sorted(runs) for row in runs[i].rows]


def run_experiment_on_ray(experiment: str = DEFAULT_EXPERIMENT, seeds: Iterable[int] | None = None, *,
                          address: str | None = None, scale: Scale | None = None,
                          storage: Storage | str | os.PathLike | None = None, retrain: bool = False,
                          ship: bool = False, progress: str = "text", device: str | None = None,
                          max_population: int = MAX_POPULATION, specs: Sequence[RunSpec] | None = None,
                          cpus_per_task: int = 1, retries: int = DEFAULT_RETRIES) -> list[dict[str, Any]]:
    """:func:`sbdlib.experiments.run_experiment` with its configurations as Ray tasks side by side; the same rows.

    Uses the Ray runtime already started in this process if there is one, else joins (or
    starts) the cluster at ``address`` and leaves it at the end. Every check -- Ray installed,
    the cluster reachable and able to run a task, the storage writable, every configuration
    buildable -- is made before any task starts.

    Returns:
        The rows, in (spec, seed) order, also written to :func:`sbdlib.experiments.results_path`.
    """
    ray = require_ray()
    plan = plan_experiment(experiment, seeds, scale=scale, ship=ship, specs=specs, storage=storage)
    s, specs, seeds, store = plan.scale, plan.specs, plan.seeds, plan.storage
    started = connect(address)
    try:
        nodes = _alive_nodes()
        if store is None and len(nodes) > 1:
            raise SetupError(f"the Ray cluster has {len(nodes)} machines: give --storage a folder all of them share, "
                             f"or a URL (e.g. s3://bucket/sweep), so a retried task finds its checkpoints")
        store = store or open_storage(checkpoints_folder(ship))
        resources = task_resources(cpus_per_task, device, nodes)
        if retrain:  # once, here: a retried task must resume, not start again
            store.remove([checkpoint_name(spec, seed, s) for spec in specs for seed in seeds])
        task = ray.remote(train_spec_task)
        t0 = time.perf_counter()
        refs = {task.options(name=f"sbdlib {config_name(spec, s)}", **resources.options(retries)).remote(
                    spec, seeds, s, store, resources.device, resources.num_cpus, max_population, ship, progress):
                (i, spec) for i, spec in enumerate(specs)}
        print(f"[ray] {len(refs)} configurations x {len(seeds)} seeds as Ray tasks, each with "
              f"{resources.num_gpus} GPU and {resources.num_cpus} CPU; checkpoints in {store.location}", flush=True)
        rows = _collect(refs, plan.results, s)
        print(f"[ray] all {len(refs)} configurations done in {time.perf_counter() - t0:.1f} s", flush=True)
        return rows
    finally:
        if started:
            ray.shutdown()
