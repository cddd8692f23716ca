"""The MCP server: declares shoal's tools and nothing else.

Each tool validates its typed arguments (the SDK does that from the signature), calls one domain
function, and returns that function's result twice: as structured content checked against the
result's output schema, and as a short readable summary for hosts that show text. Domain errors
(``ValueError``) become tool errors whose message tells the model what to change; anything else is
a crash whose details stay in the server's log on stderr.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import replace
from typing import Annotated, Any, Literal, TypeVar

from mcp.server.mcpserver import MCPServer
from mcp.server.mcpserver.exceptions import ToolError
from mcp.types import CallToolResult, TextContent, ToolAnnotations
from pydantic import Field, TypeAdapter

from shoal import __version__, render
from shoal.catalog import load_catalog
from shoal.cost import CostEstimate, estimate_cost
from shoal.hardware import (
    HardwareFit,
    ParetoFront,
    PortedChip,
    hardware_fit,
    pareto_front,
    port_chip,
)
from shoal.hardware_cli import front_table
from shoal.router import DEFAULT_WILLINGNESS_TO_PAY, RoutingDecision, load_router, route
from shoal.tokens import TokenCount, count_tokens

logger = logging.getLogger(__name__)

INSTRUCTIONS = """\
shoal answers four questions for an agent that wants to spend tokens well.
- Which model should do this task? `route_task` picks the cheapest model that is good enough,
  under budget, privacy (local-only), context-window and allowed-model constraints, and says why.
- How many tokens is this? `count_tokens` gives exact counts for OpenAI encodings and labelled
  estimates for other vendors.
- What will it cost? `estimate_cost` prices input, cached, output and reasoning tokens from a
  dated catalog.
- Can this model run on that machine, and how fast? `check_hardware_fit` gives memory fit,
  decode and prefill speed and energy per token.
Answers are deterministic: the same input gives the same output.
"""

READ_ONLY = ToolAnnotations(
    read_only_hint=True, destructive_hint=False, idempotent_hint=True, open_world_hint=False
)

MAX_TEXT_CHARACTERS = 20_000_000
MAX_TOKENS = 100_000_000
SHOWN_NEIGHBOURS = 5
PORTED_MODELS_SHOWN = 8

MODEL_FOR_COUNT = (
    "Optional catalog model id (e.g. 'gpt-4.1', 'claude-sonnet-4-5'): count with its tokenizer, or "
    "estimate when the vendor's tokenizer is not public. Empty: use `encoding`."
)

Result = TypeVar("Result")


@asynccontextmanager
async def _warm_up(server: MCPServer[None]) -> AsyncIterator[None]:
    """Load the catalog, the router and both encodings once, before the first call needs them."""
    load_catalog()
    load_router()
    count_tokens("warm up", encoding="o200k_base")
    count_tokens("warm up", encoding="cl100k_base")
    logger.info("shoal %s ready", __version__)
    yield None


def _answer(result: Any, summary: str) -> CallToolResult:
    """Package a domain result as structured content plus a readable summary."""
    structured = TypeAdapter(type(result)).dump_python(result, mode="json")
    return CallToolResult(
        content=[TextContent(type="text", text=summary)], structured_content=structured
    )


def _call(function: Callable[..., Result], *args: Any, **kwargs: Any) -> Result:
    """Run a domain function, turning the user's mistakes into errors the model can act on."""
    try:
        return function(*args, **kwargs)
    except ValueError as error:
        raise ToolError(str(error)) from error


def build_server() -> MCPServer[None]:
    """Create the MCP server with all of shoal's tools registered."""
    server: MCPServer[None] = MCPServer(
        "shoal",
        title="shoal",
        description="Model routing, token counts and costs, inference fit, process nodes.",
        instructions=INSTRUCTIONS,
        version=__version__,
        lifespan=_warm_up,
    )
    _add_token_tools(server)
    _add_routing_tools(server)
    _add_cost_tools(server)
    _add_hardware_tools(server)
    return server


