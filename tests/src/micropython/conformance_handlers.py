# handlers.py of the conformance fixture on the generated MicroPython project: the handler
# semantics of tests/python/official_device.py, written the way a user edits the stub file.
import lua_runtime
import triggers

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

_executions = [0]


def echo(payload: dict) -> "Any":
    return payload


def fail(payload: "Any") -> None:
    raise RuntimeError("deliberate failure")


def count(payload: "Any") -> dict:
    _executions[0] += 1
    return {"count": _executions[0]}


def no_output(payload: "Any") -> None:
    return None


def fire_trigger(payload: dict) -> dict:
    ack = triggers.alert(payload["level"])
    return {"triggerId": ack["triggerId"], "received": ack["received"]}


def slow(payload: dict) -> dict:
    lua_runtime.current().sleep_ms(payload["ms"])
    return {"slept": payload["ms"]}
