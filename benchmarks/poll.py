"""Polling benchmark: this project against the peer library ``reader`` and a naive loop.

Run ``python benchmarks/poll.py [--feeds 1000 10000] [--quick] [--latency S] [--repeat R] [--profile]``
(``make bench-poll``). For each N, three pollers meet the same local feed farm
(``benchmarks/farm.py``: N RSS feeds of 20 entries of ~1 KB, ETag/Last-Modified/304),
each on a freshly started farm with the same seed, each in its own process so its peak
memory is its own (``ru_maxrss`` from ``wait4``):

- ``aggregator``: ``aggregator fetch --once --skip-articles`` on a fresh SQLite database
  (feeds imported from the farm's OPML first, untimed), then, after the farm changed 10% of
  its feeds, ``aggregator fetch --once --all --skip-articles``. Per-host connection limit
  and poll concurrency raised to 64 (the farm is one host; defaults are 4 and 32).
- ``reader``: ``add_feed`` for each feed (untimed), ``update_feeds(workers=16)``, then
  ``update_feeds(scheduled=False, workers=16)``.
- ``naive``: ``feedparser.parse(url)`` for each feed in turn; the second pass sends the
  ETag/Last-Modified of the first.

Rates are feeds per second of the polling work itself (the aggregator's own summary line;
the time around ``update_feeds`` / the loop for the others); wall-clock seconds including
process start-up are printed beside them. Ratios are against ``reader`` in the same run.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import sqlite3
import subprocess
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

REPO_ROOT = Path(__file__).resolve().parents[1]
if str(REPO_ROOT) not in sys.path:  # run as a script: make ``benchmarks.farm`` importable
    sys.path.insert(0, str(REPO_ROOT))

from benchmarks.farm import FarmProcess  # noqa: E402

POLLERS = ("aggregator", "reader", "naive")
READER_WORKERS = 16
MUTATE_FRACTION = 0.1
TARGET_FIRST = 3.0
TARGET_CONDITIONAL = 5.0
TARGET_PEAK_MB = 300.0
SUMMARY_RE = re.compile(
    r"polled (?P<feeds>\d+) feeds: (?P<not_modified>\d+) not modified, (?P<new>\d+) new entries, "
    r"(?P<updated>\d+) updated, (?P<errors>\d+) errors in (?P<seconds>[0-9.]+) ?s"
)


@dataclass
class PassResult:
    """One pass of one poller."""

    feeds: int
    seconds: float  # the polling work
    wall_s: float  # the whole process, start-up included
    peak_rss_mb: float
    entries: int  # entries the poller holds after the pass
    errors: int = 0
    note: str = ""

    @property
    def rate(self) -> float:
        return self.feeds / self.seconds if self.seconds > 0 else float("nan")


@dataclass
class PollerResult:
    name: str
    first: PassResult | None = None
    conditional: PassResult | None = None
    failure: str = ""
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def peak_rss_mb(self) -> float:
        return max((p.peak_rss_mb for p in (self.first, self.conditional) if p), default=0.0)


# --- running a child process and measuring it


@dataclass
class ChildRun:
    returncode: int
    wall_s: float
    peak_rss_mb: float
    stdout: str
    stderr: str


def run_child(args: Sequence[str], *, env: dict[str, str], workdir: Path) -> ChildRun:
    """Run ``args`` to completion; wall time and peak RSS (ru_maxrss of wait4) of the child."""
    out_path = workdir / "child.out"
    err_path = workdir / "child.err"
    with out_path.open("wb") as out, err_path.open("wb") as err:
        started = time.perf_counter()
        process = subprocess.Popen(list(args), stdout=out, stderr=err, env=env, cwd=workdir)
        # wait4 (not Popen.wait) because it returns the child's own resource usage.
        _, status, usage = os.wait4(process.pid, 0)
        wall = time.perf_counter() - started
    process.returncode = os.waitstatus_to_exitcode(status)
    return ChildRun(
        returncode=process.returncode,
        wall_s=wall,
        peak_rss_mb=usage.ru_maxrss / 1024,  # KiB on Linux
        stdout=out_path.read_text(errors="replace"),
        stderr=err_path.read_text(errors="replace"),
    )


def child_env(extra: dict[str, str]) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("AGGREGATOR_")}
    env.update(extra)
    return env


def _tail(text: str, lines: int = 8) -> str:
    return "\n".join(text.strip().splitlines()[-lines:])


# --- the three pollers


def aggregator_command() -> list[str]:
    script = Path(sys.executable).with_name("aggregator")
    if script.exists():
        return [str(script)]
    return [sys.executable, "-m", "aggregator"]


def aggregator_env(db_path: Path, opml_path: Path, args: argparse.Namespace) -> dict[str, str]:
    return child_env(
        {
            "AGGREGATOR_DATABASE_URL": f"sqlite+aiosqlite:///{db_path}",
            "AGGREGATOR_AUTO_MIGRATE": "true",
            "AGGREGATOR_ALLOWED_NETWORKS": "127.0.0.1/32",
            "AGGREGATOR_IMPORT_OPML": str(opml_path),
            "AGGREGATOR_MAX_PER_HOST": str(args.max_per_host),
            "AGGREGATOR_POLL_CONCURRENCY": str(args.concurrency),
            "AGGREGATOR_FETCH_ARTICLES": "false",
        }
    )


def _aggregator_pass(
    command: list[str], env: dict[str, str], workdir: Path, db_path: Path, feeds: int
) -> PassResult:
    run = run_child(command, env=env, workdir=workdir)
    if run.returncode != 0:
        raise RuntimeError(
            f"`{' '.join(command[-4:])}` exited {run.returncode}: {_tail(run.stderr + run.stdout)}"
        )
    match = SUMMARY_RE.search(run.stdout + run.stderr)
    seconds, errors, polled, note = run.wall_s, 0, feeds, "no summary line: wall time used"
    if match:
        seconds = float(match["seconds"])
        errors = int(match["errors"])
        polled = int(match["feeds"])
        note = f"{match['not_modified']} not modified, {match['new']} new"
    with sqlite3.connect(db_path) as conn:
        entries = conn.execute("SELECT count(*) FROM entries").fetchone()[0]
    return PassResult(polled, seconds, run.wall_s, run.peak_rss_mb, entries, errors, note)


def bench_aggregator(
    farm: FarmProcess, workdir: Path, args: argparse.Namespace, profile_dir: Path | None = None
) -> PollerResult:
    result = PollerResult("aggregator")
    db_path = workdir / "aggregator.sqlite3"
    opml_path = workdir / "farm.opml"
    opml_path.write_bytes(farm.opml_bytes())
    env = aggregator_env(db_path, opml_path, args)
    base = aggregator_command()
    if profile_dir is not None:
        base = profiler_prefix("{out}") + base
    # Import and migrate outside the timed passes, as reader's add_feed is untimed too.
    setup = run_child(
        [*aggregator_command(), "opml", "import", str(opml_path)], env=env, workdir=workdir
    )
    if setup.returncode != 0:
        result.extra["setup"] = "opml import failed; relying on AGGREGATOR_IMPORT_OPML"
    first_args = ["fetch", "--once", "--skip-articles"]
    second_args = ["fetch", "--once", "--all", "--skip-articles"]

    def command(pass_name: str, rest: list[str]) -> list[str]:
        if profile_dir is None:
            return [*base, *rest]
        out = str(profile_dir / f"aggregator-{pass_name}.{profile_suffix()}")
        return [part.replace("{out}", out) for part in base] + rest

    try:
        result.first = _aggregator_pass(
            command("first", first_args), env, workdir, db_path, farm.feeds
        )
        farm.mutate(MUTATE_FRACTION)
        result.conditional = _aggregator_pass(
            command("conditional", second_args), env, workdir, db_path, farm.feeds
        )
    except (RuntimeError, sqlite3.Error) as exc:
        result.failure = str(exc)
    return result


def _in_child(poller: str, pass_name: str, workdir: Path, urls_file: Path) -> PassResult:
    """Run one pass of ``reader`` or ``naive`` as this script in a child process."""
    args = [sys.executable, __file__, "--child", poller, pass_name, str(urls_file)]
    run = run_child(args, env=child_env({}), workdir=workdir)
    if run.returncode != 0:
        raise RuntimeError(
            f"{poller} {pass_name} pass exited {run.returncode}: {_tail(run.stderr)}"
        )
    report = json.loads(run.stdout.strip().splitlines()[-1])
    return PassResult(
        report["feeds"],
        report["seconds"],
        run.wall_s,
        run.peak_rss_mb,
        report["entries"],
        report.get("errors", 0),
    )


def bench_child_poller(name: str, farm: FarmProcess, workdir: Path) -> PollerResult:
    result = PollerResult(name)
    urls_file = workdir / "urls.txt"
    urls_file.write_text("\n".join(farm.urls()) + "\n")
    try:
        result.first = _in_child(name, "first", workdir, urls_file)
        farm.mutate(MUTATE_FRACTION)
        result.conditional = _in_child(name, "conditional", workdir, urls_file)
    except (RuntimeError, json.JSONDecodeError, KeyError) as exc:
        result.failure = str(exc)
    return result


def child_reader(pass_name: str, urls: list[str], workdir: Path) -> dict[str, Any]:
    from reader import make_reader

    reader = make_reader(str(workdir / "reader.sqlite"))
    try:
        if pass_name == "first":
            for url in urls:
                reader.add_feed(url, exist_ok=True)
        started = time.perf_counter()
        if pass_name == "first":
            reader.update_feeds(workers=READER_WORKERS)
        else:
            reader.update_feeds(scheduled=False, workers=READER_WORKERS)
        seconds = time.perf_counter() - started
        errors = sum(1 for feed in reader.get_feeds() if feed.last_exception is not None)
        entries = reader.get_entry_counts().total
    finally:
        reader.close()
    return {"feeds": len(urls), "seconds": seconds, "entries": entries, "errors": errors}


def child_naive(pass_name: str, urls: list[str], workdir: Path) -> dict[str, Any]:
    import feedparser

    state_path = workdir / "naive-state.json"
    state: dict[str, Any] = (
        {} if pass_name == "first" else json.loads(state_path.read_text(encoding="utf-8"))
    )
    seen: set[str] = set(state.pop("__seen__", []))
    errors = 0
    started = time.perf_counter()
    for url in urls:
        etag, modified = state.get(url, (None, None))
        parsed = feedparser.parse(url, etag=etag, modified=modified)
        status = parsed.get("status")
        if status not in (200, 304):
            errors += 1
            continue
        state[url] = (parsed.get("etag", etag), parsed.get("modified", modified))
        seen.update(f"{url} {entry.get('id')}" for entry in parsed.entries)
    seconds = time.perf_counter() - started
    state["__seen__"] = sorted(seen)
    state_path.write_text(json.dumps(state), encoding="utf-8")
    return {"feeds": len(urls), "seconds": seconds, "entries": len(seen), "errors": errors}


def child_main(poller: str, pass_name: str, urls_file: Path) -> None:
    urls = urls_file.read_text().split()
    workdir = urls_file.parent
    run = child_reader if poller == "reader" else child_naive
    print(json.dumps(run(pass_name, urls, workdir)), flush=True)


# --- the report


def _fmt_rate(p: PassResult | None) -> str:
    return f"{p.rate:9.1f}" if p else f"{'-':>9}"


def _fmt_s(p: PassResult | None, attr: str) -> str:
    return f"{getattr(p, attr):8.2f}" if p else f"{'-':>8}"


def print_table(n: int, results: list[PollerResult], args: argparse.Namespace) -> None:
    print(
        f"\nN = {n:,} feeds (20 entries x ~1 KB each, latency {args.latency * 1000:.0f} ms; "
        f"aggregator: max_per_host={args.max_per_host}, poll_concurrency={args.concurrency}; "
        f"reader: workers={READER_WORKERS}; best of {args.repeat} round(s))"
    )
    print(
        f"{'poller':<11}{'first f/s':>10}{'cond f/s':>10}{'first s':>9}{'cond s':>9}"
        f"{'wall1 s':>9}{'wall2 s':>9}{'peak MB':>9}{'entries':>9}{'errors':>8}"
    )
    for r in results:
        if r.failure and not r.first:
            print(f"{r.name:<11}FAILED: {r.failure}")
            continue
        errors = sum(p.errors for p in (r.first, r.conditional) if p)
        last = r.conditional or r.first
        print(
            f"{r.name:<11}{_fmt_rate(r.first)} {_fmt_rate(r.conditional)}"
            f"{_fmt_s(r.first, 'seconds')} {_fmt_s(r.conditional, 'seconds')}"
            f"{_fmt_s(r.first, 'wall_s')} {_fmt_s(r.conditional, 'wall_s')}"
            f"{r.peak_rss_mb:9.0f}{last.entries if last else 0:9d}{errors:8d}"
        )
        if r.failure:
            print(f"{'':<11}FAILED: {r.failure}")
    by_name = {r.name: r for r in results}
    ours, peer = by_name.get("aggregator"), by_name.get("reader")
    if ours and peer and ours.first and peer.first:
        first_ratio = ours.first.rate / peer.first.rate
        line = f"aggregator vs reader: first pass {first_ratio:.2f}x (target >= {TARGET_FIRST:g}x)"
        if ours.conditional and peer.conditional:
            cond_ratio = ours.conditional.rate / peer.conditional.rate
            line += f", conditional pass {cond_ratio:.2f}x (target >= {TARGET_CONDITIONAL:g}x)"
        print(line)
        print(
            f"aggregator peak memory {ours.peak_rss_mb:.0f} MB "
            f"(target < {TARGET_PEAK_MB:g} MB at N = 10,000); "
            f"expected entries after both passes: {n * 20 + round(n * MUTATE_FRACTION) * 3:,}"
        )


def py_spy() -> str | None:
    """py-spy (the bench extra) samples every thread; cProfile would see only the event loop."""
    beside = Path(sys.executable).with_name("py-spy")
    return str(beside) if beside.exists() else shutil.which("py-spy")


def profile_suffix() -> str:
    return "spy" if py_spy() else "prof"


def profiler_prefix(out: str) -> list[str]:
    spy = py_spy()
    if spy:
        # --gil: only the thread holding the GIL is sampled, so shares are shares of CPU time.
        return [spy, "record", "--gil", "--rate", "200", "--format", "raw", "-o", out, "--"]
    return [sys.executable, "-m", "cProfile", "-o", out]


def _frame_name(frame: str) -> str:
    match = re.match(r"(.*?) \((.*?):\d+\)", frame)
    if not match:
        return frame
    where = match.group(2).split("site-packages/")[-1]
    where = where.split(str(REPO_ROOT) + "/")[-1]
    return f"{match.group(1)} ({where})"


def summarize_spy(path: Path, top: int) -> None:
    """Self and inclusive shares of GIL-holding samples, from py-spy's collapsed stacks."""
    own: Counter[str] = Counter()
    inclusive: Counter[str] = Counter()
    total = 0
    for line in path.read_text(errors="replace").splitlines():
        stack, _, count_text = line.rpartition(" ")
        if not count_text.isdigit():
            continue
        count = int(count_text)
        total += count
        frames = [_frame_name(frame) for frame in stack.split(";")[1:]]
        if frames:
            own[frames[-1]] += count
        for name in set(frames):
            inclusive[name] += count
    if not total:
        print("  (no samples)")
        return
    print(f"  {total} samples of the GIL holder at 200 Hz; self time:")
    for name, count in own.most_common(top):
        print(f"  {count / total:6.1%}  {name}")
    print("  inclusive, project code and the big libraries:")
    keys = ("aggregator/", "feedparser/api", "_find_and_load ", "aiohttp/client.py")
    shown = [(n, c) for n, c in inclusive.most_common() if any(k in n for k in keys)]
    for name, count in shown[:top]:
        print(f"  {count / total:6.1%}  {name}")


