from __future__ import annotations

import asyncio
import json
import logging
from typing import Any

import pytest

from gamemaster.jsonrpc import (
    INTERNAL_ERROR,
    INVALID_PARAMS,
    INVALID_REQUEST,
    METHOD_NOT_FOUND,
    PARSE_ERROR,
    Dispatcher,
    PendingCalls,
    Request,
    Response,
    RpcError,
    error_response,
    notification,
    parse_message,
    request,
    result_response,
)

PARSE_ERROR_REPLY = {
    "jsonrpc": "2.0",
    "error": {"code": -32700, "message": "Parse error"},
    "id": None,
}
INVALID_REQUEST_REPLY = {
    "jsonrpc": "2.0",
    "error": {"code": -32600, "message": "Invalid Request"},
    "id": None,
}


class SubtractParams:
    """A stand-in with the DRF Serializer interface, so these tests need no DRF."""

    def __init__(self, data: Any) -> None:
        self.initial_data = data
        self.errors: dict[str, list[str]] = {}
        self.validated_data: dict[str, Any] = {}

    def is_valid(self) -> bool:
        for field in ("minuend", "subtrahend"):
            value = self.initial_data.get(field)
            if value is None:
                self.errors[field] = ["This field is required."]
            elif not isinstance(value, int):
                self.errors[field] = ["A valid integer is required."]
            else:
                self.validated_data[field] = value
        return not self.errors


def make_dispatcher() -> tuple[Dispatcher, list[tuple[str, Any]]]:
    """The methods used by the examples in section 7 of the JSON-RPC 2.0 spec."""
    dispatcher = Dispatcher()
    calls: list[tuple[str, Any]] = []

    @dispatcher.method("subtract")
    async def subtract(ctx: Any, params: Any) -> int:
        if isinstance(params, list):
            return params[0] - params[1]
        return params["minuend"] - params["subtrahend"]

    @dispatcher.method("sum")
    async def sum_(ctx: Any, params: Any) -> int:
        return sum(params)

    @dispatcher.method("get_data")
    async def get_data(ctx: Any, params: Any) -> list:
        return ["hello", 5]

    for name in ("update", "notify_hello", "notify_sum"):

        @dispatcher.method(name)
        async def record(ctx: Any, params: Any, name: str = name) -> None:
            calls.append((name, params))

    return dispatcher, calls


def handle(
    dispatcher: Dispatcher,
    frame: str | bytes,
    ctx: Any = None,
    on_response: Any = None,
) -> Any:
    """Run one frame through the dispatcher; return the parsed reply or None."""
    reply = asyncio.run(dispatcher.handle_frame(ctx, frame, on_response))
    return None if reply is None else json.loads(reply)


# Section 7 of the specification, example by example.


def test_spec_call_with_positional_params():
    dispatcher, _ = make_dispatcher()
    assert handle(
        dispatcher,
        '{"jsonrpc": "2.0", "method": "subtract", "params": [42, 23], "id": 1}',
    ) == {
        "jsonrpc": "2.0",
        "result": 19,
        "id": 1,
    }
    assert handle(
        dispatcher,
        '{"jsonrpc": "2.0", "method": "subtract", "params": [23, 42], "id": 2}',
    ) == {
        "jsonrpc": "2.0",
        "result": -19,
        "id": 2,
    }


def test_spec_call_with_named_params():
    dispatcher, _ = make_dispatcher()
    frame = '{"jsonrpc": "2.0", "method": "subtract", "params": {"subtrahend": 23, "minuend": 42}, "id": 3}'
    assert handle(dispatcher, frame) == {"jsonrpc": "2.0", "result": 19, "id": 3}
    frame = '{"jsonrpc": "2.0", "method": "subtract", "params": {"minuend": 42, "subtrahend": 23}, "id": 4}'
    assert handle(dispatcher, frame) == {"jsonrpc": "2.0", "result": 19, "id": 4}


