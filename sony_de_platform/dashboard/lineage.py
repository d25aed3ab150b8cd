"""The asset graph as the dashboard draws it: taken from the real Dagster definitions.

Nodes are the assets (grouped by medallion layer, with their check count), edges their
dependencies, exactly as the code location declares them; the DOT text is rendered in
the browser by Streamlit, so no Graphviz binary is needed.
"""

from __future__ import annotations

from dataclasses import dataclass

from dagster import AssetKey, Definitions

LAYER_ORDER = ("bronze", "silver", "gold", "governance")
LAYER_COLORS = {
    "bronze": "#f3d9c4",
    "silver": "#e4e7eb",
    "gold": "#f7e7a1",
    "governance": "#d6ecd9",
}


@dataclass(frozen=True)
class AssetNode:
    key: str
    layer: str
    checks: int
    parents: tuple[str, ...]


def _name(key: AssetKey) -> str:
    return "/".join(key.path)


def asset_nodes(defs: Definitions) -> list[AssetNode]:
    """Every asset of the code location, in layer order, with its parents and checks."""
    graph = defs.resolve_asset_graph()
    checks: dict[AssetKey, int] = {}
    for check_key in graph.asset_check_keys:
        checks[check_key.asset_key] = checks.get(check_key.asset_key, 0) + 1
    nodes = []
    for key in graph.get_all_asset_keys():
        node = graph.get(key)
        nodes.append(
            AssetNode(
                key=_name(key),
                layer=node.group_name or "default",
                checks=checks.get(key, 0),
                parents=tuple(sorted(_name(parent) for parent in node.parent_keys)),
            )
        )

    def order(node: AssetNode) -> tuple[int, str]:
        layer = LAYER_ORDER.index(node.layer) if node.layer in LAYER_ORDER else len(LAYER_ORDER)
        return layer, node.key

    return sorted(nodes, key=order)


def to_dot(nodes: list[AssetNode]) -> str:
    """DOT text: one cluster per layer, left to right."""
    lines = [
        "digraph assets {",
        '  rankdir=LR; node [shape=box, style="rounded,filled", fontname="Helvetica"];',
    ]
    layers = list(dict.fromkeys(node.layer for node in nodes))
    for layer in layers:
        lines.append(f'  subgraph "cluster_{layer}" {{')
        lines.append(f'    label="{layer.title()}"; style=dashed;')
        for node in (n for n in nodes if n.layer == layer):
            checks = f"\\n{node.checks} checks" if node.checks else ""
            color = LAYER_COLORS.get(layer, "#ffffff")
            lines.append(f'    "{node.key}" [label="{node.key}{checks}", fillcolor="{color}"];')
        lines.append("  }")
    for parent, child in drawn_edges(nodes):
        lines.append(f'  "{parent}" -> "{child}";')
    lines.append("}")
    return "\n".join(lines)


def drawn_edges(nodes: list[AssetNode]) -> list[tuple[str, str]]:
    """Direct dependencies less those implied by a longer path (a transitive reduction),
    so an asset that depends on everything (the published copy) does not hide the flow."""
    parents = {node.key: set(node.parents) for node in nodes}

    def ancestors(key: str) -> set[str]:
        seen: set[str] = set()
        stack = list(parents.get(key, ()))
        while stack:
            current = stack.pop()
            if current not in seen:
                seen.add(current)
                stack.extend(parents.get(current, ()))
        return seen

    edges = []
    for node in nodes:
        implied = set().union(*(ancestors(p) for p in node.parents)) if node.parents else set()
        edges.extend((p, node.key) for p in node.parents if p in parents and p not in implied)
    return edges