def _add_token_tools(server: MCPServer[None]) -> None:
    @server.tool(name="count_tokens", title="Count tokens", annotations=READ_ONLY)
    def count_tokens_tool(
        text: Annotated[
            str, Field(description="The text to count.", max_length=MAX_TEXT_CHARACTERS)
        ],
        encoding: Annotated[
            Literal["o200k_base", "cl100k_base"],
            Field(description="Tokenizer to use when no model is named."),
        ] = "o200k_base",
        model: Annotated[str, Field(description=MODEL_FOR_COUNT, max_length=200)] = "",
    ) -> Annotated[CallToolResult, TokenCount]:
        """Count the tokens in a text: exact for OpenAI encodings (o200k_base, cl100k_base).

        Use it before sending a long prompt, file or tool result, to check that it fits a context
        window or budget. For models whose vendor tokenizer is not public (Claude, Gemini, ...)
        the count is a calibrated estimate and says so with `exact: false`.
        """
        result = _call(count_tokens, text, encoding=encoding, model=model or None)
        return _answer(result, render.token_count(result))


def _add_routing_tools(server: MCPServer[None]) -> None:
    @server.tool(name="route_task", title="Choose a model for a task", annotations=READ_ONLY)
    def route_task(
        prompt: Annotated[
            str,
            Field(
                description="The task or latest user turn to route.",
                min_length=1,
                max_length=MAX_TEXT_CHARACTERS,
            ),
        ],
        candidates: Annotated[
            list[Annotated[str, Field(max_length=200)]],
            Field(
                description="Catalog model ids to choose among; empty: every routable model.",
                max_length=200,
            ),
        ] = [],  # noqa: B006 - pydantic copies defaults
        excluded: Annotated[
            list[Annotated[str, Field(max_length=200)]],
            Field(description="Catalog model ids never to choose.", max_length=200),
        ] = [],  # noqa: B006
        local_only: Annotated[
            bool,
            Field(
                description="Only open-weight models run on the user's own hardware (private data)."
            ),
        ] = False,
        max_cost_usd: Annotated[
            float,
            Field(
                description="Most a single call may cost, in USD; 0 means no limit.", ge=0, le=1000
            ),
        ] = 0.0,
        min_quality: Annotated[
            float,
            Field(
                description="If above 0: choose the cheapest model predicted to reach this quality "
                "(0-1) instead of trading quality against cost.",
                ge=0,
                le=1,
            ),
        ] = 0.0,
        willingness_to_pay: Annotated[
            float,
            Field(
                description="USD one call may cost for a whole quality point (0 to 1): larger "
                "favours stronger, dearer models.",
                gt=0,
                le=1000,
            ),
        ] = DEFAULT_WILLINGNESS_TO_PAY,
        expected_output_tokens: Annotated[
            int,
            Field(
                description="Expected answer length, for cost and context fit.", ge=1, le=1_000_000
            ),
        ] = 256,
        max_alternatives: Annotated[
            int,
            Field(
                description="How many runners-up to return after the chosen model.", ge=0, le=100
            ),
        ] = 5,
    ) -> Annotated[CallToolResult, RoutingDecision]:
        """Choose which model should answer a prompt: the best predicted quality per dollar.

        Use it before delegating a task to a model. It predicts each candidate's quality from
        the nearest labelled example prompts (or the model's catalog quality prior), prices the
        call, drops candidates that break a constraint (excluded, local-only, context window,
        max cost) and explains the choice, with ranked alternatives. Deterministic.
        """
        decision = _call(
            route,
            prompt,
            candidates=candidates or None,
            excluded=excluded,
            local_only=local_only,
            max_cost_usd=max_cost_usd or None,
            min_quality=min_quality or None,
            willingness_to_pay=willingness_to_pay,
            expected_output_tokens=expected_output_tokens,
        )
        shown = decision.shortened(alternatives=max_alternatives, neighbours=SHOWN_NEIGHBOURS)
        return CallToolResult(
            content=[TextContent(type="text", text=render.routing_decision(decision))],
            structured_content=shown.to_dict(),
        )