def test_spec_notifications_run_the_handler_and_get_no_reply():
    dispatcher, calls = make_dispatcher()
    assert handle(dispatcher, '{"jsonrpc": "2.0", "method": "update", "params": [1,2,3,4,5]}') is None
    assert handle(dispatcher, '{"jsonrpc": "2.0", "method": "foobar"}') is None
    assert calls == [("update", [1, 2, 3, 4, 5])]


def test_spec_call_of_non_existent_method():
    dispatcher, _ = make_dispatcher()
    assert handle(dispatcher, '{"jsonrpc": "2.0", "method": "foobar", "id": "1"}') == {
        "jsonrpc": "2.0",
        "error": {"code": -32601, "message": "Method not found"},
        "id": "1",
    }


def test_spec_call_with_invalid_json():
    dispatcher, _ = make_dispatcher()
    frame = '{"jsonrpc": "2.0", "method": "foobar, "params": "bar", "baz]'
    assert handle(dispatcher, frame) == PARSE_ERROR_REPLY


@pytest.mark.parametrize("number", ["1e400", "-1e400"])
def test_a_number_beyond_a_float_is_a_parse_error(number):
    # It decoded to inf, and an error answer echoing it as the id could not be encoded.
    dispatcher, _ = make_dispatcher()
    frame = f'{{"jsonrpc": "2.0", "method": "sum", "params": [{number}], "id": {number}}}'
    assert handle(dispatcher, frame) == PARSE_ERROR_REPLY


def test_spec_call_with_invalid_request_object():
    dispatcher, _ = make_dispatcher()
    frame = '{"jsonrpc": "2.0", "method": 1, "params": "bar"}'
    assert handle(dispatcher, frame) == INVALID_REQUEST_REPLY


def test_spec_batch_with_invalid_json():
    dispatcher, _ = make_dispatcher()
    frame = """[
      {"jsonrpc": "2.0", "method": "sum", "params": [1,2,4], "id": "1"},
      {"jsonrpc": "2.0", "method"
    ]"""
    assert handle(dispatcher, frame) == PARSE_ERROR_REPLY


def test_spec_empty_batch_gets_a_single_invalid_request_error():
    dispatcher, _ = make_dispatcher()
    assert handle(dispatcher, "[]") == INVALID_REQUEST_REPLY


def test_spec_batch_of_one_non_object():
    dispatcher, _ = make_dispatcher()
    assert handle(dispatcher, "[1]") == [INVALID_REQUEST_REPLY]


def test_spec_batch_of_several_non_objects():
    dispatcher, _ = make_dispatcher()
    assert handle(dispatcher, "[1,2,3]") == [INVALID_REQUEST_REPLY] * 3


def test_spec_batch_mixing_calls_notifications_invalid_and_unknown_methods():
    dispatcher, calls = make_dispatcher()
    frame = """[
        {"jsonrpc": "2.0", "method": "sum", "params": [1,2,4], "id": "1"},
        {"jsonrpc": "2.0", "method": "notify_hello", "params": [7]},
        {"jsonrpc": "2.0", "method": "subtract", "params": [42,23], "id": "2"},
        {"foo": "boo"},
        {"jsonrpc": "2.0", "method": "foo.get", "params": {"name": "myself"},
         "id": "5"},
        {"jsonrpc": "2.0", "method": "get_data", "id": "9"}
    ]"""
    assert handle(dispatcher, frame) == [
        {"jsonrpc": "2.0", "result": 7, "id": "1"},
        {"jsonrpc": "2.0", "result": 19, "id": "2"},
        {
            "jsonrpc": "2.0",
            "error": {"code": -32600, "message": "Invalid Request"},
            "id": None,
        },
        {
            "jsonrpc": "2.0",
            "error": {"code": -32601, "message": "Method not found"},
            "id": "5",
        },
        {"jsonrpc": "2.0", "result": ["hello", 5], "id": "9"},
    ]
    assert calls == [("notify_hello", [7])]


