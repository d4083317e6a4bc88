"""Results as JSON (everything) and a short Markdown table (the headline numbers)."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any


def headline(result: dict[str, Any]) -> str:
    """The one number that matters, in words: the result's own headline, or its two rates."""
    if "headline" in result:
        return str(result["headline"])
    if "ratio" in result:
        m = result["metrics"]
        return f"{m.get('project_rps', '?')} vs {m.get('reference_rps', '?')} {result.get('unit', 'req/s')}"
    return result.get("headline", "")


def cpu(result: dict[str, Any]) -> str:
    """Server (and Redis) CPU per request or per visitor, where measured."""
    m = result.get("metrics") or {}
    if m.get("project_server_cpu_us") is not None:
        return (f"{m['project_server_cpu_us']:g} + {m.get('project_redis_cpu_us', 0):g} us vs "
                f"{m['reference_server_cpu_us']:g} + {m.get('reference_redis_cpu_us', 0):g} us (server + Redis)")
    if m.get("reference_server_cpu_ms_per_flow") is not None:
        return (f"{m['project_server_cpu_ms_per_flow']:g} ms vs {m['reference_server_cpu_ms_per_flow']:g} ms per "
                f"flow (server), of which signing {m['signing_cpu_ms_per_flow']:g} ms")
    if m.get("server_cpu_ms_per_flow") is not None:
        return (f"{m['server_cpu_ms_per_flow']:g} + {m['redis_cpu_ms_per_flow']:g} ms per flow (server + Redis) vs "
                f"{m['signing_cpu_ms_per_flow']:g} ms signing")
    if m.get("server_cpu_ms_per_visitor") is not None:
        return f"{m['server_cpu_ms_per_visitor']:g} + {m['redis_cpu_ms_per_visitor']:g} ms per visitor (server + Redis)"
    return ""


def one_line(result: dict[str, Any]) -> str:
    verdict = {True: "ok", False: "BELOW TARGET"}.get(result.get("pass"), "")  # type: ignore[arg-type]
    ratio = ""
    if "ratio" in result:
        ratio = f"{result['ratio']:.2f}x" + (f" (target >= {result['target']}x)" if "target" in result else "")
    return "  ".join(x for x in (f"{result['name']:<22}", ratio, headline(result), verdict) if x)


def markdown(meta: dict[str, Any], results: list[dict[str, Any]]) -> str:
    lines = [
        f"Machine: {meta.get('cores')} cores, Python {meta.get('python')}, Redis {meta.get('redis')}, "
        f"{meta.get('server')}{' (quick run)' if meta.get('quick') else ''}; {meta.get('started')}",
        "",
        "| benchmark | result | ratio | target | verdict | server CPU per request, project vs reference |",
        "|---|---|---|---|---|---|",
    ]
    for r in results:
        ratio = f"{r['ratio']:.2f}x" if "ratio" in r else ""
        target = r.get("target_text") or (f">= {r['target']}x" if "target" in r else "")
        verdict = {True: "ok", False: "below target"}.get(r.get("pass"), "")  # type: ignore[arg-type]
        lines.append(f"| {r['name']} | {headline(r)} | {ratio} | {target} | {verdict} | {cpu(r)} |")
    return "\n".join(lines) + "\n"


def write(directory: Path, meta: dict[str, Any], results: list[dict[str, Any]]) -> tuple[Path, Path]:
    directory.mkdir(parents=True, exist_ok=True)
    stamp = time.strftime("%Y%m%d-%H%M%S")
    json_path = directory / f"{stamp}.json"
    md_path = directory / f"{stamp}.md"
    json_path.write_text(json.dumps({"machine": meta, "results": results}, indent=2) + "\n", encoding="utf-8")
    md_path.write_text(markdown(meta, results), encoding="utf-8")
    (directory / "latest.json").write_text(json_path.read_text(encoding="utf-8"), encoding="utf-8")
    (directory / "latest.md").write_text(md_path.read_text(encoding="utf-8"), encoding="utf-8")
    return json_path, md_path
