"""`talks mcp`: the library as MCP tools over stdio (MCP Python SDK's `MCPServer`), for assistants and editors.

Tools: `list_talks`, `ask` (answer with numbered citations, each passage with its talk, time and link), `recap`
(a talk's recap as Markdown or JSON), `digest` (an event's), `read_transcript` (a span of segments). Errors come back
as tool errors with the library's one-line message.

    talks mcp --workspace ~/talks     # then point the client at that command
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Literal

from pipeline.api import Library, TalksError
from pipeline.models import Answer, AskRequest, TalkInfo
from pipeline.server.schemas import TranscriptSpan
from pipeline.workspace import WorkspaceError, check_talk_id

INSTRUCTIONS = (
    "Conference talks, searchable and citable. Use list_talks to see what is there, ask to answer a question from "
    "the talks (cite passages as [n] with their talk and time), recap for a talk's themes, takeaways and verified "
    "quotes, read_transcript to read what was said between two segments."
)


def build_server(library: Library):
    """The MCP server over `library` (not started)."""
    from mcp.server.mcpserver import MCPServer
    from mcp.server.mcpserver.exceptions import ToolError

    server = MCPServer(name="talks", instructions=INSTRUCTIONS)

    def checked(talk_id: str) -> str:
        try:
            return check_talk_id(talk_id)
        except WorkspaceError as error:
            raise ToolError(str(error)) from None

    @server.tool(
        description="The talks in the library (optionally of one event, or with a speaker name containing a text)."
    )
    def list_talks(event: str | None = None, speaker: str | None = None) -> list[TalkInfo]:
        try:
            talks = library.talks()
        except TalksError as error:
            raise ToolError(str(error)) from None
        if event:
            talks = [t for t in talks if (t.talk.event or "").lower() == event.lower()]
        if speaker:
            talks = [t for t in talks if any(speaker.lower() in name.lower() for name in t.talk.speakers)]
        return talks

    @server.tool(
        description="Answer a question from the talks: an answer whose sentences cite passages as [n], and the "
        "passages (talk, speakers, start time, video link)."
    )
    def ask(
        question: str, talk: str | None = None, event: str | None = None, speaker: str | None = None, top_k: int = 5
    ) -> Answer:
        try:
            request = AskRequest(question=question, talk=talk, event=event, speaker=speaker, top_k=top_k)
            return library.ask(request)
        except (TalksError, ValueError) as error:
            raise ToolError(str(error)) from None

    @server.tool(
        description="A talk's recap: themes, takeaways and verified quotes with timestamps; md or json; "
        "style bullets (default) or prose (a post with paragraphs per theme)."
    )
    def recap(
        talk_id: str,
        format: Literal["md", "json"] = "md",
        themes: int | None = None,
        style: Literal["bullets", "prose"] = "bullets",
    ) -> str:
        try:
            return library.render(library.recap(checked(talk_id), count=themes, style=style), format)
        except TalksError as error:
            raise ToolError(str(error)) from None

    @server.tool(description="An event's digest: the themes across its talks; md or json.")
    def digest(event: str, format: Literal["md", "json"] = "md", themes: int | None = None) -> str:
        try:
            return library.render(library.digest(event, count=themes), format)
        except TalksError as error:
            raise ToolError(str(error)) from None

    @server.tool(
        description="Read a talk's transcript from segment `first` to `last` (included), with times and speakers."
    )
    def read_transcript(talk_id: str, first: int = 0, last: int | None = None) -> TranscriptSpan:
        from pipeline.server.api_routes import transcript_span

        try:
            return transcript_span(
                library.transcript(checked(talk_id)), first, last if last is not None else first + 49
            )
        except TalksError as error:
            raise ToolError(str(error)) from None

    return server


def serve_stdio(workspace: Path | None, store: str | None = None, store_url: str | None = None) -> None:
    """Serves MCP over stdin/stdout until the client hangs up; logs go to stderr, never stdout."""
    import logging

    logging.basicConfig(stream=sys.stderr, level=logging.WARNING)
    library = Library.open(workspace, store=store, store_url=store_url)
    try:
        build_server(library).run("stdio")
    finally:
        library.close()
