"""What authentication costs the backend: /api/me with a valid token vs an open route.

Starts the real reference stack (auth + backend processes), logs one user in, then
loads two routes of the *same* backend process, alternating A/B rounds so both see the
same machine noise:

* ``GET /api/me`` with ``Authorization: Bearer <token>`` (local verification, cached)
* ``GET /health/live`` (no authentication)

and prints requests/s and p99 for each and their ratio (target >= 0.8). It also times,
in-process, one full verification per algorithm (cache miss) against a cache hit.

Load comes from ``wrk`` when it is installed (``apt-get install wrk``); otherwise from a
small asyncio keep-alive client in this script, which competes with the server for CPU
and so understates both routes (the ratio stays meaningful).

    .venv/bin/python benchmarks/bench_auth_overhead.py [--seconds 5] [--rounds 3]
"""

from __future__ import annotations

import argparse
import asyncio
import re
import shutil
import statistics
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import httpx

from authdrill.process import Supervisor, free_port
from authdrill.stack import jose
from authdrill.stack.backend.token_cache import TokenCache
from authdrill.stack.claims import ClaimPolicy, validate_access_claims
from authdrill.stack.jwk import generate_private_key, thumbprint

CONNECTIONS = 32


@dataclass(frozen=True)
class Result:
    rps: float
    p99_ms: float


async def _wrk(url: str, seconds: float, token: str | None) -> Result:
    argv = ["wrk", "-t1", f"-c{CONNECTIONS}", f"-d{max(1, round(seconds))}s", "--latency", url]
    if token:
        argv[1:1] = ["-H", f"Authorization: Bearer {token}"]
    proc = await asyncio.create_subprocess_exec(*argv, stdout=asyncio.subprocess.PIPE)
    out = (await proc.communicate())[0].decode()
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))  # type: ignore[union-attr]
    p99_raw = re.search(r"99%\s+([\d.]+)(us|ms|s)", out)
    assert p99_raw is not None, out
    scale = {"us": 0.001, "ms": 1.0, "s": 1000.0}[p99_raw.group(2)]
    if "Non-2xx" in out:
        raise SystemExit(f"wrk saw errors against {url}:\n{out}")
    return Result(rps=rps, p99_ms=float(p99_raw.group(1)) * scale)


async def _python_load(url: str, seconds: float, token: str | None) -> Result:
    """A keep-alive HTTP/1.1 client on raw sockets (the fallback when wrk is absent)."""
    host, port_path = url.removeprefix("http://").split(":", 1)
    port, path = port_path.split("/", 1)
    auth = f"Authorization: Bearer {token}\r\n" if token else ""
    request = f"GET /{path} HTTP/1.1\r\nHost: {host}\r\n{auth}\r\n".encode()
    latencies: list[float] = []
    loop = asyncio.get_running_loop()
    deadline = loop.time() + seconds

    async def worker() -> None:
        reader, writer = await asyncio.open_connection(host, int(port))
        while loop.time() < deadline:
            started = time.perf_counter()
            writer.write(request)
            head = await reader.readuntil(b"\r\n\r\n")
            length = int(re.search(rb"(?i)content-length: (\d+)", head).group(1))  # type: ignore[union-attr]
            await reader.readexactly(length)
            if not head.startswith(b"HTTP/1.1 200"):
                raise SystemExit(f"error answer from {url}: {head[:40]!r}")
            latencies.append(time.perf_counter() - started)
        writer.close()

    await asyncio.gather(*(worker() for _ in range(CONNECTIONS)))
    latencies.sort()
    return Result(rps=len(latencies) / seconds, p99_ms=latencies[int(len(latencies) * 0.99)] * 1000)


def _verification_costs() -> dict[str, float]:
    """Microseconds per full verification (parse + signature + claims) and per cache hit."""
    now = time.time()
    policy = ClaimPolicy(issuer="iss", audience="aud")
    claims = {"iss": "iss", "aud": "aud", "sub": "u", "sid": "s", "jti": "j", "iat": int(now),
              "exp": int(now) + 900, "token_use": "access"}  # fmt: skip
    costs: dict[str, float] = {}
    for alg in ("ES256", "EdDSA", "RS256"):
        private = generate_private_key(alg)
        key = jose.VerificationKey(
            kid=thumbprint(private.public_key()), alg=alg, key=private.public_key()
        )
        token = jose.sign(claims, private, alg=alg, kid=key.kid)
        rounds = 2000
        started = time.perf_counter()
        for _ in range(rounds):
            jws = jose.parse_compact(token)
            jose.verify_signature(jws, key)
            verified = validate_access_claims(
                jose.loads_strict(jws.payload, "payload"), policy, now=now
            )
        costs[f"full verification {alg}"] = (time.perf_counter() - started) / rounds * 1e6
    cache = TokenCache(1000)
    cache.put(token, verified, now)
    started = time.perf_counter()
    for _ in range(200_000):
        cache.get(token, now)
    costs["cache hit"] = (time.perf_counter() - started) / 200_000 * 1e6
    return costs


async def main(seconds: float, rounds: int) -> None:
    load = _wrk if shutil.which("wrk") else _python_load
    print(f"load generator: {'wrk' if load is _wrk else 'built-in asyncio client (wrk not found)'}")
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        auth_port, backend_port = free_port(), free_port()
        from authdrill.stack.reference import auth_spec, backend_spec  # noqa: PLC0415

        async with Supervisor(root / "run") as sup:
            await sup.start(auth_spec(port=auth_port, data_dir=root / "auth"))
            await sup.start(
                backend_spec(
                    port=backend_port,
                    data_dir=root / "backend",
                    auth_url=f"http://127.0.0.1:{auth_port}",
                    extra_args=("--log-level", "warning"),
                )
            )
            async with httpx.AsyncClient(trust_env=False) as http:
                credentials = {"username": "bench", "password": "correct horse battery"}
                await http.post(f"http://127.0.0.1:{auth_port}/register", json=credentials)
                token = (
                    await http.post(f"http://127.0.0.1:{auth_port}/login", json=credentials)
                ).json()["access_token"]
            base = f"http://127.0.0.1:{backend_port}"
            await load(f"{base}/health/live", 1.0, None)  # warm up both paths
            await load(f"{base}/api/me", 1.0, token)
            open_runs, auth_runs = [], []
            for _ in range(rounds):
                open_runs.append(await load(f"{base}/health/live", seconds, None))
                auth_runs.append(await load(f"{base}/api/me", seconds, token))
    open_rps = statistics.median(r.rps for r in open_runs)
    auth_rps = statistics.median(r.rps for r in auth_runs)
    print(f"{'route':38} {'req/s (median)':>15} {'p99 ms (median)':>16}")
    open_p99 = statistics.median(r.p99_ms for r in open_runs)
    auth_p99 = statistics.median(r.p99_ms for r in auth_runs)
    print(f"{'GET /health/live (no auth)':38} {open_rps:15.0f} {open_p99:16.2f}")
    print(f"{'GET /api/me (Bearer, verified)':38} {auth_rps:15.0f} {auth_p99:16.2f}")
    print(f"ratio /api/me : open route = {auth_rps / open_rps:.2f}  (target >= 0.80)")
    print(f"rounds: {rounds} x {seconds:g} s per route, {CONNECTIONS} connections, A/B alternating")
    for name, micros in _verification_costs().items():
        print(f"{name:28} {micros:8.1f} us")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--seconds", type=float, default=5.0)
    parser.add_argument("--rounds", type=int, default=3)
    ns = parser.parse_args()
    asyncio.run(main(ns.seconds, ns.rounds))