def test_spec_batch_of_notifications_only_gets_no_reply():
    dispatcher, calls = make_dispatcher()
    frame = """[
        {"jsonrpc": "2.0", "method": "notify_sum", "params": [1,2,4]},
        {"jsonrpc": "2.0", "method": "notify_hello", "params": [7]}
    ]"""
    assert handle(dispatcher, frame) is None
    assert calls == [("notify_sum", [1, 2, 4]), ("notify_hello", [7])]


# Params validation.


def make_validated_dispatcher() -> Dispatcher:
    dispatcher = Dispatcher()

    @dispatcher.method("subtract", params=SubtractParams)
    async def subtract(ctx: Any, params: dict) -> int:
        return params["minuend"] - params["subtrahend"]

    return dispatcher


def test_validator_passes_validated_data_to_the_handler():
    frame = '{"jsonrpc": "2.0", "method": "subtract", "params": {"minuend": 5, "subtrahend": 3}, "id": 1}'
    assert handle(make_validated_dispatcher(), frame) == {
        "jsonrpc": "2.0",
        "result": 2,
        "id": 1,
    }


def test_invalid_params_report_the_validator_errors_in_data():
    frame = '{"jsonrpc": "2.0", "method": "subtract", "params": {"minuend": "x"}, "id": 1}'
    assert handle(make_validated_dispatcher(), frame) == {
        "jsonrpc": "2.0",
        "error": {
            "code": -32602,
            "message": "Invalid params",
            "data": {
                "minuend": ["A valid integer is required."],
                "subtrahend": ["This field is required."],
            },
        },
        "id": 1,
    }


def test_validated_method_refuses_positional_params():
    frame = '{"jsonrpc": "2.0", "method": "subtract", "params": [5, 3], "id": 1}'
    reply = handle(make_validated_dispatcher(), frame)
    assert reply["id"] == 1
    assert reply["error"]["code"] == INVALID_PARAMS
    assert reply["error"]["message"] == "Invalid params"


def test_validated_method_validates_absent_params_as_empty_object():
    frame = '{"jsonrpc": "2.0", "method": "subtract", "id": 1}'
    reply = handle(make_validated_dispatcher(), frame)
    assert reply["error"]["code"] == INVALID_PARAMS
    assert reply["error"]["data"] == {
        "minuend": ["This field is required."],
        "subtrahend": ["This field is required."],
    }


def test_invalid_params_in_a_notification_get_no_reply():
    frame = '{"jsonrpc": "2.0", "method": "subtract", "params": {"minuend": "x"}}'
    assert handle(make_validated_dispatcher(), frame) is None


def test_handler_without_validator_gets_params_as_sent():
    dispatcher = Dispatcher()
    seen = []

    @dispatcher.method("echo")
    async def echo(ctx: Any, params: Any) -> None:
        seen.append(params)

    handle(dispatcher, '{"jsonrpc": "2.0", "method": "echo", "params": {"a": 1}, "id": 1}')
    handle(dispatcher, '{"jsonrpc": "2.0", "method": "echo", "params": [1], "id": 2}')
    handle(dispatcher, '{"jsonrpc": "2.0", "method": "echo", "id": 3}')
    assert seen == [{"a": 1}, [1], None]


# Handlers.


def test_handler_receives_the_context():
    dispatcher = Dispatcher()

    @dispatcher.method("whoami")
    async def whoami(ctx: Any, params: Any) -> str:
        return ctx["user"]

    frame = '{"jsonrpc": "2.0", "method": "whoami", "id": 1}'
    assert handle(dispatcher, frame, ctx={"user": "ada"}) == {
        "jsonrpc": "2.0",
        "result": "ada",
        "id": 1,
    }


def test_handler_returning_none_gets_a_null_result():
    dispatcher, _ = make_dispatcher()
    frame = '{"jsonrpc": "2.0", "method": "update", "id": 7}'
    assert handle(dispatcher, frame) == {"jsonrpc": "2.0", "result": None, "id": 7}


