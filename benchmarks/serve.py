"""Throughput, latency and memory of ``synesthesia serve`` under concurrent clients.

Starts the server on a run (default ``runs/quickstart``) in a subprocess for each
configuration, lets ``--clients`` concurrent clients on the loopback send requests for
``--seconds`` (a time budget: the figures report how many requests completed), and reports
requests/s, p50/p95/p99 latency, errors, and the server's resident memory after a warm-up and at
the end. Configurations: text→image (n=4) and image→text with batching, and both again with
``--no-batching``; the batching gain is the ratio of requests/s at the same client count.
Inputs are test samples of the run's world (a different caption or image per request).

    python benchmarks/serve.py [--run runs/quickstart] [--seconds 60] [--clients 16] [--threads 1]

Writes benchmarks/results/serve.json and serve.md, and prints both.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import io
import json
import os
import time
from pathlib import Path

import numpy as np

from synesthesia.io import write_text_atomic
from synesthesia.serve.uidriver import running_server

RESULTS = Path(__file__).resolve().parent / "results"


def world_inputs(run: Path, count: int = 64) -> dict:
    """Captions and base64 PNG images of ``count`` test samples of the run's world."""
    from PIL import Image

    from synesthesia.runs import RunConfig
    from synesthesia.world import WorldConfig
    from synesthesia.world.world import ShapesWorld

    config = RunConfig.from_yaml(run / "config.yaml")
    data = ShapesWorld(WorldConfig.from_dict(config.data.world)).render("test", range(count), ["image", "text"])
    images = []
    for x in data["image"]:
        buf = io.BytesIO()
        Image.fromarray(x).save(buf, format="PNG")
        images.append(base64.b64encode(buf.getvalue()).decode())
    return {"text": list(data["text"]), "image": images}


def request_body(kind: str, inputs: dict, k: int) -> dict:
    if kind == "text->image":
        return {"to": "image", "text": inputs["text"][k % len(inputs["text"])], "n": 4}
    return {"to": "text", "image": inputs["image"][k % len(inputs["image"])]}


class Connection:
    """A minimal HTTP/1.1 keep-alive client for POSTing JSON: a load generator that costs little
    CPU, so that on a small machine the figures are the server's rather than the client's."""

    def __init__(self, host: str, port: int) -> None:
        self.host, self.port = host, port
        self.reader = self.writer = None

    async def post(self, path: str, body: dict) -> tuple[int, bytes]:
        if self.writer is None:
            self.reader, self.writer = await asyncio.open_connection(self.host, self.port)
        data = json.dumps(body).encode()
        self.writer.write(f"POST {path} HTTP/1.1\r\nHost: {self.host}\r\nContent-Type: application/json\r\n"
                          f"Content-Length: {len(data)}\r\n\r\n".encode() + data)
        await self.writer.drain()
        head = await self.reader.readuntil(b"\r\n\r\n")
        status = int(head.split(b" ", 2)[1])
        length = next(int(line.split(b":", 1)[1]) for line in head.split(b"\r\n")
                      if line.lower().startswith(b"content-length:"))
        payload = await self.reader.readexactly(length)
        if b"connection: close" in head.lower():
            self.close()
        return status, payload

    def close(self) -> None:
        if self.writer is not None:
            self.writer.close()
        self.reader = self.writer = None


async def load(url: str, kind: str, inputs: dict, clients: int, seconds: float) -> dict:
    """``clients`` loops posting requests for ``seconds``; latencies of completed requests."""
    latencies, errors, batch_sizes = [], [], []
    host, port = url.rsplit("/", 1)[-1].split(":")
    deadline = time.perf_counter() + seconds

    async def worker(w: int) -> None:
        k, conn = w, Connection(host, int(port))
        while time.perf_counter() < deadline:
            t0 = time.perf_counter()
            try:
                status, payload = await conn.post("/v1/generate", request_body(kind, inputs, k))
                if status == 200:
                    latencies.append(time.perf_counter() - t0)
                    batch_sizes.append(json.loads(payload)["batch_size"])
                else:
                    errors.append(f"{status}: {payload[:200].decode(errors='replace')}")
            except (OSError, asyncio.IncompleteReadError, ValueError, StopIteration) as err:
                errors.append(f"{type(err).__name__}: {err}")
                conn.close()
            k += clients
        conn.close()

    start = time.perf_counter()
    await asyncio.gather(*[worker(w) for w in range(clients)])
    elapsed = time.perf_counter() - start
    lat = np.asarray(latencies) * 1000
    pct = (lambda q: round(float(np.percentile(lat, q)), 1)) if len(lat) else (lambda q: None)
    return {"requests": len(latencies), "seconds": round(elapsed, 1),
            "requests_per_s": round(len(latencies) / elapsed, 2),
            "p50_ms": pct(50), "p95_ms": pct(95), "p99_ms": pct(99), "errors": len(errors),
            "error_examples": errors[:3], "mean_batch": round(float(np.mean(batch_sizes)), 2) if batch_sizes else None}


