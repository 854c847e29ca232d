"""Markdown previews of the marts for the Dagster UI (pure: rows in, Markdown out)."""

from __future__ import annotations


def top_documents_markdown(rows: list[tuple]) -> str:
    """rows: (rank, document_id, title, view_count, unique_sessions)."""
    if not rows:
        return "_No documents clicked on this day._"
    lines = ["| rank | document | title | views | sessions |", "|---:|---:|---|---:|---:|"]
    for rank, doc, title, views, sessions in rows:
        safe = (title or "").replace("|", "\\|")[:80]
        lines.append(f"| {rank} | {doc} | {safe} | {views} | {sessions} |")
    return "\n".join(lines)


def area_shares_markdown(rows: list[tuple]) -> str:
    """rows: (clinical_area, search_count); shares are of all area mentions that day."""
    total = sum(n for _, n in rows)
    if not total:
        return "_No clinical areas on this day._"
    lines = ["| clinical area | searches | share |", "|---|---:|---:|"]
    for area, n in rows:
        lines.append(f"| {area} | {n} | {100 * n / total:.1f}% |")
    return "\n".join(lines)
