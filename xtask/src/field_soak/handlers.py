# The field soak's device (`cargo xtask soak field`): counted work, a slow command, and a
# tick every ten seconds from background(), as a board in the field runs them.
import gc

import lua_runtime
import triggers

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

# runs, ticks sent, ticks acknowledged, trigger results handled
_count = [0, 0, 0, 0]


def work(payload: dict) -> dict:
    _count[0] += 1
    return {"n": payload["n"], "seq": _count[0]}


def slow(payload: dict) -> dict:
    lua_runtime.current().sleep_ms(payload["seconds"] * 1000)
    _count[0] += 1
    return {"seq": _count[0]}


def stats(payload: "Any") -> dict:
    gc.collect()
    return {"runs": _count[0], "ticks": _count[1], "acked": _count[2],
            "results": _count[3], "free": gc.mem_free()}  # type: ignore


def background():  # type: ignore
    n = 0
    while True:
        if lua_runtime.is_connected():
            n += 1
            _count[1] += 1
            try:
                triggers.tick(n)
                _count[2] += 1
            except OSError as e:
                print("[soak] tick", n, "not acknowledged:", e)
        yield 10000


def on_trigger_result(name: str, result: "Any") -> None:
    _count[3] += 1
