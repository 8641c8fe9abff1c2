"""nnfs-bench: the harness on tiny sizes (real fits, real GEMMs; no timing assertions)."""

import json
import math
import time
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

from nnfs import bench

TINY = bench.BenchOptions(quick=True, repeats=2, moons_samples=300, hidden=(8,), batch_size=50,
                          epochs=2, wide_in=8, wide_hidden=(16, 16), wide_out=3, wide_batch=8,
                          wide_steps=2, peak_n=32, peak_reps=1)


def test_gemm_flops_hand_computed():
    # sizes 2-3-1, batch 4: layer 0: x@W and x.T@dz, 2*4*2*3 = 48 each -> 96 (no input grad);
    # layer 1: x@W, x.T@dz, dz@W.T, 2*4*3*1 = 24 each -> 72. Total 168.
    assert bench.gemm_flops(4, [2, 3, 1]) == 168
    assert bench.gemm_flops(4, [2, 3, 1], input_grad=True) == 168 + 48
    # the wide case of the bench: 64-1024-1024-10, batch 256
    expected = 2 * 2 * 256 * 64 * 1024 + 3 * 2 * 256 * 1024 * 1024 + 3 * 2 * 256 * 1024 * 10
    assert bench.gemm_flops(256, [64, 1024, 1024, 10]) == expected


@pytest.mark.parametrize("batch, sizes", [(0, [2, 3]), (4, [2]), (4, [2, 0, 1])])
def test_gemm_flops_rejects_bad_shapes(batch, sizes):
    with pytest.raises(ValueError, match="batch="):
        bench.gemm_flops(batch, sizes)


def test_options_reject_bad_values():
    with pytest.raises(ValueError, match="repeats=0"):
        bench.BenchOptions(repeats=0)
    with pytest.raises(ValueError, match="test_size=1.5"):
        bench.BenchOptions(test_size=1.5)


def test_target_verdicts():
    assert bench.target("r", 0.4, "<=", 0.45)["met"] is True
    assert bench.target("r", 0.5, "<=", 0.45)["met"] is False
    assert bench.target("f", 0.7, ">=", 0.65)["met"] is True
    assert bench.target("f", None, ">=", 0.65)["met"] is None
    with pytest.raises(ValueError, match="op="):
        bench.target("f", 1.0, "<", 0.65)


def test_resolve_sections():
    assert bench.resolve_sections(None) == list(bench.SECTIONS)
    assert bench.resolve_sections("wide,moons") == ["moons", "wide"]
    assert bench.resolve_sections("speed") == ["moons", "digits", "wide"]
    with pytest.raises(ValueError, match="--only='nope'"):
        bench.resolve_sections("nope")


def _positive_finite(x):
    return isinstance(x, float) and math.isfinite(x) and x > 0


def _check_spread(s):
    assert set(s) >= {"median", "min", "max", "mean", "values"}
    assert s["min"] <= s["median"] <= s["max"]


def test_moons_section_tiny():
    out = bench.section_moons(TINY)
    impls = out["impls"]
    assert set(impls) == {"nnfs_f64", "nnfs_f32", "sklearn", "nnfs_f64_eval_end"}
    for name, entry in impls.items():
        runs = out["runs"][name]
        assert len(runs) == TINY.repeats
        for run in runs:
            assert _positive_finite(run["ms_per_epoch"])
            assert 0.0 <= run["test_acc"] <= 1.0
        _check_spread(entry["ms_per_epoch"])
        if name != "sklearn":
            _check_spread(entry["ratio"])
            _check_spread(entry["cpu_ratio"])
            assert _positive_finite(entry["ratio"]["median"])
    assert out["data"]["n_train"] + out["data"]["n_test"] == TINY.moons_samples
    for key in ("ratio_f64", "ratio_f32", "acc_nnfs", "acc_sklearn"):
        assert math.isfinite(out["summary"][key])
    assert {t["met"] for t in out["targets"]} <= {True, False}
    assert any("moons" in line for line in out["lines"])


def test_digits_section_tiny():
    out = bench.section_digits(TINY)
    assert out["data"]["n_train"] > out["data"]["n_test"] > 0
    for name in ("nnfs_f64", "nnfs_f32", "sklearn"):
        assert _positive_finite(out["impls"][name]["ms_per_epoch"]["median"])
    assert 0.0 <= out["summary"]["digits_acc_nnfs"] <= 1.0


