"""What every device script on the official CPython client shares: the manifest's commands as
the client's definitions, and the run contract the harness relies on (tests/src/device.rs):
connect and register, print `ready`, disconnect gracefully on SIGTERM or SIGINT.

Environment: LUA_AGENT_ID, LUA_API_KEY, LUA_MQTT_URL.
"""

import asyncio
import os
import signal
import sys

from lua_device import DeviceClient, DeviceCommandDefinition


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


async def serve(manifest, register_handlers):
    """Run `manifest`'s device until a signal; `register_handlers(client)` adds the handlers."""
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


def run(main):
    """`asyncio.run(main())`, exiting 130 on Ctrl-C like a shell would report it."""
    try:
        asyncio.run(main())
    except KeyboardInterrupt:
        sys.exit(130)