def test_handler_raising_rpc_error_sends_that_error_with_data():
    dispatcher = Dispatcher()

    @dispatcher.method("join")
    async def join(ctx: Any, params: Any) -> None:
        raise RpcError(4009, "Room is full", {"room": "abc"})

    assert handle(dispatcher, '{"jsonrpc": "2.0", "method": "join", "id": "j1"}') == {
        "jsonrpc": "2.0",
        "error": {"code": 4009, "message": "Room is full", "data": {"room": "abc"}},
        "id": "j1",
    }


def test_crashing_handler_becomes_internal_error_and_is_logged(caplog):
    dispatcher = Dispatcher()

    @dispatcher.method("boom")
    async def boom(ctx: Any, params: Any) -> None:
        raise KeyError("secret detail")

    with caplog.at_level(logging.ERROR, logger="gamemaster.jsonrpc"):
        reply = handle(dispatcher, '{"jsonrpc": "2.0", "method": "boom", "id": 1}')
    # The peer learns nothing about the crash; the log keeps the traceback.
    assert reply == {
        "jsonrpc": "2.0",
        "error": {"code": -32603, "message": "Internal error"},
        "id": 1,
    }
    assert any(record.exc_info for record in caplog.records)


def test_crashing_notification_handler_gets_no_reply():
    dispatcher = Dispatcher()

    @dispatcher.method("boom")
    async def boom(ctx: Any, params: Any) -> None:
        raise RuntimeError

    assert handle(dispatcher, '{"jsonrpc": "2.0", "method": "boom"}') is None


def test_unserializable_result_becomes_internal_error():
    dispatcher = Dispatcher()

    @dispatcher.method("bad")
    async def bad(ctx: Any, params: Any) -> Any:
        return {"when": object()}

    @dispatcher.method("nan")
    async def nan(ctx: Any, params: Any) -> float:
        return float("nan")

    frame = """[
        {"jsonrpc": "2.0", "method": "bad", "id": 1},
        {"jsonrpc": "2.0", "method": "nan", "id": 2}
    ]"""
    assert handle(dispatcher, frame) == [
        {
            "jsonrpc": "2.0",
            "error": {"code": -32603, "message": "Internal error"},
            "id": 1,
        },
        {
            "jsonrpc": "2.0",
            "error": {"code": -32603, "message": "Internal error"},
            "id": 2,
        },
    ]


def test_registering_a_sync_handler_is_refused():
    dispatcher = Dispatcher()
    with pytest.raises(TypeError):

        @dispatcher.method("sync")
        def sync(ctx: Any, params: Any) -> None: ...


def test_registering_a_method_twice_is_refused():
    dispatcher, _ = make_dispatcher()
    with pytest.raises(ValueError):

        @dispatcher.method("subtract")
        async def again(ctx: Any, params: Any) -> None: ...


def test_registering_a_reserved_rpc_method_is_refused():
    with pytest.raises(ValueError):
        Dispatcher().method("rpc.discover")


# Strict validation of requests.


@pytest.mark.parametrize(
    "message",
    [
        {"jsonrpc": "1.0", "method": "sum", "params": [1]},
        {"jsonrpc": 2.0, "method": "sum", "params": [1]},
        {"method": "sum", "params": [1]},
        {"jsonrpc": "2.0", "method": None},
        {"jsonrpc": "2.0", "method": "sum", "params": None},
        {"jsonrpc": "2.0", "method": "sum", "params": 3},
        {"jsonrpc": "2.0", "method": "sum", "params": "1,2"},
        {"jsonrpc": "2.0", "method": "sum", "id": True},
        {"jsonrpc": "2.0", "method": "sum", "id": [1]},
        {"jsonrpc": "2.0", "method": "sum", "id": {"a": 1}},
        {"jsonrpc": "2.0", "method": "sum", "params": [1], "extra": 1},
        {"jsonrpc": "2.0"},
        {},
    ],
)
def test_malformed_request_without_usable_id_is_invalid_request_with_null_id(message):
    dispatcher, calls = make_dispatcher()
    assert handle(dispatcher, json.dumps(message)) == INVALID_REQUEST_REPLY
    assert calls == []