def test_wide_section_tiny():
    out = bench.section_wide(TINY)
    assert out["gemm_flops_per_step"] == bench.gemm_flops(8, [8, 16, 16, 3])
    for clock in ("wall", "cpu"):
        for key in ("peak_gflops", "step_ms", "step_gflops", "peak_fraction", "grads_only_ms",
                    "grads_only_peak_fraction"):
            _check_spread(out[clock][key])
            assert all(_positive_finite(v) for v in out[clock][key]["values"])
            assert len(out[clock][key]["values"]) == TINY.repeats
    assert _positive_finite(out["summary"]["wide_peak_fraction"])
    assert _positive_finite(out["summary"]["wide_cpu_peak_fraction"])


def test_run_and_json_writer(tmp_path):
    result = bench.run(TINY, ["wide"], echo=lambda line: None)
    path = tmp_path / "bench.json"
    bench.write_json(result, str(path))
    data = json.loads(path.read_text())
    for key in bench.REQUIRED_KEYS:
        assert key in data
    assert data["ratio_f64"] is None  # moons not run: null, never a made-up number
    assert data["wide_peak_fraction"] > 0
    assert data["env"]["bench_threads"] == 1 and data["env"]["blas"]
    assert "OPENBLAS_CORETYPE" in data["env"]
    assert data["sections"]["wide"]["section_seconds"] > 0
    with pytest.raises(ValueError, match="missing required keys"):
        bench.write_json({"ratio_f64": 0.5}, str(tmp_path / "bad.json"))


def test_cli_quick_wide_only(tmp_path, capsys):
    path = tmp_path / "b.json"
    assert bench.main(["--quick", "--only", "wide", "--repeats", "2", "--json", str(path)]) == 0
    printed = capsys.readouterr().out
    assert "QUICK RUN" in printed and "wide_peak_fraction" in printed
    assert json.loads(path.read_text())["quick"] is True


def test_cli_rejects_unknown_section(capsys):
    with pytest.raises(SystemExit) as exc:
        bench.main(["--only", "bogus"])
    assert exc.value.code == 2
    assert "bogus" in capsys.readouterr().err


def test_added_section_runs_and_prints(monkeypatch):
    # the extension point for other parts (tracking, report): a function returning a dict
    def section_sum(opts):
        x = np.arange(1000.0)
        t0 = time.perf_counter()
        total = float(x.sum())
        return {"sum": total, "seconds": time.perf_counter() - t0, "summary": {"sum_total": total}}

    monkeypatch.setitem(bench.SECTIONS, "sum", section_sum)
    assert bench.resolve_sections("sum") == ["sum"]
    printed = []
    result = bench.run(TINY, ["sum"], echo=printed.append)
    assert result["sum_total"] == 499500.0
    assert result["sections"]["sum"]["sum"] == 499500.0
    assert any(line.strip().startswith("sum") and "499500" in line for line in printed)


# ---------------------------------------------------------------- tracking and report sections
TINY_TRACKING = bench.BenchOptions(quick=True, tracking_repeats=1, tracking_warmup=0,
                                   tracking_epochs=3, sweep_jobs=2, sweep_epochs=2,
                                   sweep_samples=200, sweep_width=4, report_runs=12,
                                   capacity_loop=200_000)


def test_tracking_section_tiny():
    # real fits with and without a real SQLite store, and two real 2-job Hydra sweeps
    out = bench.section_tracking(TINY_TRACKING)
    s = out["summary"]
    for key in ("tracking_overhead_ms", "tracking_phases_ms", "run_tracked_ms",
                "run_untracked_ms"):
        assert math.isfinite(s[key]), key
    assert s["run_tracked_ms"] > 0 and s["run_untracked_ms"] > 0
    assert s["tracking_phases_ms"] > 0  # opening, logging and closing a run is never free
    for key in ("sweep_speedup", "sweep_speedup_sweep_wall", "sweep_basic_s", "sweep_joblib_s",
                "sweep_job_fit_s"):
        assert _positive_finite(s[key]), key
    assert s["sweep_speedup"] == pytest.approx(s["sweep_basic_s"] / s["sweep_joblib_s"])
    assert out["sweep"]["jobs"] == 2 and out["overhead"]["epochs"] == 3
    assert 0 < s["parallel_capacity"] <= 2 * 1.5  # 2 cores; timing noise aside
    assert len(out["capacity"]["before"]["two_at_once_s"]) == 2
    assert [t["threshold"] for t in out["targets"]] == [150.0, 150.0, 1.7, 1.7]
    assert {t["met"] for t in out["targets"]} <= {True, False}
    assert "2 jobs, not 12" in out["targets"][2]["note"]
    assert any("joblib" in line for line in out["lines"])


