"""The benchmark harness itself: correctness gate, skipping, JSON schema, CLI smoke.
Fast (small workloads, NumPy systems only); no timing is asserted."""
import json
import os

import numpy as np
import pytest

from bench import harness
from bench.__main__ import main
from bench.systems import SYSTEMS, System
from bench.workloads import WORKLOADS

# the fake systems below exist in this process only: these tests use the interleaved mode
OPTS = dict(quick=True, threads=1, progress=False, reps=3, budget_s=0.05, sample_s=0.001, settle_s=0.0,
            interleaved=True)


def _scaled(build, factor):
    def b(w, args, argnums, threads):
        fn = build(w, args, argnums, threads)

        def run():
            v, gs = fn()
            return v, [g * factor for g in gs]
        return run
    return b


WRONG = System("wrong", "gradients 1% off", ("numpy",), _scaled(SYSTEMS["numpy"].build, 1.01))
NAN = System("nan", "NaN gradients", ("numpy",), _scaled(SYSTEMS["numpy"].build, np.nan))
MISSING = System("missing", "needs an absent module", ("no_such_module_for_jitgrad_bench",), SYSTEMS["numpy"].build)
BROKEN = System("broken", "raises", ("numpy",), lambda *a: (lambda: 1 / 0))


def _run(systems, wids=("W4",)):
    return harness.run([WORKLOADS[w] for w in wids], systems, harness.Options(**OPTS))


def _row(doc, system, wid="W4"):
    return next(r for r in doc["results"] if r["system"] == system and r["workload"] == wid)


def test_gate_rejects_wrong_system_and_times_the_right_one():
    doc = _run([SYSTEMS["numpy"], WRONG, NAN, BROKEN])
    ok, wrong, nan, broken = (_row(doc, s) for s in ("numpy", "wrong", "nan", "broken"))
    assert ok["status"] == "ok" and ok["timing"]["median_s"] > 0
    assert wrong["status"] == "WRONG" and wrong["timing"] is None and "reference" in wrong["reason"]
    assert wrong["grad_err"] == pytest.approx(0.01, rel=1e-6)
    assert nan["status"] == "WRONG" and nan["timing"] is None
    assert broken["status"] == "error" and "ZeroDivisionError" in broken["reason"]
    text = harness.render(doc)
    assert "WRONG" in text and "ZeroDivisionError" in text


def test_check_tolerances():
    r = [np.ones(4)]
    assert harness.check((1.0, [np.ones(4, np.float32)]), 1.0, r, 2e-3)[0]
    assert not harness.check((1.0, [np.ones(4) * 1.01]), 1.0, r, 2e-3)[0]
    assert not harness.check((1.01, [np.ones(4)]), 1.0, r, 2e-3)[0]
    assert not harness.check((1.0, [np.ones(5)]), 1.0, r, 2e-3)[0]          # shape
    assert not harness.check((1.0, []), 1.0, r, 2e-3)[0]                     # count


def test_absent_peer_is_skipped_with_reason():
    doc = _run([SYSTEMS["numpy"], MISSING])
    row = _row(doc, "missing")
    assert row["status"] == "skipped" and "no_such_module_for_jitgrad_bench" in row["reason"]
    assert doc["systems"]["missing"] == {"label": MISSING.label, "family": "peer", "available": False,
                                         "reason": row["reason"]}
    assert _row(doc, "numpy")["status"] == "ok"


def test_unsupported_workload_is_na():
    doc = _run([SYSTEMS["numba-hand"]])
    assert _row(doc, "numba-hand")["status"] == "n/a"


@pytest.mark.parametrize("wid", ["W2", "W3", "W5"])
def test_numpy_hand_gradients_match_finite_differences(wid):
    w = WORKLOADS[wid]
    args, argnums = w.make(True)
    args = [a.astype(np.float64) if a.dtype.kind == "f" else a for a in args]
    v, gs = w.numpy_vg(args, argnums)
    rng = np.random.default_rng(1)
    for i, g in zip(argnums, gs):
        d = rng.standard_normal(args[i].shape)
        eps = 1e-9 if wid == "W2" else 1e-6     # W2's ReLU kinks: keep the step tiny
        plus = list(args)
        minus = list(args)
        plus[i] = args[i] + eps * d
        minus[i] = args[i] - eps * d
        fd = (w.numpy_vg(plus, argnums)[0] - w.numpy_vg(minus, argnums)[0]) / (2 * eps)
        assert np.sum(g * d) == pytest.approx(fd, rel=1e-4, abs=1e-9)


def test_per_weight_variant_matches_all_at_once():
    w = WORKLOADS["W3-each"]
    args, argnums = w.make(True)
    v1, g1 = harness._per_weight(SYSTEMS["numpy"].build, w, args, argnums, 1)()
    v2, g2 = w.numpy_vg(args, argnums)
    assert v1 == pytest.approx(v2)
    for a, b in zip(g1, g2):
        np.testing.assert_allclose(a, b, rtol=1e-6)