def _add_cost_tools(server: MCPServer[None]) -> None:
    @server.tool(name="estimate_cost", title="Estimate the cost of a call", annotations=READ_ONLY)
    def estimate_cost_tool(
        model: Annotated[
            str,
            Field(
                description="Catalog model id, e.g. 'gpt-4.1-mini'.", min_length=1, max_length=200
            ),
        ],
        input_tokens: Annotated[
            int,
            Field(description="Prompt tokens per call, cached part included.", ge=0, le=MAX_TOKENS),
        ] = 0,
        output_tokens: Annotated[
            int, Field(description="Visible output tokens per call.", ge=0, le=MAX_TOKENS)
        ] = 0,
        cached_input_tokens: Annotated[
            int,
            Field(
                description="Part of input_tokens read from the prompt cache.", ge=0, le=MAX_TOKENS
            ),
        ] = 0,
        cache_write_tokens: Annotated[
            int,
            Field(
                description="Part of input_tokens written to the prompt cache.", ge=0, le=MAX_TOKENS
            ),
        ] = 0,
        reasoning_tokens: Annotated[
            int,
            Field(
                description="Hidden reasoning tokens per call, billed as output.",
                ge=0,
                le=MAX_TOKENS,
            ),
        ] = 0,
        calls: Annotated[
            int, Field(description="Number of identical calls.", ge=1, le=1_000_000_000)
        ] = 1,
    ) -> Annotated[CallToolResult, CostEstimate]:
        """Price a model call (or many identical calls) from the dated catalog, item by item.

        Input, cached-read, cache-write, output and reasoning tokens are priced separately, with
        long-context rates where the provider has them. An unknown model is an error that lists
        near matches; no price is ever guessed.
        """
        result = _call(
            estimate_cost,
            model,
            input_tokens=input_tokens,
            output_tokens=output_tokens,
            cached_input_tokens=cached_input_tokens,
            cache_write_tokens=cache_write_tokens,
            reasoning_tokens=reasoning_tokens,
            calls=calls,
        )
        return _answer(result, render.cost_estimate(result))


