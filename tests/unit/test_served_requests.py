"""A chat as Ollama 0.30.0+ hands it to llama-server (domain.served_requests)."""

from __future__ import annotations

import json

from hubship.domain.chat_template import ChatMessage, ToolCall
from hubship.domain.served_requests import as_sent, go_json, native_messages, ollama_settings, ollama_think, ollama_tool, served_request
from hubship.domain.tool_check import BOOK, CALL, WEATHER


def test_tools_are_written_in_ollamas_member_order_with_unknown_members_dropped() -> None:
    tool = json.dumps(
        {
            "function": {
                "parameters": {
                    "properties": {"n": {"description": "d", "type": ["integer"], "minimum": 1}},
                    "required": ["n"],
                    "type": "object",
                },
                "description": "",
                "name": "f",
            },
            "type": "function",
        }
    )
    assert ollama_tool(tool) == json.dumps(
        {
            "type": "function",
            "function": {
                "name": "f",
                "parameters": {"type": "object", "required": ["n"], "properties": {"n": {"type": "integer", "description": "d"}}},
            },
        }
    )
    book = json.loads(ollama_tool(BOOK))["function"]["parameters"]
    assert list(book) == ["type", "required", "properties"]
    assert list(book["properties"]["cities"]) == ["type", "items", "description"]
    assert book["properties"]["note"]["type"] == ["string", "integer"]
    assert ollama_tool(ollama_tool(WEATHER)) == ollama_tool(WEATHER)


def test_calls_keep_the_callers_key_order_as_go_writes_json() -> None:
    body = served_request([ChatMessage("assistant", "", tool_calls=(CALL,))], (WEATHER,))
    call = body["messages"][0]["tool_calls"][0]
    assert call["id"] == CALL.id and call["type"] == "function" and call["index"] == 0
    text = call["function"]["arguments"]
    assert text.startswith('{"unit":"celsius","city":"Zürich \\u0026 \\u003cGenève\\u003e"')
    assert json.loads(text) == json.loads(CALL.arguments)
    assert go_json({"a": "x\u2028y"}) == '{"a":"x\\u2028y"}'
    assert body["tools"][0]["function"]["name"] == "get_weather"
    assert "chat_template_kwargs" not in body
    assert served_request([], think=False)["chat_template_kwargs"] == {"enable_thinking": False}


def test_results_carry_their_name_and_id_and_no_reasoning_reaches_the_template() -> None:
    messages = [
        ChatMessage("user", "q"),
        ChatMessage("assistant", "a", tool_calls=(ToolCall("f", "{}", "i1"),), thinking="hmm"),
        ChatMessage("tool", "r", tool_name="f", tool_call_id="i1"),
    ]
    seen = native_messages(messages, system="Be brief.")
    assert [m.role for m in seen] == ["system", "user", "assistant", "tool"] and seen[0].content == "Be brief."
    assert all(not m.thinking for m in seen)
    assert native_messages([ChatMessage("system", "s")], system="other")[0].content == "s"
    wire = served_request(seen)["messages"]
    assert wire[3] == {"role": "tool", "tool_call_id": "i1", "name": "f", "content": "r"}
    assert "thinking" not in wire[2] and "reasoning_content" not in wire[2]


def test_an_openai_client_sends_the_conversation_as_written() -> None:
    messages = [ChatMessage("user", "q"), ChatMessage("assistant", "", tool_calls=(CALL,), thinking="first the weather")]
    body = served_request(messages, (BOOK,), True, ollama=False)
    call = body["messages"][1]
    assert call["reasoning_content"] == "first the weather" and call["tool_calls"][0]["function"]["arguments"] == CALL.arguments
    assert body["tools"] == [json.loads(BOOK)] and body["chat_template_kwargs"] == {"enable_thinking": True}


def test_ollama_turns_an_unset_think_on_for_a_thinking_model() -> None:
    assert ollama_think(None, True) is True and ollama_think(None, False) is None and ollama_think(False, True) is False
    assert ollama_settings(True, True) == (True, False)
    assert ollama_settings(True, False) == (None, True, False)
    assert ollama_settings(False, True) == (True,) and ollama_settings(False, False) == (None,)


def test_what_ollama_holds_as_any_comes_out_with_its_keys_sorted() -> None:
    items = {"type": "object", "description": "a seat", "properties": {"row": {"type": "integer"}}}
    tool = json.dumps(
        {
            "type": "function",
            "function": {"name": "f", "parameters": {"type": "object", "properties": {"s": {"type": "array", "items": items}}}},
        }
    )
    written = json.loads(ollama_tool(tool))["function"]["parameters"]["properties"]["s"]["items"]
    assert list(written) == ["description", "properties", "type"]


def test_the_jinja_reference_for_a_template_taking_argument_text_gets_the_text_llama_server_gets() -> None:
    from hubship.adapters.torch.chat_renderer import chat_message

    call = ToolCall("f", '{"b": "<x>", "a": [1, 2]}', "c1")
    message = ChatMessage("assistant", "", (call,))
    for ollama in (True, False):
        (sent,) = as_sent([message], ollama)
        body = served_request([message], ollama=ollama)["messages"][0]["tool_calls"][0]["function"]["arguments"]
        assert chat_message(sent)["tool_calls"][0]["function"]["arguments"] == body
    assert body == call.arguments and go_json({"b": "<x>", "a": [1, 2]}) == '{"b":"\\u003cx\\u003e","a":[1,2]}'
    assert chat_message(message)["tool_calls"][0]["function"]["arguments"] == {"b": "<x>", "a": [1, 2]}  # decoded by default


def test_ollama_keeps_the_callers_order_at_the_top_of_the_arguments_only() -> None:
    call = ToolCall("f", '{"z": {"b": 1, "a": [{"y": 2, "x": 3}]}, "a": 0}')
    (message,) = native_messages([ChatMessage("assistant", "", (call,))])
    assert message.tool_calls[0].arguments == '{"z": {"a": [{"x": 3, "y": 2}], "b": 1}, "a": 0}'
    sent = served_request([message])["messages"][0]["tool_calls"][0]["function"]["arguments"]
    assert sent == '{"z":{"a":[{"x":3,"y":2}],"b":1},"a":0}'
    client = served_request([ChatMessage("assistant", "", (call,))], ollama=False)["messages"][0]["tool_calls"][0]
    assert client["function"]["arguments"] == call.arguments  # a client's text as written
