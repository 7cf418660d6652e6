"""SM2 signatures and verifications per second, gmssl against Tongsuo (pipeline.pki.sm2 backends).

    python bench/sm2_backends.py --seconds 3

Both backends sign the same messages with the same key (a certificate-sized TBS, 1 KiB) through the adapter
(``sm2.sign`` / ``sm2.verify``: SM3(Z‖message) with the default ID, DER signatures), one after the other in one
process, one core.  Every signature is checked by the other backend before anything is timed, so the figures
compare two implementations of the same thing.  Prints one JSON object.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import time
from collections.abc import Callable
from functools import partial
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from pipeline.pki import sm2  # noqa: E402

BACKENDS = sm2.BACKENDS


def _rate(seconds: float, step: Callable[[int], object]) -> float:
    """Calls of ``step(i)`` per second over at least ``seconds`` (and at least 5 calls)."""
    n, start = 0, time.perf_counter()
    while True:
        step(n)
        n += 1
        elapsed = time.perf_counter() - start
        if elapsed >= seconds and n >= 5:
            return n / elapsed


def _verify_nth(pub: sm2.PublicKey, messages: list[bytes], sigs: list[bytes], i: int) -> bool:
    return sm2.verify(pub, messages[i % len(messages)], sigs[i % len(sigs)])


def measure(seconds: float) -> dict[str, object]:
    key = sm2.generate_private_key()
    pub = key.public_key
    messages = [os.urandom(1024) for _ in range(64)]
    signatures: dict[str, list[bytes]] = {}
    for name in BACKENDS:
        sm2.use_backend(name)
        signatures[name] = [sm2.sign(key, m) for m in messages[:8]]
    for signer in BACKENDS:  # interop first: each backend verifies the other's signatures
        for verifier in BACKENDS:
            sm2.use_backend(verifier)
            assert all(sm2.verify(pub, m, s) for m, s in zip(messages, signatures[signer], strict=False)), (
                f"{verifier} rejects a signature by {signer}"
            )
    out: dict[str, object] = {
        "seconds_each": seconds,
        "message_bytes": 1024,
        "machine": platform.machine(),
        "cpus": os.cpu_count(),
    }
    for name in BACKENDS:
        sm2.use_backend(name)
        sigs = [sm2.sign(key, m) for m in messages]
        signs = _rate(seconds, lambda i: sm2.sign(key, messages[i % 64]))
        verifies = _rate(seconds, partial(_verify_nth, pub, messages, sigs))
        out[name] = {"signs_per_s": round(signs, 1), "verifies_per_s": round(verifies, 1)}
    gm, ts = out["gmssl"], out["tongsuo"]
    assert isinstance(gm, dict) and isinstance(ts, dict)
    out["tongsuo_over_gmssl"] = {
        "sign": round(ts["signs_per_s"] / gm["signs_per_s"], 1),
        "verify": round(ts["verifies_per_s"] / gm["verifies_per_s"], 1),
    }
    sm2.use_backend("gmssl")
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seconds", type=float, default=3.0, help="time per backend and operation")
    args = ap.parse_args()
    print(json.dumps(measure(args.seconds), ensure_ascii=False, indent=2))


if __name__ == "__main__":
    main()