def _add_hardware_tools(server: MCPServer[None]) -> None:
    @server.tool(
        name="check_hardware_fit", title="Check a model on a device", annotations=READ_ONLY
    )
    def check_hardware_fit(
        model: Annotated[
            str,
            Field(
                description="Open-weight model id, e.g. 'llama-3.1-8b-instruct'.",
                min_length=1,
                max_length=200,
            ),
        ],
        device: Annotated[
            str,
            Field(
                description="Device id, e.g. 'apple-m4-pro', 'rtx-4090', 'iphone-16-pro'.",
                min_length=1,
                max_length=200,
            ),
        ],
        quantisation: Annotated[
            str,
            Field(
                description="Weight format: Q4_0, Q4_K_M, Q5_K_M, Q6_K, Q8_0, MXFP4, FP8, BF16, "
                "FP16, INT4-AWQ, INT4-GPTQ.",
                max_length=40,
            ),
        ] = "Q4_K_M",
        context_tokens: Annotated[
            int, Field(description="Context held in the KV cache.", ge=1, le=10_000_000)
        ] = 4096,
        batch: Annotated[int, Field(description="Concurrent sequences.", ge=1, le=4096)] = 1,
    ) -> Annotated[CallToolResult, HardwareFit]:
        """Check whether an open-weight model fits a device's memory, and how fast it runs there.

        Gives the memory needed (weights, KV cache, overhead) against what the device has, decode
        and prefill tokens/s with a low-high range, time to first token, and energy per token.
        All speeds and energies are estimates from a calibrated roofline model.
        """
        result = _call(
            hardware_fit,
            model,
            device,
            quantisation=quantisation,
            context_tokens=context_tokens,
            batch=batch,
        )
        return _answer(result, render.hardware_fit(result))

    @server.tool(
        name="port_chip", title="Move a chip to another process node", annotations=READ_ONLY
    )
    def port_chip_tool(
        device: Annotated[
            str,
            Field(
                description="Device id whose chip to move, e.g. 'iphone-16-pro'.",
                min_length=1,
                max_length=200,
            ),
        ],
        to_node: Annotated[
            str,
            Field(
                description="Target node id, e.g. 'nanostack-claimed' or 'nanostack-conservative'.",
                min_length=1,
                max_length=100,
            ),
        ],
        mode: Annotated[
            Literal["iso-power", "iso-performance", "iso-area"],
            Field(
                description="What to hold constant: power (go faster), performance (save "
                "power) or die area (more SRAM)."
            ),
        ] = "iso-power",
        from_node: Annotated[
            str, Field(description="Source node id; empty: the device's own node.", max_length=100)
        ] = "",
        models: Annotated[
            list[Annotated[str, Field(max_length=200)]],
            Field(
                description="Open-weight models whose inference to compare before and after; "
                f"empty: the {PORTED_MODELS_SHOWN} smallest that fit.",
                max_length=PORTED_MODELS_SHOWN,
            ),
        ] = [],  # noqa: B006 - pydantic copies defaults
        quantisation: Annotated[
            str, Field(description="Weight format for the inference comparison.", max_length=40)
        ] = "Q4_K_M",
        context_tokens: Annotated[
            int, Field(description="Context for the inference comparison.", ge=1, le=10_000_000)
        ] = 4096,
        sram_mb: Annotated[
            float,
            Field(
                description="On-die SRAM of the chip before the move, in MB, for devices whose "
                "table row has none (phones, Apple); 0: use the table.",
                ge=0,
                le=1_000_000,
            ),
        ] = 0.0,
    ) -> Annotated[CallToolResult, PortedChip]:
        """Estimate a chip's power, performance, area and on-die SRAM on another process node,
        and what that does to on-device inference (models resident in SRAM, decode speed, energy).

        Use it for what-if questions such as 'what does IBM's nanostack do for a phone chip?'.
        Node figures are labelled vendor claims or independent estimates.
        """
        result = _call(
            port_chip,
            device,
            from_node=from_node or None,
            to_node=to_node,
            mode=mode,
            models=models or None,
            quantisation=quantisation,
            context_tokens=context_tokens,
            sram_mb=sram_mb or None,
        )
        if not models:
            fitting = sorted(
                (row for row in result.inference if row.fits), key=lambda row: row.resident_set_gb
            )
            result = replace(result, inference=tuple(fitting[:PORTED_MODELS_SHOWN]))
        return _answer(result, render.ported_chip(result))

    @server.tool(
        name="sweep_hardware", title="Pareto front of speed and energy", annotations=READ_ONLY
    )
    def sweep_hardware(
        models: Annotated[
            list[Annotated[str, Field(max_length=200)]],
            Field(description="Open-weight model ids; empty: every model.", max_length=100),
        ] = [],  # noqa: B006
        devices: Annotated[
            list[Annotated[str, Field(max_length=200)]],
            Field(description="Device ids; empty: every device.", max_length=100),
        ] = [],  # noqa: B006
        quantisations: Annotated[
            list[Annotated[str, Field(max_length=40)]],
            Field(description="Weight formats to try.", min_length=1, max_length=20),
        ] = ["Q4_K_M"],  # noqa: B006
        contexts: Annotated[
            list[Annotated[int, Field(ge=1, le=10_000_000)]],
            Field(description="Context lengths to try, in tokens.", min_length=1, max_length=20),
        ] = [4096],  # noqa: B006
        nodes: Annotated[
            list[Annotated[str, Field(max_length=100)]],
            Field(
                description="Process nodes to move each device to ('as-built' keeps it as it "
                "is), e.g. ['as-built', 'nanostack-claimed'].",
                min_length=1,
                max_length=20,
            ),
        ] = ["as-built"],  # noqa: B006
        mode: Annotated[
            Literal["iso-power", "iso-performance", "iso-area"],
            Field(description="How devices are moved to the nodes."),
        ] = "iso-power",
        max_points: Annotated[
            int, Field(description="Most front points to return.", ge=1, le=500)
        ] = 40,
    ) -> Annotated[CallToolResult, ParetoFront]:
        """Sweep models x devices x formats x contexts x process nodes and return the Pareto front
        of decode tokens/s against joules per token (configurations that fit in memory).

        Use it to find where to run a model, or which configurations are worth it on a new node.
        Runs in the Rust core: a million configurations take a fraction of a second.
        """
        front = _call(
            pareto_front,
            models or None,
            devices or None,
            quantisations=quantisations,
            contexts=contexts,
            nodes=[None if node == "as-built" else node for node in nodes],
            mode=mode,
        )
        if len(front.points) > max_points:
            dropped = len(front.points) - max_points
            front = replace(
                front,
                points=front.points[:max_points],
                notes=(*front.notes, f"shortened: {dropped} more front points not shown"),
            )
        return _answer(front, front_table(front))


def main_stdio() -> None:
    """Serve over stdio (both protocol eras)."""
    build_server().run()