def test_malformed_request_with_valid_id_echoes_the_id():
    dispatcher, _ = make_dispatcher()
    frame = '{"jsonrpc": "1.0", "method": "sum", "params": [1], "id": 42}'
    assert handle(dispatcher, frame) == {**INVALID_REQUEST_REPLY, "id": 42}


def test_bool_id_is_rejected():
    dispatcher, calls = make_dispatcher()
    assert handle(dispatcher, '{"jsonrpc": "2.0", "method": "update", "id": false}') == INVALID_REQUEST_REPLY
    assert calls == []


def test_null_id_is_a_call_that_gets_a_reply():
    dispatcher, _ = make_dispatcher()
    frame = '{"jsonrpc": "2.0", "method": "sum", "params": [1, 2], "id": null}'
    assert handle(dispatcher, frame) == {"jsonrpc": "2.0", "result": 3, "id": None}


@pytest.mark.parametrize("frame", ["1", '"x"', "null", "true", "3.5"])
def test_json_that_is_neither_object_nor_array_is_invalid_request(frame):
    dispatcher, _ = make_dispatcher()
    assert handle(dispatcher, frame) == INVALID_REQUEST_REPLY


@pytest.mark.parametrize("frame", ["", "   ", "NaN", '{"a": Infinity}', "[1,]", "{'a': 1}", "[" * 100_000])
def test_non_strict_json_is_parse_error(frame):
    dispatcher, _ = make_dispatcher()
    assert handle(dispatcher, frame) == PARSE_ERROR_REPLY


def test_bytes_frame_is_decoded_as_utf8():
    dispatcher = Dispatcher()

    @dispatcher.method("echo")
    async def echo(ctx: Any, params: Any) -> Any:
        return params

    frame = '{"jsonrpc": "2.0", "method": "echo", "params": ["héllo ☃"], "id": 1}'.encode()
    assert handle(dispatcher, frame) == {
        "jsonrpc": "2.0",
        "result": ["héllo ☃"],
        "id": 1,
    }


@pytest.mark.parametrize(
    "frame",
    [
        b'{"jsonrpc": "2.0", "method": "update", "params": ["\xff"], "id": 1}',
        b"\xc3\x28",
        '{"jsonrpc": "2.0", "method": "update", "id": 1}'.encode("utf-16"),
    ],
)
def test_bytes_that_are_not_utf8_are_parse_error(frame):
    dispatcher, calls = make_dispatcher()
    assert handle(dispatcher, frame) == PARSE_ERROR_REPLY
    assert calls == []


def test_reply_is_ascii_even_for_lone_surrogates():
    dispatcher, _ = make_dispatcher()
    reply = asyncio.run(dispatcher.handle_frame(None, '{"jsonrpc": "2.0", "method": "nope", "id": "\\ud800"}'))
    assert reply is not None
    reply.encode("utf-8")  # would raise on a lone surrogate sent raw
    assert json.loads(reply)["id"] == "\ud800"


def test_weird_input_never_raises():
    dispatcher, _ = make_dispatcher()
    frames: list[Any] = [
        "[[]]",
        "[{}]",
        '[{"jsonrpc": "2.0", "result": 1}]',
        '{"jsonrpc": "2.0", "error": 5, "id": 1}',
        '{"jsonrpc": "2.0", "method": "sum", "params": [1, "a"], "id": 1}',
        "9" * 5000,
        None,
        12,
    ]
    for frame in frames:
        reply = asyncio.run(dispatcher.handle_frame(None, frame))
        assert reply is None or json.loads(reply)


# Responses to our own requests.


def test_responses_are_routed_to_on_response_without_reply():
    dispatcher, calls = make_dispatcher()
    received: list[Response] = []
    frame = """[
        {"jsonrpc": "2.0", "result": {"ok": true}, "id": 1},
        {"jsonrpc": "2.0", "error": {"code": -1, "message": "no", "data": [1]},
         "id": "b"},
        {"jsonrpc": "2.0", "error": {"code": -32700, "message": "Parse error"},
         "id": null}
    ]"""
    assert handle(dispatcher, frame, on_response=received.append) is None
    assert received == [
        Response(id=1, result={"ok": True}),
        Response(id="b", error={"code": -1, "message": "no", "data": [1]}),
        Response(id=None, error={"code": -32700, "message": "Parse error"}),
    ]
    assert calls == []