@pytest.fixture(scope="module")
def tiny_report(tmp_path_factory):
    """bench.run of the report section on a cache folder holding a half-built store (as an
    interrupted bench leaves it): the section removes it and builds a 12-run store."""
    from nnfs.report import synthetic

    opts = replace(TINY_TRACKING, cache_dir=str(tmp_path_factory.mktemp("bench") / "cache"))
    half = Path(opts.cache_dir) / "report-store-12"
    half.mkdir(parents=True)
    (half / synthetic.MARKER).write_text(json.dumps({"complete": False}))
    (half / "mlflow.db").write_text("torn")
    return opts, bench.run(opts, ["report"], echo=lambda line: None)


def test_report_section_builds_then_reuses_the_store(tiny_report, tmp_path):
    opts, result = tiny_report
    first = result["sections"]["report"]
    assert first["n_runs"] == 12 and first["store_cached"] is False
    assert first["store_build_s"] > 0 and _positive_finite(first["report_s"])
    assert "overview" in first["sections"] and first["n_figures"] > 0
    # not 1,000 runs: measured, but the target is not judged and report_1000_s stays null
    assert result["report_1000_s"] is None and result["report_s"] == first["report_s"]
    assert first["targets"][0]["met"] is None and "not judged" in first["targets"][0]["note"]
    # the JSON carries the new keys; the sections not run are null, never made up
    path = tmp_path / "bench.json"
    bench.write_json(result, str(path))
    data = json.loads(path.read_text())
    for key in ("tracking_overhead_ms", "sweep_speedup", "report_1000_s", "report_s",
                "report_n_runs", "report_store_build_s"):
        assert key in data, key
    assert data["tracking_overhead_ms"] is None and data["sweep_speedup"] is None
    assert data["report_1000_s"] is None and data["report_n_runs"] == 12
    second = bench.section_report(opts)
    assert second["store_cached"] is True and second["n_runs"] == 12
    assert second["store_dir"] == first["store_dir"]


def test_synthetic_store_reads_back(tiny_report, tmp_path):
    from mlflow import MlflowClient

    from nnfs.report import synthetic

    opts, result = tiny_report
    root = result["sections"]["report"]["store_dir"]
    store = synthetic.cached_store(root, 12)
    assert store["cached"] is True
    client = MlflowClient(tracking_uri=store["tracking_uri"])
    exp = client.get_experiment_by_name(store["experiment"])
    children = client.search_runs([exp.experiment_id],
                                  filter_string=f"tags.mlflow.parentRunId = "
                                                f"'{store['parent_run_id']}'")
    assert len(children) == 12
    assert {r.data.tags.get("impl") for r in children} == {"nnfs", "sklearn"}
    nnfs_runs = [r for r in children if r.data.tags.get("impl") == "nnfs"
                 and r.info.status == "FINISHED"]
    assert nnfs_runs  # seed 0: none of the first ones diverges
    run = nnfs_runs[0]
    history = client.get_metric_history(run.info.run_id, "test/acc")
    assert [m.step for m in history] == list(range(1, 51))  # one point per epoch, bulk-written
    assert run.data.metrics["test/acc"] == history[-1].value  # latest_metrics kept right
    assert run.data.params["dataset"] == "xor"
    assert [a.path for a in client.list_artifacts(run.info.run_id)] == ["decision_boundary.png"]
    # the half-built store the fixture left there was removed before the build
    assert not (Path(root) / "mlflow.db").exists() and Path(store["tracking_uri"][10:]).exists()
    # a folder that is not a synthetic store is refused and left alone
    (tmp_path / "other").mkdir()
    (tmp_path / "other" / "notes.txt").write_text("mine")
    with pytest.raises(ValueError, match="store_dir="):
        synthetic.cached_store(tmp_path / "other", 3)
    assert (tmp_path / "other" / "notes.txt").read_text() == "mine"
