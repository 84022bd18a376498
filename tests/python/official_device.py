"""The conformance fixture device, written on the official CPython client.

It is the reference peer of the conformance session (tests/src/session.rs): same environment
contract and handler semantics as every other implementation of
manifests/conformance-device.yaml, with the official `lua-device-client` doing all the wire work.

Environment: LUA_AGENT_ID, LUA_API_KEY, LUA_MQTT_URL, LUA_MANIFEST (optional).
Prints `ready` once connected and registered; disconnects gracefully on SIGTERM or SIGINT.
"""

import asyncio
import os
import signal
import sys
from pathlib import Path

import yaml
from lua_device import DeviceClient, DeviceCommandDefinition

DEFAULT_MANIFEST = Path(__file__).resolve().parents[2] / "manifests" / "conformance-device.yaml"


def command_definitions(manifest):
    definitions = []
    for command in manifest.get("commands", []):
        retry = command.get("retry")
        definitions.append(
            DeviceCommandDefinition(
                name=command["name"],
                description=command.get("description", ""),
                input_schema=command.get("inputSchema"),
                timeout_ms=command.get("timeoutMs", 30_000),
                # The official client takes retry in snake_case and renames it on the wire.
                retry=None
                if retry is None
                else {"max_attempts": retry["maxAttempts"], "backoff_ms": retry["backoffMs"]},
            )
        )
    return definitions


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

    client = DeviceClient(
        agent_id=os.environ["LUA_AGENT_ID"],
        api_key=os.environ["LUA_API_KEY"],
        device_name=manifest["name"],
        mqtt_url=os.environ["LUA_MQTT_URL"],
        group=manifest.get("group"),
        commands=command_definitions(manifest),
    )
    register_handlers(client)

    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)

    await client.connect()
    print("ready", flush=True)
    await stop.wait()
    await client.disconnect()


if __name__ == "__main__":
    try:
        asyncio.run(main())
    except KeyboardInterrupt:
        sys.exit(130)