def print_profile(profile_dir: Path, top: int = 25) -> None:
    import pstats

    for path in sorted(profile_dir.glob("aggregator-*")):
        print(f"\n--- profile of {path.stem} ({'py-spy' if path.suffix == '.spy' else 'cProfile'})")
        if path.suffix == ".spy":
            summarize_spy(path, top)
        else:
            pstats.Stats(str(path)).sort_stats("tottime").print_stats(top)


def best_of(runs: list[PollerResult]) -> PollerResult:
    """The fastest pass of each kind over repeated runs (background load only slows runs down)."""
    passed = [r for r in runs if r.first is not None]
    if not passed:
        return runs[0]
    best = PollerResult(runs[0].name, extra={"runs": len(runs)})
    best.first = max((r.first for r in passed if r.first), key=lambda p: p.rate)
    conditional = [r.conditional for r in passed if r.conditional]
    best.conditional = max(conditional, key=lambda p: p.rate) if conditional else None
    best.failure = next((r.failure for r in runs if r.failure), "")
    # Memory is the worst seen, not the best.
    for p in (best.first, best.conditional):
        if p is not None:
            p.peak_rss_mb = max(
                q.peak_rss_mb for r in passed for q in (r.first, r.conditional) if q
            )
    return best


def run_n(n: int, args: argparse.Namespace) -> list[PollerResult]:
    runs: dict[str, list[PollerResult]] = {name: [] for name in args.pollers}
    # Rounds interleave the pollers, so a burst of load from elsewhere hits them alike.
    for round_number in range(args.repeat):
        for name in args.pollers:
            with (
                tempfile.TemporaryDirectory(prefix=f"poll-{name}-") as tmp,
                FarmProcess(n, latency_s=args.latency, seed=args.seed) as farm,
            ):
                workdir = Path(tmp)
                print(
                    f"  {name}: polling {n:,} feeds (round {round_number + 1}/{args.repeat}) ...",
                    file=sys.stderr,
                    flush=True,
                )
                if name == "aggregator":
                    runs[name].append(bench_aggregator(farm, workdir, args))
                else:
                    runs[name].append(bench_child_poller(name, farm, workdir))
    results = [best_of(runs[name]) for name in args.pollers]
    if args.profile and "aggregator" in args.pollers:
        profile_dir = Path(tempfile.mkdtemp(prefix="poll-profile-"))
        try:
            with (
                tempfile.TemporaryDirectory(prefix="poll-prof-") as tmp,
                FarmProcess(n, latency_s=args.latency, seed=args.seed) as farm,
            ):
                bench_aggregator(farm, Path(tmp), args, profile_dir=profile_dir)
            print_profile(profile_dir)
        finally:
            shutil.rmtree(profile_dir, ignore_errors=True)
    return results


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--feeds", type=int, nargs="+", default=[1000, 10000])
    parser.add_argument("--quick", action="store_true", help="smoke run: N = 200")
    parser.add_argument("--latency", type=float, default=0.0, help="farm latency per request, s")
    parser.add_argument("--pollers", nargs="+", choices=POLLERS, default=list(POLLERS))
    parser.add_argument("--max-per-host", type=int, default=64)
    parser.add_argument("--concurrency", type=int, default=64)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument(
        "--repeat", type=int, default=1, help="rounds per N; the fastest pass of each poller counts"
    )
    parser.add_argument(
        "--profile",
        action="store_true",
        help="profile the aggregator passes (py-spy, else cProfile)",
    )
    parser.add_argument(
        "--child", nargs=3, metavar=("POLLER", "PASS", "URLS"), help=argparse.SUPPRESS
    )
    args = parser.parse_args(argv)
    if args.child:
        poller, pass_name, urls_file = args.child
        child_main(poller, pass_name, Path(urls_file))
        return
    sizes = [200] if args.quick else args.feeds
    print(
        f"polling benchmark: pollers {', '.join(args.pollers)}; N = {sizes}; {os.cpu_count()} CPUs"
    )
    for n in sizes:
        print_table(n, run_n(n, args), args)


if __name__ == "__main__":
    main()