def test_response_with_null_result_is_routed():
    received: list[Response] = []
    frame = '{"jsonrpc": "2.0", "result": null, "id": 3}'
    assert handle(Dispatcher(), frame, on_response=received.append) is None
    assert received == [Response(id=3, result=None)]
    assert not received[0].is_error


def test_batch_mixing_a_response_and_a_call_answers_only_the_call():
    dispatcher, _ = make_dispatcher()
    received: list[Response] = []
    frame = """[
        {"jsonrpc": "2.0", "result": 1, "id": 9},
        {"jsonrpc": "2.0", "method": "sum", "params": [2, 3], "id": 9}
    ]"""
    assert handle(dispatcher, frame, on_response=received.append) == [{"jsonrpc": "2.0", "result": 5, "id": 9}]
    assert received == [Response(id=9, result=1)]


def test_response_without_on_response_is_dropped():
    assert handle(Dispatcher(), '{"jsonrpc": "2.0", "result": 1, "id": 1}') is None


def test_failing_on_response_does_not_escape():
    def explode(response: Response) -> None:
        raise RuntimeError

    assert (
        handle(
            Dispatcher(),
            '{"jsonrpc": "2.0", "result": 1, "id": 1}',
            on_response=explode,
        )
        is None
    )


@pytest.mark.parametrize(
    "message",
    [
        {"jsonrpc": "2.0", "result": 1},
        {"jsonrpc": "2.0", "result": 1, "error": {"code": 1, "message": "x"}, "id": 1},
        {"jsonrpc": "2.0", "result": 1, "id": None},
        {"jsonrpc": "2.0", "result": 1, "id": True},
        {"jsonrpc": "2.0", "result": 1, "id": 1, "extra": 1},
        {"jsonrpc": "2.0", "error": "bad", "id": 1},
        {"jsonrpc": "2.0", "error": {"code": "1", "message": "x"}, "id": 1},
        {"jsonrpc": "2.0", "error": {"code": True, "message": "x"}, "id": 1},
        {"jsonrpc": "2.0", "error": {"code": 1}, "id": 1},
        {"jsonrpc": "2.0", "error": {"code": 1, "message": "x", "extra": 1}, "id": 1},
        {"jsonrpc": "1.0", "result": 1, "id": 1},
    ],
)
def test_malformed_response_is_invalid_request_with_null_id(message):
    received: list[Response] = []
    # Never echo a response's id: it names one of our calls, not one of the peer's.
    assert handle(Dispatcher(), json.dumps(message), on_response=received.append) == INVALID_REQUEST_REPLY
    assert received == []


def test_response_raise_for_error_rebuilds_the_rpc_error():
    response = Response(id=1, error={"code": 4004, "message": "Not found", "data": {"id": 3}})
    with pytest.raises(RpcError) as excinfo:
        response.raise_for_error()
    assert (excinfo.value.code, excinfo.value.message, excinfo.value.data) == (
        4004,
        "Not found",
        {"id": 3},
    )
    Response(id=1, result=5).raise_for_error()


# Builders.


def test_builders_produce_spec_messages():
    assert request("spawn", {"map": "dust"}, 7) == {
        "jsonrpc": "2.0",
        "method": "spawn",
        "params": {"map": "dust"},
        "id": 7,
    }
    assert request("ping", id="p") == {"jsonrpc": "2.0", "method": "ping", "id": "p"}
    assert notification("tick", [1]) == {
        "jsonrpc": "2.0",
        "method": "tick",
        "params": [1],
    }
    assert notification("tick") == {"jsonrpc": "2.0", "method": "tick"}
    assert result_response(1, None) == {"jsonrpc": "2.0", "result": None, "id": 1}
    assert error_response("x", RpcError(METHOD_NOT_FOUND, "Method not found")) == {
        "jsonrpc": "2.0",
        "error": {"code": -32601, "message": "Method not found"},
        "id": "x",
    }


