"""``python -m bench run [--quick] [--visitors N] [--only NAME[,NAME]] ...``: the benchmark suite.

Starts its own redis-server and gunicorn servers on free loopback ports, runs each benchmark
against a reference and the project with the same server settings, prints the ratios, and
writes ``bench/results/<time>.json`` and ``.md``. Everything it starts stops when it ends.
"""

from __future__ import annotations

import argparse
import signal
import sys
import tempfile
import time
from pathlib import Path

from . import report, servers, suite


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True)
    run = sub.add_parser("run", help="run the benchmarks")
    run.add_argument("--quick", action="store_true", help="small counts: a minute or two in all")
    run.add_argument("--visitors", type=int, help="visitors in the journey benchmark (up to 100,000)")
    run.add_argument("--only", help=f"comma-separated subset of: {', '.join(suite.BENCHMARKS)}")
    run.add_argument("--requests", type=int, help="requests per side and round in the throughput benchmarks")
    run.add_argument("--rounds", type=int, help="reference/project alternations (the best of each counts)")
    run.add_argument("--concurrency", type=int, help="requests in flight in the throughput benchmarks")
    run.add_argument("--connections", type=int,
                     help="connections of the journey, one per visitor in it at once (default 1000)")
    run.add_argument("--admit-rate", type=int, help="visitors admitted per second by the journey's strategy")
    run.add_argument("--fill", type=int, help="visitors put in line for the memory measurement")
    run.add_argument("--workers", type=int, default=1, help="gunicorn workers (default 1)")
    run.add_argument("--threads", type=int, default=4, help="threads per worker (default 4)")
    run.add_argument("--results", default=str(Path(__file__).parent / "results"), help="results directory")
    run.add_argument("--no-progress", action="store_true", help="no progress bars")
    return parser.parse_args(argv)


def options_from(args: argparse.Namespace) -> suite.Options:
    opts = suite.Options.quick_options() if args.quick else suite.Options()
    mapping = {"visitors": args.visitors, "requests": args.requests, "rounds": args.rounds,
               "concurrency": args.concurrency, "journey_connections": args.connections,
               "admit_rate": args.admit_rate, "fill": args.fill}
    for key, value in mapping.items():
        if value is not None:
            setattr(opts, key, value)
    if args.connections is not None:
        opts.max_live_visitors = args.connections
    if not 1 <= opts.visitors <= 100_000:
        raise SystemExit("--visitors must be between 1 and 100,000")
    if args.only:
        names = {n.strip() for n in args.only.split(",") if n.strip()}
        unknown = names - set(suite.BENCHMARKS)
        if unknown:
            raise SystemExit(f"unknown benchmark(s): {', '.join(sorted(unknown))}; "
                             f"choose from {', '.join(suite.BENCHMARKS)}")
        opts.only = names
    opts.server = servers.ServerConfig(workers=args.workers, threads=args.threads)
    opts.progress = not args.no_progress and sys.stderr.isatty()
    return opts


def _interrupt(signum: int, frame: object) -> None:
    raise KeyboardInterrupt  # unwinds every context manager, so every server started is stopped


def main(argv: list[str] | None = None) -> int:
    signal.signal(signal.SIGTERM, _interrupt)
    args = parse_args(argv)
    opts = options_from(args)
    started = time.time()
    results = []
    with tempfile.TemporaryDirectory(prefix="waitingroom-bench-") as tmp:
        workdir = Path(tmp)
        with servers.redis_server(workdir / "redis") as redis_server:
            bench = suite.Bench(opts, workdir, redis_server)
            meta = suite.machine()
            meta["redis"] = redis_server.version()
            meta["server"] = opts.server.describe()
            meta["quick"] = opts.quick
            for name, fn in suite.BENCHMARKS.items():
                if opts.only and name not in opts.only:
                    continue
                print(f"== {name}", file=sys.stderr, flush=True)
                for result in fn(bench):
                    results.append(result)
                    print(report.one_line(result), flush=True)
    meta["seconds"] = round(time.time() - started, 1)
    paths = report.write(Path(args.results), meta, results)
    print(f"results: {paths[0]} and {paths[1]}")
    failed = [r["name"] for r in results if r.get("pass") is False]
    if failed:
        print(f"below target: {', '.join(failed)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