def run_config(run: Path, kind: str, batching: bool, args, inputs: dict) -> dict:
    extra = ["--threads", str(args.threads), "--queue-size", str(max(64, 2 * args.clients))]
    if not batching:
        extra.append("--no-batching")
    log = Path(args.log_dir) / f"server-{kind.replace('->', '-to-')}-{'batched' if batching else 'alone'}.log"
    with running_server([run], extra=extra, log=log, env={"OMP_NUM_THREADS": str(args.threads)}) as server:
        rss_idle = server.rss_mb()
        asyncio.run(load(server.url, kind, inputs, args.clients, args.warmup))   # as many clients: steady state
        rss_start, server_cpu, client_cpu = server.rss_mb(), cpu_seconds(server.process.pid), own_cpu_seconds()
        figures = asyncio.run(load(server.url, kind, inputs, args.clients, args.seconds))
        server_cpu, client_cpu = cpu_seconds(server.process.pid) - server_cpu, own_cpu_seconds() - client_cpu
        rss_end = server.rss_mb()
    done = max(1, figures["requests"])
    return {"direction": kind, "batching": batching, "clients": args.clients, **figures,
            "server_cpu_ms_per_request": round(1000 * server_cpu / done, 2),
            "client_cpu_ms_per_request": round(1000 * client_cpu / done, 2),
            "rss_idle_mb": round(rss_idle, 1), "rss_start_mb": round(rss_start, 1), "rss_end_mb": round(rss_end, 1),
            "rss_change": round(rss_end / rss_start - 1, 4)}


def cpu_seconds(pid: int) -> float:
    """User + system CPU seconds of process ``pid`` (Linux)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def own_cpu_seconds() -> float:
    import resource

    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def markdown(results: dict) -> str:
    rows = ["| direction | batching | clients | requests | req/s | p50 ms | p95 ms | p99 ms | errors | mean batch "
            "| server CPU ms/req | RSS start → end MB |", "|---|---|---|---|---|---|---|---|---|---|---|---|"]
    for r in results["configurations"]:
        rows.append(f"| {r['direction']} | {'on' if r['batching'] else 'off'} | {r['clients']} | {r['requests']} "
                    f"| {r['requests_per_s']} | {r['p50_ms']} | {r['p95_ms']} | {r['p99_ms']} | {r['errors']} "
                    f"| {r['mean_batch']} | {r['server_cpu_ms_per_request']} "
                    f"| {r['rss_start_mb']} → {r['rss_end_mb']} ({r['rss_change']:+.1%}) |")
    gains = ", ".join(f"{k} {v}×" for k, v in results["batching_gain"].items())
    return "\n".join(rows) + f"\n\nBatching gain (req/s on ÷ off, {results['clients']} clients): {gains}\n"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--run", type=Path, default=Path("runs/quickstart"), help="run folder to serve")
    ap.add_argument("--seconds", type=float, default=60.0, help="load time per configuration (default 60)")
    ap.add_argument("--warmup", type=float, default=10.0,
                    help="warm-up seconds with as many clients, before measuring (default 10)")
    ap.add_argument("--clients", type=int, default=16, help="concurrent clients (default 16)")
    ap.add_argument("--threads", type=int, default=1, help="torch threads of the server (default 1)")
    ap.add_argument("--directions", nargs="+", default=["text->image", "image->text"],
                    choices=["text->image", "image->text"], help="directions to load")
    ap.add_argument("--log-dir", default=None, help="folder for the server logs (default: a temporary one)")
    ap.add_argument("--out", type=Path, default=RESULTS / "serve.json", help="JSON results (and .md beside)")
    args = ap.parse_args()
    if not (args.run / "model.safetensors").is_file():
        raise SystemExit(f"{args.run} is not a trained run; make one with 'synesthesia quickstart --out {args.run}'")
    if args.log_dir is None:
        import tempfile

        args.log_dir = tempfile.mkdtemp(prefix="serve-bench-")
    inputs = world_inputs(args.run)
    load_before = os.getloadavg()
    configs = [run_config(args.run, kind, batching, args, inputs)
               for kind in args.directions for batching in (True, False)]
    by = {(c["direction"], c["batching"]): c["requests_per_s"] for c in configs}
    results = {"run": str(args.run), "clients": args.clients, "seconds": args.seconds, "server_threads": args.threads,
               "cpu_count": os.cpu_count(), "load_average_before": load_before, "configurations": configs,
               "batching_gain": {k: round(by[(k, True)] / by[(k, False)], 2) if by[(k, False)] else None
                                 for k in args.directions}}
    results["load_average_after"] = os.getloadavg()
    write_text_atomic(args.out, json.dumps(results, indent=2))
    write_text_atomic(args.out.with_suffix(".md"), markdown(results))
    print(json.dumps(results, indent=2))
    print(markdown(results))


if __name__ == "__main__":
    main()
