"""`python -m bench` / `jitgrad-bench`: workloads x systems, checked, timed, tabulated.

    python -m bench --quick --json out.json --plot out.png --markdown README.md
    python -m bench --workloads W1,W2 --systems jitgrad,torch,jax
    python -m bench --list
    python -m bench --interleaved ...   # all systems in one process, samples round-robin (drift checks)

By default each system is timed alone in its own fresh process, one after the other.
"""
from __future__ import annotations

import argparse
import os
import sys


def parse(argv):
    p = argparse.ArgumentParser(prog="jitgrad-bench", description="jitgrad vs NumPy, Numba, PyTorch, JAX, "
                                "autograd and PyTensor: values and gradients checked against a float64 "
                                "reference, then timed.")
    p.add_argument("--quick", action="store_true", help="fewer repetitions and a smaller W3 (whole run < 2 min)")
    p.add_argument("--workloads", default="", help="comma-separated ids or prefixes (W1,W3 selects W3 and W3-each)")
    p.add_argument("--systems", default="", help="comma-separated system names (default: all)")
    p.add_argument("--threads", type=int, default=0, help="threads for every system (default: all cores)")
    p.add_argument("--json", metavar="PATH", help="write the results as JSON")
    p.add_argument("--plot", metavar="PATH", help="write a PNG bar chart (log scale)")
    p.add_argument("--markdown", metavar="PATH", help="write the report as Markdown; a file with the markers "
                   f"{BEGIN} ... {END} (the README) gets only that section replaced")
    p.add_argument("--reps", type=int, default=0, help="timing samples per system (default 5 quick, 15 full)")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    p.add_argument("--interleaved", action="store_true", help="time every system in this one process, samples "
                   "interleaved round-robin (default: each system alone in its own fresh process)")
    p.add_argument("--timeout", type=float, default=900, help="seconds per system and workload (per-process mode)")
    p.add_argument("--list", action="store_true", help="list workloads and systems and exit")
    return p.parse_args(argv)


BEGIN, END = "<!-- bench:begin -->", "<!-- bench:end -->"


def write_markdown(path, report):
    """Write `report` to `path`, or between the BEGIN/END markers when the file has them."""
    try:
        with open(path) as f:
            old = f.read()
    except FileNotFoundError:
        old = ""
    if BEGIN in old and END in old:
        head, rest = old.split(BEGIN, 1)
        report = f"{head}{BEGIN}\n{report.strip()}\n{END}{rest.split(END, 1)[1]}"
    with open(path, "w") as f:
        f.write(report)


def _select(spec, names, what, prefix=False):
    if not spec:
        return list(names)
    out = []
    for tok in (t.strip() for t in spec.split(",") if t.strip()):
        hit = [n for n in names if n == tok or (prefix and n.startswith(tok + "-"))]
        if not hit:
            raise SystemExit(f"unknown {what} {tok!r}; choose from {', '.join(names)}")
        out += [h for h in hit if h not in out]
    return out


def main(argv=None):
    a = parse(sys.argv[1:] if argv is None else argv)
    threads = a.threads or os.cpu_count() or 1
    from .systems import thread_env
    for k, v in thread_env(threads).items():      # before numpy / numba / torch / jax load
        if k == "XLA_FLAGS" or k not in os.environ:
            os.environ[k] = v
    from .harness import Options, plot, render, run
    from .systems import SYSTEMS
    from .workloads import WORKLOADS
    if a.list:
        for w in WORKLOADS.values():
            print(f"{w.id:8} {w.title}")
        for s in SYSTEMS.values():
            print(f"{s.name:14} {s.label}" + (f"  [unavailable: {s.unavailable()}]" if s.unavailable() else ""))
        return 0
    ws = [WORKLOADS[n] for n in _select(a.workloads, list(WORKLOADS), "workload", prefix=True)]
    ss = [SYSTEMS[n] for n in _select(a.systems, list(SYSTEMS), "system")]
    opts = Options(quick=a.quick, threads=threads, progress=not a.no_progress, reps=a.reps,
                   interleaved=a.interleaved, timeout_s=a.timeout)
    doc = run(ws, ss, opts)
    print(render(doc))
    if a.json:
        import json
        with open(a.json, "w") as f:
            json.dump(doc, f, indent=1)
    if a.markdown:
        write_markdown(a.markdown, render(doc, markdown=True))
    if a.plot:
        try:
            plot(doc, a.plot)
        except ImportError as e:
            print(f"--plot: matplotlib not available ({e})", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
