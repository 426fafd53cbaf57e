"""`talks mcp` over stdio, driven by the MCP Python SDK's client: list the tools, list talks, ask, recap, read."""

from __future__ import annotations

import asyncio
import json
import os
import sys
from concurrent.futures import ThreadPoolExecutor

from mcp import Client
from mcp.client.stdio import StdioServerParameters


def test_mcp_over_stdio(library):
    server = StdioServerParameters(
        command=sys.executable,
        args=["-m", "pipeline.cli", "mcp", "--workspace", str(library.workspace.root)],
        env={"HAYSTACK_TELEMETRY_ENABLED": "False", "PYTHONPATH": os.getcwd()},
    )

    async def session() -> None:
        async with Client(server, read_timeout_seconds=300) as client:
            tools = {tool.name: tool for tool in (await client.list_tools()).tools}
            assert {"list_talks", "ask", "recap", "digest", "read_transcript"} <= set(tools)
            assert "question" in tools["ask"].input_schema["properties"]

            talks = await client.call_tool("list_talks", {"speaker": "maya"})
            assert not talks.is_error
            ids = {item["talk"]["id"] for item in talks.structured_content["result"]}
            assert ids == {"founder-talk", "fireside-chat"}

            answer = await client.call_tool("ask", {"question": "Why did they keep the Apache license?", "top_k": 3})
            assert not answer.is_error
            body = answer.structured_content
            assert len(body["passages"]) == 3 and body["sentences"][0]["citations"]
            assert body["passages"][0]["talk_id"] and body["passages"][0]["start"] is not None

            recap = await client.call_tool("recap", {"talk_id": "lightning-pricing", "format": "md"})
            assert not recap.is_error and recap.content[0].text.lstrip().startswith(("# ", "---"))
            as_json = await client.call_tool("recap", {"talk_id": "lightning-pricing", "format": "json"})
            assert json.loads(as_json.content[0].text)["talk"]["id"] == "lightning-pricing"

            span = await client.call_tool("read_transcript", {"talk_id": "founder-talk", "first": 2, "last": 4})
            assert [s["index"] for s in span.structured_content["segments"]] == [2, 3, 4]

            hostile = await client.call_tool("read_transcript", {"talk_id": "../../etc/passwd"})
            assert hostile.is_error and "not a valid talk id" in hostile.content[0].text
            missing = await client.call_tool("recap", {"talk_id": "nope"})
            assert missing.is_error and "no talk 'nope'" in missing.content[0].text

    # in a thread of its own: the browser tests' Playwright keeps an event loop running in this one
    with ThreadPoolExecutor(1) as pool:
        pool.submit(asyncio.run, session()).result()