def test_builders_refuse_params_and_ids_that_json_rpc_cannot_carry():
    with pytest.raises(TypeError):
        request("x", "not structured", 1)
    with pytest.raises(TypeError):
        request("x", None, True)
    with pytest.raises(TypeError):
        notification("x", 5)


def test_built_messages_parse_back():
    assert parse_message(request("a", [1], 2)) == Request("a", [1], 2, is_notification=False)
    assert parse_message(notification("a")) == Request("a", None, None, is_notification=True)
    assert Request("a", {"b": 1}, is_notification=True).to_dict() == notification("a", {"b": 1})


def test_error_codes_match_the_spec():
    assert (
        PARSE_ERROR,
        INVALID_REQUEST,
        METHOD_NOT_FOUND,
        INVALID_PARAMS,
        INTERNAL_ERROR,
    ) == (
        -32700,
        -32600,
        -32601,
        -32602,
        -32603,
    )


def test_rpc_error_to_dict_omits_absent_data():
    assert RpcError(1, "x").to_dict() == {"code": 1, "message": "x"}
    assert RpcError(1, "x", 0).to_dict() == {"code": 1, "message": "x", "data": 0}


# PendingCalls.


def test_pending_calls_match_responses_by_id():
    async def scenario() -> None:
        pending = PendingCalls()
        id_a, message_a, future_a = pending.new("spawn", {"map": "dust"})
        id_b, message_b, future_b = pending.new("stop")
        assert id_a != id_b
        assert message_a == {
            "jsonrpc": "2.0",
            "method": "spawn",
            "params": {"map": "dust"},
            "id": id_a,
        }
        assert message_b == {"jsonrpc": "2.0", "method": "stop", "id": id_b}

        assert pending.resolve(Response(id=id_b, result="stopped"))
        assert not future_a.done()
        assert await pending.wait(future_b, timeout=1) == Response(id=id_b, result="stopped")

        assert not pending.resolve(Response(id=id_b, result="again"))
        assert not pending.resolve(Response(id="unknown", result=1))
        assert pending.resolve(Response(id=id_a, error={"code": 1, "message": "x"}))
        assert (await pending.wait(future_a, timeout=1)).is_error
        assert len(pending) == 0

    asyncio.run(scenario())


def test_pending_calls_route_frames_through_the_dispatcher():
    async def scenario() -> None:
        pending = PendingCalls()
        id, _, future = pending.new("status")
        frame = json.dumps({"jsonrpc": "2.0", "result": {"players": 3}, "id": id})
        assert await Dispatcher().handle_frame(None, frame, on_response=pending.resolve) is None
        assert (await pending.wait(future, timeout=1)).result == {"players": 3}

    asyncio.run(scenario())


def test_pending_call_times_out_and_forgets_its_id():
    async def scenario() -> None:
        pending = PendingCalls()
        id, _, future = pending.new("slow")
        with pytest.raises(asyncio.TimeoutError):
            await pending.wait(future, timeout=0.01)
        assert len(pending) == 0
        # A late answer is reported as unknown rather than resolving anything.
        assert not pending.resolve(Response(id=id, result=1))

    asyncio.run(scenario())


def test_cancel_all_cancels_every_waiting_call():
    async def scenario() -> None:
        pending = PendingCalls()
        _, _, future_a = pending.new("a")
        id_b, _, future_b = pending.new("b")
        waiter = asyncio.ensure_future(pending.wait(future_a, timeout=5))
        await asyncio.sleep(0)
        pending.cancel_all()
        with pytest.raises(asyncio.CancelledError):
            await waiter
        assert future_b.cancelled()
        assert len(pending) == 0
        assert not pending.resolve(Response(id=id_b, result=1))

    asyncio.run(scenario())
