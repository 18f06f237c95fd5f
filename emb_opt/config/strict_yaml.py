"""The YAML loader for configs: safe, refusing a key given twice in a mapping (YAML would keep
the last one silently) and a document whose aliases expand it past a size (an alias bomb: a
few hundred bytes standing for billions of values)."""

from __future__ import annotations

from typing import Any

import yaml

_MERGE = "tag:yaml.org,2002:merge"


def strict_loader(max_size: int) -> type[yaml.SafeLoader]:
    """A SafeLoader class for documents of at most `max_size` values and characters once
    every alias is expanded."""
    return type("StrictLoader", (_StrictLoader,), {"max_size": max_size})


class _StrictLoader(yaml.SafeLoader):
    max_size = 0

    def compose_mapping_node(self, anchor: Any) -> yaml.MappingNode:
        """A mapping node; ValueError names a key it holds twice (merged keys `<<` may be
        overridden: that is what they are for)."""
        node = super().compose_mapping_node(anchor)
        first_lines: dict[Any, int] = {}
        for key_node, _ in node.value:
            if not isinstance(key_node, yaml.ScalarNode) or key_node.tag == _MERGE:
                continue
            key, line = self.construct_object(key_node), key_node.start_mark.line + 1
            if key in first_lines:
                raise ValueError(
                    f"line {line}: key {key!r} is given twice in one mapping (first on line "
                    f"{first_lines[key]}); YAML would keep only the last: write it once"
                )
            first_lines[key] = line
        return node

    def construct_document(self, node: yaml.Node) -> Any:
        """The document's data, once its expanded size is known to be within `max_size`."""
        size = expanded_size(node)
        if size > self.max_size:
            raise ValueError(
                f"expands to {size:,} values and characters, more than {self.max_size:,} "
                "(aliases repeat what they name); write the repeated parts once"
            )
        return super().construct_document(node)


def expanded_size(root: yaml.Node) -> int:
    """Values (nodes) plus scalar characters of the document under `root` with every alias
    written out, counted once per distinct node (so in time linear in the file); ValueError
    for an alias inside the value it names."""
    sizes: dict[int, int] = {}
    opened: set[int] = set()
    todo: list[tuple[yaml.Node, bool]] = [(root, False)]
    while todo:
        node, children_done = todo.pop()
        children = _children(node)
        if children_done:
            own = len(node.value) if isinstance(node, yaml.ScalarNode) else 0
            sizes[id(node)] = 1 + own + sum(sizes[id(child)] for child in children)
            opened.discard(id(node))
        elif id(node) in opened:
            line = node.start_mark.line + 1
            raise ValueError(f"line {line}: an alias names a value that holds the alias")
        elif id(node) not in sizes:
            opened.add(id(node))
            todo += [(node, True), *((child, False) for child in children)]
    return sizes[id(root)]


def _children(node: yaml.Node) -> list[yaml.Node]:
    if isinstance(node, yaml.MappingNode):
        return [part for pair in node.value for part in pair]
    return list(node.value) if isinstance(node, yaml.SequenceNode) else []
