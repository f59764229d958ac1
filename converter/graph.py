"""One place that owns graph edits.

:class:`ModelGraph` indexes a model once (every graph and subgraph, their constants,
who uses which tensor, which names are taken) and applies all edits at the end in one
pass per graph. Decompositions never touch the protobuf lists themselves: they hand
over new nodes and initializers, and ``commit`` keeps names unique, order topological,
and leaves no dead weights behind.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field

import numpy as np
import onnx
from onnx import helper, numpy_helper


@dataclass
class GraphInfo:
    """One graph of the model: the main graph or a subgraph of If/Loop/Scan."""

    graph: onnx.GraphProto
    path: str  # "main", or "main/<node>.<attribute>" for subgraphs


@dataclass(frozen=True)
class NodeRef:
    """A node, by position: stable while edits are pending."""

    graph_index: int
    node_index: int


@dataclass
class _Pending:
    replace: dict[int, list[onnx.NodeProto]] = field(default_factory=dict)
    remove: set[int] = field(default_factory=set)
    initializers: list[onnx.TensorProto] = field(default_factory=list)


class Names:
    """Fresh names: ``base`` itself when it is free, else ``base_1``, ``base_2``, ..."""

    def __init__(self, taken: set[str] | None = None) -> None:
        self.taken: set[str] = taken if taken is not None else set()

    def fresh_name(self, base: str) -> str:
        name, k = base, 1
        while name in self.taken:
            name = f"{base}_{k}"
            k += 1
        self.taken.add(name)
        return name


class ModelGraph:
    """Index and editor of an ONNX model's graphs."""

    def __init__(self, model: onnx.ModelProto) -> None:
        self.model = model
        self.graphs: list[GraphInfo] = []
        self._collect(model.graph, "main")
        self._names = Names()
        self._uses: Counter[str] = Counter()
        self._initializers: dict[str, tuple[int, onnx.TensorProto]] = {}
        self._constant_nodes: dict[str, tuple[int, int]] = {}
        self._consumers: dict[str, list[NodeRef]] = {}
        self._graph_outputs: set[str] = set()
        for gi, info in enumerate(self.graphs):
            g = info.graph
            for t in g.initializer:
                self._initializers[t.name] = (gi, t)
                self._names.taken.add(t.name)
            for v in list(g.input) + list(g.output) + list(g.value_info):
                self._names.taken.add(v.name)
            for v in g.output:
                self._graph_outputs.add(v.name)
                self._uses[v.name] += 1
            for ni, node in enumerate(g.node):
                ref = NodeRef(gi, ni)
                if node.name:
                    self._names.taken.add(node.name)
                for name in node.input:
                    if name:
                        self._uses[name] += 1
                        self._consumers.setdefault(name, []).append(ref)
                for name in node.output:
                    self._names.taken.add(name)
                if node.op_type == "Constant" and len(node.output) == 1:
                    self._constant_nodes[node.output[0]] = (gi, ni)
        self._pending: dict[int, _Pending] = {}
        self._released: set[str] = set()

    def _collect(self, graph: onnx.GraphProto, path: str) -> None:
        self.graphs.append(GraphInfo(graph, path))
        for ni, node in enumerate(graph.node):
            label = node.name or f"node{ni}"
            for a in node.attribute:
                if a.type == onnx.AttributeProto.GRAPH:
                    self._collect(a.g, f"{path}/{label}.{a.name}")
                elif a.type == onnx.AttributeProto.GRAPHS:
                    for k, sub in enumerate(a.graphs):
                        self._collect(sub, f"{path}/{label}.{a.name}[{k}]")

    # ----- reading -------------------------------------------------------------------
    def node(self, ref: NodeRef) -> onnx.NodeProto:
        return self.graphs[ref.graph_index].graph.node[ref.node_index]

    def nodes(self, op_type: str | None = None) -> Iterator[NodeRef]:
        """Every node of every graph, in graph order, optionally of one op type."""
        for gi, info in enumerate(self.graphs):
            for ni, node in enumerate(info.graph.node):
                if op_type is None or node.op_type == op_type:
                    yield NodeRef(gi, ni)

    def constant(self, name: str) -> np.ndarray | None:
        """The value of a tensor that is fixed when the model is built, else None.

        Initializers (also those listed as graph inputs by old exporters) and outputs of
        ``Constant`` nodes with a tensor value count; anything computed at run time does not.
        """
        if name in self._initializers:
            return numpy_helper.to_array(self._initializers[name][1])
        if name in self._constant_nodes:
            gi, ni = self._constant_nodes[name]
            for a in self.graphs[gi].graph.node[ni].attribute:
                if a.name == "value" and a.type == onnx.AttributeProto.TENSOR:
                    return numpy_helper.to_array(a.t)
        return None

    def constant_shape(self, name: str) -> tuple[int, ...] | None:
        """The shape of a constant tensor (see :meth:`constant`) without reading its data."""
        if name in self._initializers:
            return tuple(self._initializers[name][1].dims)
        if name in self._constant_nodes:
            gi, ni = self._constant_nodes[name]
            for a in self.graphs[gi].graph.node[ni].attribute:
                if a.name == "value" and a.type == onnx.AttributeProto.TENSOR:
                    return tuple(a.t.dims)
        return None

    def is_graph_output(self, name: str) -> bool:
        return name in self._graph_outputs

    def consumers(self, name: str) -> list[NodeRef]:
        return list(self._consumers.get(name, []))

    def uses(self, name: str) -> int:
        """How many node inputs and graph outputs read this tensor, in all graphs."""
        return self._uses[name]

    # ----- naming --------------------------------------------------------------------
    def fresh_name(self, base: str) -> str:
        """A name not used anywhere in the model, ``base`` itself when it is free."""
        return self._names.fresh_name(base)

    # ----- editing -------------------------------------------------------------------
    def replace(self, ref: NodeRef, new_nodes: list[onnx.NodeProto],
                initializers: list[onnx.TensorProto], removed: list[NodeRef] = ()) -> None:
        """Put ``new_nodes`` where ``ref`` stands, drop ``removed``, add ``initializers``.

        Inputs of the replaced and removed nodes are released: any that is a weight
        no longer used once all edits are applied is deleted by :meth:`commit`.
        """
        pend = self._pending.setdefault(ref.graph_index, _Pending())
        pend.replace[ref.node_index] = new_nodes
        pend.initializers.extend(initializers)
        for r in [ref, *removed]:
            old = self.node(r)
            for name in old.input:
                if name:
                    self._uses[name] -= 1
                    self._released.add(name)
            if r != ref:
                self._pending.setdefault(r.graph_index, _Pending()).remove.add(r.node_index)
        for node in new_nodes:
            for name in node.input:
                if name:
                    self._uses[name] += 1

    def commit(self) -> list[str]:
        """Apply the pending edits; return the names of the weights that were deleted."""
        for gi, pend in self._pending.items():
            g = self.graphs[gi].graph
            nodes: list[onnx.NodeProto] = []
            for ni, node in enumerate(g.node):
                if ni in pend.replace:
                    nodes.extend(pend.replace[ni])
                elif ni not in pend.remove:
                    nodes.append(node)
            kept = [onnx.NodeProto() for _ in nodes]
            for dst, src in zip(kept, nodes):
                dst.CopyFrom(src)
            del g.node[:]
            g.node.extend(kept)
            g.initializer.extend(pend.initializers)
            if self.model.ir_version < 4:  # before IR 4 every initializer is also a graph input
                g.input.extend(helper.make_tensor_value_info(t.name, t.data_type, list(t.dims))
                               for t in pend.initializers)
        deleted = self._delete_dead(self._released)
        self._drop_stale_value_info()
        self._pending.clear()
        self._released = set()
        return deleted

    def _delete_dead(self, candidates: set[str]) -> list[str]:
        dead = {n for n in candidates if self._uses[n] <= 0 and n not in self._graph_outputs}
        dead = {n for n in dead if n in self._initializers or n in self._constant_nodes}
        if not dead:
            return []
        for info in self.graphs:
            g = info.graph
            _delete_where(g.initializer, lambda t: t.name in dead)
            _delete_where(g.input, lambda v: v.name in dead)
            _delete_where(g.node, lambda n: n.op_type == "Constant" and bool(n.output) and n.output[0] in dead)
        return sorted(dead)

    def _drop_stale_value_info(self) -> None:
        for info in self.graphs:
            g = info.graph
            produced = {o for n in g.node for o in n.output}
            _delete_where(g.value_info, lambda v, produced=produced: v.name not in produced)


def _delete_where(field_, dead) -> None:
    """Delete the items of a repeated protobuf field for which ``dead(item)`` holds, in place
    (no copy of the items that stay: weights can be large)."""
    for i in reversed([i for i, item in enumerate(field_) if dead(item)]):
        del field_[i]
