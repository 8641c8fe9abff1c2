"""The offline copy of a run whose store failed mid-run, and ``nnfs-sync`` to upload it later.

When the tracking store stops answering after a fit (a server down, a disk gone), the trained
result is not lost: ``save_offline`` writes it to ``<job dir>/offline/`` (``run.json`` with
name, params, tags, experiment and status; ``history.json`` with every per-epoch metric and the
finals; ``weights.npz``; ``config.yaml``). ``nnfs-sync <dir or sweep dir>`` finds every such
folder below the path and uploads it as a run once the store answers again; a folder that was
uploaded gets ``synced.json`` and is not uploaded twice.

    nnfs-sync multirun/2026-12-03/18-00-00                  # to the store the run was meant for
    nnfs-sync outputs/... --uri sqlite:///other/mlflow.db   # or to another one
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from nnfs import tracking

OFFLINE = "offline"


@dataclass
class OfflineHistory:
    """What ``tracking.log_history`` reads of a ``nnfs.train.History``."""

    epochs: list[int]
    metrics: dict[str, list[float]]
    final: dict[str, float] = field(default_factory=dict)


def save_offline(folder: Path, *, history, run: dict[str, Any], config_yaml: str,
                 X_example: np.ndarray | None = None) -> Path:
    """Write one run to ``folder`` (made whole in a temporary sibling, then renamed: a crash
    leaves no half folder). ``run``: run_name, experiment, uri, params, tags, status,
    parent_run_id, run_id (the run left in the failed store, if any). Returns ``folder``."""
    folder = Path(folder)
    folder.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=".offline-", dir=folder.parent))
    body = {"epochs": [int(e) for e in history.epochs],
            "metrics": {k: [float(v) for v in vs] for k, vs in history.metrics.items()},
            "final": {k: float(v) for k, v in history.final.items() if v is not None}}
    (tmp / "history.json").write_text(json.dumps(body))
    meta = {k: (tracking.redact(v) if isinstance(v, str) else v) for k, v in run.items()}
    (tmp / "run.json").write_text(json.dumps(meta, default=str, indent=1))
    (tmp / "config.yaml").write_text(tracking.redact(config_yaml))
    net = getattr(history, "net", None)
    if net is not None:
        tracking.save_npz(net, tmp / "weights.npz")
    if X_example is not None:
        np.save(tmp / "X_example.npy", np.asarray(X_example, dtype=np.float64))
    if folder.exists():
        shutil.rmtree(folder)
    os.replace(tmp, folder)
    return folder


def find(path: Path) -> list[Path]:
    """Every offline folder at or below ``path`` not yet uploaded, in a stable order."""
    path = Path(path)
    found = [p.parent for p in sorted(path.rglob("run.json")) if p.parent.name == OFFLINE]
    if (path / "run.json").exists() and path not in found:
        found.insert(0, path)
    return [p for p in found if not (p / "synced.json").exists()]


def upload(folder: Path, uri: str | None = None) -> str:
    """Upload one offline folder as a FINISHED (or FAILED, as recorded) run; its run id."""
    folder = Path(folder)
    meta = json.loads((folder / "run.json").read_text())
    body = json.loads((folder / "history.json").read_text())
    uri = tracking.resolve_uri(uri or meta.get("uri"))
    reason = tracking.check_store(uri)
    if reason:
        raise ConnectionError(f"tracking.uri={tracking.redact(uri)}: {reason}")
    client = tracking.get_client(uri)
    exp = tracking.ensure_experiment(client, meta["experiment"], uri)
    tags = {**meta.get("tags", {}), "synced_from": str(folder.resolve())}
    if meta.get("run_id"):
        tags["offline_of_run"] = meta["run_id"]
    run_id = tracking.start_child_run(client, exp, run_name=meta["run_name"],
                                      parent_run_id=meta.get("parent_run_id"),
                                      params=meta.get("params", {}), tags=tags)
    history = OfflineHistory(body["epochs"], body["metrics"], body["final"])
    try:
        tracking.log_history(client, run_id, history)
        files: dict[str, bytes | str] = {"config.yaml": (folder / "config.yaml").read_text()}
        tracking.log_artifact_bytes(client, run_id, files)
        end_tags = dict(meta.get("end_tags", {}))
        weights = folder / "weights.npz"
        if weights.exists() and (folder / "X_example.npy").exists() and meta.get("log_model"):
            net = tracking.load_npz(weights)
            end_tags["model_uri"] = tracking.log_pyfunc(uri, run_id, net,
                                                        np.load(folder / "X_example.npy"))
        elif weights.exists():
            client.log_artifact(run_id, str(weights))
        tracking.end_run(client, run_id, meta.get("status", "FINISHED"), end_tags)
    except BaseException as exc:
        tracking.end_run(client, run_id, "FAILED", tracking.error_tags(exc))
        raise
    (folder / "synced.json").write_text(json.dumps({"run_id": run_id,
                                                    "uri": tracking.redact(uri)}))
    return run_id


def main(argv: list[str] | None = None) -> int:
    """``nnfs-sync PATH [--uri URI]``: upload every offline run below PATH."""
    parser = argparse.ArgumentParser(prog="nnfs-sync", description=__doc__.splitlines()[0])
    parser.add_argument("path", type=Path, help="a job folder, a sweep folder, or above")
    parser.add_argument("--uri", default=None,
                        help="the store to upload to (default: the one each run was meant for)")
    args = parser.parse_args(argv)
    if not args.path.exists():
        print(f"nnfs-sync: error: path={args.path} does not exist; allowed: a job or sweep "
              f"folder holding {OFFLINE}/ folders", file=sys.stderr)
        return 2
    folders = find(args.path)
    if not folders:
        print(f"nnfs-sync: nothing to upload below {args.path}")
        return 0
    failed = 0
    for folder in folders:
        try:
            run_id = upload(folder, args.uri)
            print(f"nnfs-sync: {folder} -> run {run_id}")
        except Exception as exc:
            failed += 1
            print(f"nnfs-sync: error: {folder} not uploaded: {type(exc).__name__}: "
                  f"{tracking.redact(str(exc)).splitlines()[0] if str(exc) else ''}",
                  file=sys.stderr)
    return 1 if failed else 0


def _entry() -> None:
    raise SystemExit(main())


if __name__ == "__main__":
    _entry()
