# handlers.py of the greenhouse node (manifests/greenhouse-sensor.yaml) on MicroPython: the
# MQTT transport guide's example, with its periodic humidity check as background(). Generate
# the project and put this file in place of the stubs:
#
#   luagen firmware --target micropython manifests/greenhouse-sensor.yaml -o greenhouse
#   cp examples/greenhouse/micropython/handlers.py greenhouse/
#
# The readings are simulated as in the guide; on a board, read your sensors instead.
import random
import time

import lua_runtime
import triggers

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

THRESHOLD = 80
PERIOD_MS = 10000

irrigation_on = False


def _now() -> str:
    return "%04d-%02d-%02dT%02d:%02d:%02dZ" % time.gmtime()[:6]


def read_environment(payload: "Any") -> dict:
    return {
        "temperature": 28.3,
        "humidity": 65,
        "soilMoisture": 42,
        "irrigationOn": irrigation_on,
        "timestamp": _now(),
    }


def toggle_irrigation(payload: dict) -> dict:
    global irrigation_on
    irrigation_on = payload["enabled"]
    return {"irrigationOn": irrigation_on}


def background() -> "Any":
    # The guide's loop: every 10 s a humidity reading, an alert above 80 %. Each yield hands
    # the board back to the connection for that many ms; the trigger waits for the gateway's
    # ack while commands, keep-alive and heartbeats go on.
    while True:
        humidity = 65 + random.random() * 20
        if humidity > THRESHOLD and lua_runtime.is_connected():
            try:
                ack = triggers.humidity_alert(round(humidity), THRESHOLD,
                                              sensor="greenhouse-sensor")
                print("humidity_alert acknowledged:", ack.get("triggerId"))
            except OSError as e:  # no ack in time, or rejected: the next reading tries again
                print("humidity_alert:", e)
        yield PERIOD_MS


def on_connected() -> None:
    print("Sensor online (MQTT)")


def on_trigger_result(name: str, result: "Any") -> None:
    print("result of", name, ":", result)
