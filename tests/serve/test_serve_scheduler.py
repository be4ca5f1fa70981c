"""The batching queue on its own: batches by key, keeps bad items to themselves, bounds the queue
and the time a request waits; and the serve command line."""

import asyncio
import threading
import time

import pytest

from synesthesia.serve.scheduler import Batcher, Job, QueueFull


class Recorder:
    """A run function that doubles numbers, refuses negative ones, and records its calls."""

    def __init__(self, delay: float = 0.0) -> None:
        self.calls: list[tuple] = []
        self.delay = delay
        self.threads: set[str] = set()

    def __call__(self, key, items):
        self.calls.append((key, list(items)))
        self.threads.add(threading.current_thread().name)
        time.sleep(self.delay)
        return [ValueError(f"{x} is negative") if x < 0 else 2 * x for x in items]


def run_jobs(batcher, jobs, gap: float = 0.0):
    async def go():
        tasks = []
        for job in jobs:
            tasks.append(asyncio.create_task(batcher.submit(job)))
            if gap:
                await asyncio.sleep(gap)
        return await asyncio.gather(*tasks, return_exceptions=True)
    return asyncio.run(go())


def test_requests_with_the_same_key_share_a_call():
    rec = Recorder(delay=0.05)
    batcher = Batcher(rec, window=0.02, max_rows=8)
    jobs = [Job("a", 1, rows=2), Job("b", 10, rows=1), Job("a", 2, rows=2), Job("a", 3, rows=2),
            Job("a", 4, rows=2), Job("a", 5, rows=2)]
    results = run_jobs(batcher, jobs)
    assert results == [2, 20, 4, 6, 8, 10]
    assert rec.calls[0] == ("a", [1, 2, 3, 4])                 # max_rows 8 = four jobs of 2 rows
    assert ("b", [10]) in rec.calls and ("a", [5]) in rec.calls
    assert batcher.stats["calls"] == 3 and batcher.stats["largest_batch"] == 4
    assert rec.threads == {"synesthesia-model_0"}              # one model thread, off the event loop


def test_bad_items_fail_alone_and_unbatchable_jobs_run_alone():
    rec = Recorder()
    batcher = Batcher(rec, window=0.02)
    results = run_jobs(batcher, [Job("a", 1, 1), Job("a", -1, 1), Job("a", 3, 1, batchable=False)])
    assert results[0] == 2 and isinstance(results[1], ValueError) and results[2] == 6
    assert rec.calls == [("a", [1, -1]), ("a", [3])]
    off = Batcher(Recorder(), batching=False)
    assert run_jobs(off, [Job("a", 1, 1), Job("a", 2, 1)]) == [2, 4]
    assert off.stats["largest_batch"] == 1


def test_calls_of_their_own_and_their_errors():
    batcher = Batcher(Recorder())

    def boom():
        raise RuntimeError("no")

    async def go():
        return await asyncio.gather(batcher.call(lambda: "done"), batcher.call(boom), return_exceptions=True)

    done, err = asyncio.run(go())
    assert done == "done" and isinstance(err, RuntimeError)


def test_full_queue_and_timeouts():
    rec = Recorder(delay=0.3)
    batcher = Batcher(rec, queue_size=2, window=0.0, timeout=5.0, batching=False)
    results = run_jobs(batcher, [Job("a", k, 1) for k in range(5)], gap=0.01)
    refused = [r for r in results if isinstance(r, QueueFull)]
    assert len(refused) == 2 and refused[0].retry_after >= 1 and "busy" in str(refused[0])
    assert sorted(r for r in results if isinstance(r, int)) == [0, 2, 4]
    slow = Batcher(Recorder(delay=0.5), timeout=0.2, batching=False)
    results = run_jobs(slow, [Job("a", 1, 1), Job("a", 2, 1)])
    assert all(isinstance(r, asyncio.TimeoutError) for r in results)
    assert not slow.waiting and slow.stats["timed_out"] == 2


def test_serve_command_line(capsys):
    from synesthesia.cli import main
    from synesthesia.cli.serve import parse_routes, settings_from
    from synesthesia.serve.settings import ServeError

    with pytest.raises(SystemExit) as exit_:
        main(["serve", "--help"])
    assert exit_.value.code == 0
    text = capsys.readouterr().out
    for words in ("127.0.0.1", "--token", "SYNESTHESIA_TOKEN", "413", "503", "Retry-After", "--route",
                  "/v1/generate", "--no-batching", "seed"):
        assert words in text, words
    from synesthesia.cli import build_parser

    args = build_parser().parse_args(["serve", "runs/a", "--host", "0.0.0.0", "--max-upload-mb", "2",
                                      "--no-batching", "--route", "text->image=runs/a"])
    settings = settings_from(args)
    assert settings.exposed and settings.max_upload_bytes == 2 * 2**20 and not settings.batching
    from synesthesia.cli.serve import exposure_warning
    from synesthesia.serve.settings import ServeSettings

    assert "without authentication" in exposure_warning(settings)
    assert exposure_warning(ServeSettings(host="0.0.0.0", token="long-enough")) is None
    assert exposure_warning(ServeSettings()) is None                  # 127.0.0.1 by default
    assert parse_routes(args.route) == {"text->image": "runs/a"}
    with pytest.raises(ServeError, match="DIRECTION=RUN"):
        parse_routes(["text->image"])
