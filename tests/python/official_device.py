"""The conformance fixture device, written on the official CPython client.

It is the reference peer of the conformance session (tests/src/session.rs): same environment
contract and handler semantics as every other implementation of
manifests/conformance-device.yaml, with the official `lua-device-client` doing all the wire work.

Environment: LUA_AGENT_ID, LUA_API_KEY, LUA_MQTT_URL, LUA_MANIFEST (optional).
Prints `ready` once connected and registered; disconnects gracefully on SIGTERM or SIGINT.
"""

import asyncio
import os
from pathlib import Path

import yaml
from official_runner import run, serve

DEFAULT_MANIFEST = Path(__file__).resolve().parents[2] / "manifests" / "conformance-device.yaml"


def register_handlers(client):
    executions = {"count": 0}

    async def echo(payload):
        return payload

    async def fail(payload):
        raise RuntimeError("deliberate failure")

    async def count(payload):
        executions["count"] += 1
        return {"count": executions["count"]}

    async def no_output(payload):
        return None

    async def fire_trigger(payload):
        ack = await client.trigger("alert", {"level": payload["level"]})
        return {"triggerId": ack.trigger_id, "received": ack.received}

    async def slow(payload):
        ms = payload["ms"]
        await asyncio.sleep(ms / 1000)
        return {"slept": ms}

    for name, handler in [
        ("echo", echo),
        ("fail", fail),
        ("count", count),
        ("no_output", no_output),
        ("fire_trigger", fire_trigger),
        ("slow", slow),
    ]:
        client.on_command(name, handler)


async def main():
    manifest_path = Path(os.environ.get("LUA_MANIFEST") or DEFAULT_MANIFEST)
    with open(manifest_path, encoding="utf-8") as f:
        manifest = yaml.safe_load(f)
    await serve(manifest, register_handlers)


if __name__ == "__main__":
    run(main)