ROW_KEYS = {"workload": str, "system": str, "status": str, "timing": (dict, type(None)),
            "value_err": (float, type(None)), "grad_err": (float, type(None)), "compile_s": (float, type(None)),
            "ratio_vs_best_peer": (float, type(None)), "bandwidth_frac": (float, type(None)),
            "metrics": dict, "reason": (str, type(None))}
TIMING_KEYS = {"median_s", "q1_s", "q3_s", "min_s", "max_s", "n_samples", "calls_per_sample"}


def test_cli_json_schema_markdown_and_plot(tmp_path, capsys, monkeypatch):
    # main() pins thread counts through the environment; keep that inside this test, and keep the
    # count Numba already launched with (a changed NUMBA_NUM_THREADS fails every later compile).
    import numba
    from bench.systems import thread_env
    for k in thread_env(1):
        monkeypatch.setenv(k, os.environ.get(k, ""))      # recorded, so undone after the test
        if not os.environ[k]:
            monkeypatch.delenv(k)
    monkeypatch.setenv("NUMBA_NUM_THREADS", str(numba.config.NUMBA_NUM_THREADS))
    out, md, png = tmp_path / "out.json", tmp_path / "r.md", tmp_path / "p.png"
    rc = main(["--quick", "--workloads", "W4", "--systems", "numpy,autograd", "--threads", "1", "--reps", "3", "--no-progress",
               "--json", str(out), "--markdown", str(md), "--plot", str(png)])
    assert rc == 0
    doc = json.loads(out.read_text())
    assert doc["schema"] == harness.SCHEMA
    assert set(doc) == {"schema", "meta", "workloads", "systems", "results", "targets"}
    for k in ("date", "cpu", "cores", "platform", "python", "versions", "threads", "quick", "bandwidth_Bps"):
        assert k in doc["meta"]
    assert doc["meta"]["threads"]["requested"] == 1 and doc["meta"]["quick"] is True
    assert doc["workloads"]["W4"]["kind"] == "time"
    assert {r["system"] for r in doc["results"]} == {"numpy", "autograd"}
    for r in doc["results"]:
        for k, t in ROW_KEYS.items():
            assert isinstance(r[k], t), (k, r[k])
        if r["status"] == "ok":
            assert set(r["timing"]) == TIMING_KEYS
            assert r["timing"]["q1_s"] <= r["timing"]["median_s"] <= r["timing"]["q3_s"]
    for t in doc["targets"]:
        assert set(t) == {"name", "target", "measured", "met"}
    assert md.read_text().count("| system |") == 1
    try:
        import matplotlib  # noqa: F401
        assert png.stat().st_size > 1000
    except ImportError:
        assert not png.exists()
    assert "W4" in capsys.readouterr().out


def test_cli_rejects_unknown_names():
    with pytest.raises(SystemExit):
        main(["--systems", "no-such-system", "--no-progress"])
    with pytest.raises(SystemExit):
        main(["--workloads", "W99", "--no-progress"])


def test_markdown_replaces_only_the_marked_section_of_a_readme(tmp_path):
    from bench.__main__ import BEGIN, END, write_markdown
    readme = tmp_path / "README.md"
    readme.write_text(f"# title\n\nintro\n\n{BEGIN}\nold table\n{END}\n\n## after\n")
    write_markdown(str(readme), "| new | table |\n")
    text = readme.read_text()
    assert "old table" not in text and "| new | table |" in text
    assert text.startswith("# title\n\nintro\n\n") and text.endswith(f"{END}\n\n## after\n")
    plain = tmp_path / "r.md"
    write_markdown(str(plain), "report\n")
    assert plain.read_text() == "report\n"


def test_per_process_runner_schema_failures_and_timeout():
    """The default mode: each system in its own fresh process. A real system gets a gated,
    timed row; one that raises is reported with its reason; a child past the timeout is an
    error that says so, and the run goes on."""
    opts = dict(OPTS, interleaved=False, timeout_s=120)
    doc = harness.run([WORKLOADS["W4"], WORKLOADS["W9"]], [SYSTEMS["numpy"], SYSTEMS["jitgrad-eager"]],
                      harness.Options(**opts))
    assert doc["meta"]["timing_mode"] == "per-process" and "loadavg" in doc["meta"]["machine"]
    r = _row(doc, "numpy")
    assert r["status"] == "ok" and r["timing"]["median_s"] > 0 and r["timing"]["n_samples"] >= 3
    assert r["value_err"] <= 1e-8 and set(r) >= {"workload", "system", "status", "reason", "timing", "compile_s"}
    assert _row(doc, "jitgrad-eager")["status"] == "ok"
    failed = _row(doc, "numpy", "W9")
    assert failed["status"] == "error" and "no hand-derived NumPy gradients" in failed["reason"]
    doc = harness.run([WORKLOADS["W4"]], [SYSTEMS["numpy"]], harness.Options(**dict(opts, timeout_s=0.01)))
    r = _row(doc, "numpy")
    assert r["status"] == "error" and "timed out" in r["reason"]
    assert "per-process mode" in harness.render(doc)
