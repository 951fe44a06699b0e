"""The original's Torch7 model file (`hgreg-3d.t7`, an nngraph gModule) as the PyTorch
port's state_dict, so convert.py maps it with the table it uses for the port.

The file is read by `torchfile` (binary Torch7 serialisation; `torch.CudaTensor` and
`torch.CudaStorage` read as float32, which is how cutorch writes them). The modules
are found by walking the graph from its input the way the original's
`src/models/hgreg-3d.lua` (xingyizhou/pose-hg-3d) builds it, not by counting: the stem
(conv, BatchNorm, ReLU, three residuals with a max-pool), per stack an hourglass (at each
level an upper chain of residuals beside a max-pool, a lower chain, the next level or the
bottom chain, a chain after it, a nearest upsampling and the sum), residuals, the `lin`
conv-BN-ReLU, the heatmap conv (the one whose output is a graph output) and the merge
convs, then four groups of residuals and a max-pool, a View and the Linear. Chain
lengths (nModules, nRegModules) and the hourglass depth are read off the graph. A module
of a class the walk does not expect, or one the walk never reaches, is an error naming
its class and where it is. `cudnn.*` module names are nn's.
"""

import struct
from pathlib import Path

import numpy as np

from pose3d_jax.weights.torch_io import ConversionError

ASCII_HEADER = b"4\n1\n3\nV 1\n"
CONCAT, SEQUENTIAL = "nn.ConcatTable", "nn.Sequential"  # a Residual is a Sequential


def _class(obj) -> str:
    """The module's class with cudnn's names as nn's (cudnn.ReLU -> nn.ReLU)."""
    import torchfile

    if not isinstance(obj, torchfile.TorchObject):
        return "Lua table" if isinstance(obj, dict) else type(obj).__name__
    name = obj.torch_typename().decode()
    return "nn." + name.split(".", 1)[1] if name.startswith("cudnn.") else name


def lua_list(table) -> list:
    """A Lua array (torchfile gives a dict keyed 1..n, or a list) as a Python list."""
    if table is None:
        return []
    if isinstance(table, dict):
        count = sum(isinstance(k, (int, float)) for k in table)
        return [table[k] for k in range(1, 1 + count)]
    return list(table)


def load(path):
    """The object in a binary Torch7 file, with one sentence for what cannot be read."""
    try:
        import torchfile
    except ImportError as err:
        raise ConversionError(
            "reading Torch7 files needs torchfile, which is optional: "
            "pip install 'pose3d_jax[convert]'."
        ) from err

    path = Path(path)
    with open(path, "rb") as f:
        head = f.read(len(ASCII_HEADER))
    if head == ASCII_HEADER:
        raise ConversionError(
            f"'{path}' is an ASCII-format Torch7 file; save it again in binary with Torch7: "
            f"torch.save('{path.stem}_binary.t7', torch.load('{path.name}', 'ascii'))."
        )
    try:
        return torchfile.load(str(path), use_list_heuristic=False)
    except (struct.error, EOFError, ValueError, KeyError, UnicodeDecodeError) as err:
        raise ConversionError(
            f"'{path}' could not be read as a Torch7 file ({type(err).__name__}: {err}); it "
            "is truncated or damaged: download it again."
        ) from err


class _Graph:
    """The gModule's forward nodes: each node's module, inputs (in order) and consumers."""

    def __init__(self, gmodule, where):
        self.where = where
        self.nodes = lua_list(gmodule[b"forwardnodes"])
        by_data = {id(n[b"data"]): n for n in self.nodes}
        self.inputs = {}
        for node in self.nodes:
            mapindex = node[b"data"].get(b"mapindex") or {}
            self.inputs[id(node)] = [by_data[id(d)] for d in lua_list(mapindex)]
        self.outputs = {id(n) for n in self.inputs[id(self._outnode(gmodule))]}
        self.visited = set()

    def _outnode(self, gmodule):
        out = gmodule[b"outnode"][b"data"]
        return next(n for n in self.nodes if n[b"data"] is out)

    def module(self, node):
        return node[b"data"].get(b"module")

    def consumers(self, node):
        return lua_list(node[b"children"])

    def name(self, node):
        module = self.module(node)
        return "no module" if module is None else _class(module)

    def take(self, node, expected, position):
        """Marks `node` visited after checking its module's class; returns the module."""
        got = self.name(node)
        if got not in expected:
            raise ConversionError(
                f"'{self.where}': {position} is {got}, where hgreg-3d has "
                f"{' or '.join(expected)}; this file is not the original's network."
            )
        self.visited.add(id(node))
        return self.module(node)

    def next_of(self, node, expected, position):
        """The consumer of `node` whose class is one of `expected` (exactly one)."""
        found = [c for c in self.consumers(node) if self.name(c) in expected]
        if len(found) != 1:
            seen = ", ".join(self.name(c) for c in self.consumers(node)) or "nothing"
            raise ConversionError(
                f"'{self.where}': after {position} hgreg-3d has one {' or '.join(expected)}, "
                f"but the graph continues with {seen}."
            )
        return found[0]


class _State(dict):
    """The port's {key: array}, filled module by module."""

    def conv(self, module, key):
        weight = np.asarray(module[b"weight"])
        if weight.ndim == 2:  # old nn kept (nOut, nIn*kH*kW): SpatialConvolution.lua:68-70
            shape = [int(module[k]) for k in (b"nOutputPlane", b"nInputPlane", b"kH", b"kW")]
            weight = weight.reshape(shape)
        self[f"{key}.weight"] = weight
        self[f"{key}.bias"] = np.asarray(module[b"bias"])

    def batchnorm(self, module, key):
        self[f"{key}.weight"] = np.asarray(module[b"weight"])
        self[f"{key}.bias"] = np.asarray(module[b"bias"])
        self[f"{key}.running_mean"] = np.asarray(module[b"running_mean"])
        if module._obj.get(b"running_var") is not None:
            self[f"{key}.running_var"] = np.asarray(module[b"running_var"])
        else:  # nn before version 2 kept 1 / sqrt(var + eps): BatchNormalization.lua:184-192
            std = np.asarray(module[b"running_std"], np.float64)
            self[f"{key}.running_var"] = std**-2 - float(module[b"eps"])

    def linear(self, module, key):
        self[f"{key}.weight"] = np.asarray(module[b"weight"])
        self[f"{key}.bias"] = np.asarray(module[b"bias"])


def _residual(graph, state, node, key, position):
    """One Residual (Residual.lua): Sequential(ConcatTable(convBlock, skip), CAddTable)."""
    seq = graph.take(node, [SEQUENTIAL], position)
    parts = lua_list(seq[b"modules"])
    names = [_class(p) for p in parts]
    if names != [CONCAT, "nn.CAddTable"]:
        raise ConversionError(
            f"'{graph.where}': {position} holds {names}, where a Residual holds "
            "[nn.ConcatTable, nn.CAddTable]."
        )
    block, skip = (lua_list(parts[0][b"modules"]) + [None, None])[:2]
    layers = lua_list(block[b"modules"]) if block is not None else []
    expected = ["nn.SpatialBatchNormalization", "nn.ReLU", "nn.SpatialConvolution"] * 3
    got = [_class(m) for m in layers]
    if got != expected:
        raise ConversionError(
            f"'{graph.where}': the convolution block of {position} holds {got}, where a "
            f"Residual's holds {expected}."
        )
    for (bn, _, conv), (bn_key, conv_key) in zip(
        (layers[0:3], layers[3:6], layers[6:9]),
        (("bn", "conv1"), ("bn1", "conv2"), ("bn2", "conv3")),
        strict=True,
    ):
        state.batchnorm(bn, f"{key}.{bn_key}")
        state.conv(conv, f"{key}.{conv_key}")
    skip_name = _class(skip) if skip is not None else "nothing"
    if skip_name == SEQUENTIAL:
        inner = lua_list(skip[b"modules"])
        if [_class(m) for m in inner] != ["nn.SpatialConvolution"]:
            raise ConversionError(
                f"'{graph.where}': the skip of {position} holds "
                f"{[_class(m) for m in inner]}, where a Residual's holds one 1x1 convolution."
            )
        state.conv(inner[0], f"{key}.conv4")
    elif skip_name != "nn.Identity":
        raise ConversionError(
            f"'{graph.where}': the skip of {position} is {skip_name}, where a Residual's is "
            "nn.Identity or a 1x1 convolution."
        )
    return node


def _chain(graph, state, node, count, keys, position):
    """`count` Residuals in a row after `node`; returns the last node."""
    for k in range(count):
        node = graph.next_of(node, [SEQUENTIAL], f"{position} {k}")
        _residual(graph, state, node, keys(k), f"{position}, residual {k + 1}")
    return node


def _count_chain(graph, node, stop):
    """Residuals in a row after `node` until a consumer of class `stop`."""
    count = 0
    while True:
        names = [graph.name(c) for c in graph.consumers(node)]
        if names == [stop] or not names:
            return count
        node = graph.next_of(node, [SEQUENTIAL], "a residual chain")
        count += 1


def _hourglass(graph, state, node, prefix, modules, position):
    """One hourglass level at `node` (hgreg-3d.lua's hourglass(n, f, inp)), with the
    levels inside it; returns the node of its sum."""
    up = _chain(graph, state, node, modules, lambda k: f"{prefix}.up1_.{k}", f"{position} up")
    pool = graph.next_of(node, ["nn.SpatialMaxPooling"], f"{position} input")
    graph.take(pool, ["nn.SpatialMaxPooling"], f"{position} max-pool")
    low = _chain(graph, state, pool, modules, lambda k: f"{prefix}.low1_.{k}", f"{position} down")
    if any(graph.name(c) == "nn.SpatialMaxPooling" for c in graph.consumers(low)):
        low = _hourglass(graph, state, low, f"{prefix}.low2", modules, f"{position}'s inner level")
    else:
        low = _chain(
            graph, state, low, modules, lambda k: f"{prefix}.low2_.{k}", f"{position} bottom"
        )
    low = _chain(graph, state, low, modules, lambda k: f"{prefix}.low3_.{k}", f"{position} after")
    upsample = graph.next_of(low, ["nn.SpatialUpSamplingNearest"], f"{position} lower branch")
    graph.take(upsample, ["nn.SpatialUpSamplingNearest"], f"{position} upsampling")
    total = graph.next_of(upsample, ["nn.CAddTable"], f"{position} upsampling")
    if id(up) not in {id(n) for n in graph.inputs[id(total)]}:
        raise ConversionError(f"'{graph.where}': {position}'s sum does not add its upper branch.")
    graph.take(total, ["nn.CAddTable"], f"{position} sum")
    return total


def _conv_bn_relu(graph, state, node, conv_key, bn_key, position):
    conv = graph.next_of(node, ["nn.SpatialConvolution"], position)
    state.conv(graph.take(conv, ["nn.SpatialConvolution"], f"{position} convolution"), conv_key)
    bn = graph.next_of(conv, ["nn.SpatialBatchNormalization"], f"{position} convolution")
    state.batchnorm(graph.take(bn, ["nn.SpatialBatchNormalization"], f"{position} BN"), bn_key)
    relu = graph.next_of(bn, ["nn.ReLU"], f"{position} BatchNorm")
    graph.take(relu, ["nn.ReLU"], f"{position} ReLU")
    return relu


def _stack(graph, state, inter, s, modules):
    """Stack s at `inter`: hourglass, residuals, lin, heatmaps, merge; returns the merge."""
    where = f"stack {s + 1}"
    hg = _hourglass(graph, state, inter, f"hourglass.{s}", modules, f"{where}'s hourglass")
    ll = _chain(graph, state, hg, modules, lambda k: f"Residual.{s * modules + k}", f"{where}")
    ll = _conv_bn_relu(graph, state, ll, f"lin_.{s}.0", f"lin_.{s}.1", f"{where}'s lin")
    convs = [c for c in graph.consumers(ll) if graph.name(c) == "nn.SpatialConvolution"]
    heat = [c for c in convs if id(c) in graph.outputs]
    features = [c for c in convs if id(c) not in graph.outputs]
    if len(heat) != 1 or len(features) != 1:
        raise ConversionError(
            f"'{graph.where}': {where}'s lin feeds {len(convs)} convolutions, where hgreg-3d "
            "has the heatmap convolution (a graph output) and the feature merge."
        )
    state.conv(graph.take(heat[0], ["nn.SpatialConvolution"], f"{where}'s heatmaps"), f"tmpOut.{s}")
    state.conv(graph.take(features[0], ["nn.SpatialConvolution"], f"{where}'s ll_"), f"ll_.{s}")
    back = graph.next_of(heat[0], ["nn.SpatialConvolution"], f"{where}'s heatmaps")
    state.conv(graph.take(back, ["nn.SpatialConvolution"], f"{where}'s tmpOut_"), f"tmpOut_.{s}")
    merge = graph.next_of(back, ["nn.CAddTable"], f"{where}'s tmpOut_")
    wanted = {id(inter), id(features[0]), id(back)}
    if {id(n) for n in graph.inputs[id(merge)]} != wanted:
        raise ConversionError(
            f"'{graph.where}': {where}'s merge does not add inter, ll_ and tmpOut_."
        )
    graph.take(merge, ["nn.CAddTable"], f"{where}'s merge")
    return merge


def state_dict(gmodule, where):
    """The port's state_dict of an hgreg-3d gModule object (from `load`)."""
    if _class(gmodule) != "nn.gModule":
        raise ConversionError(
            f"'{where}' holds a {_class(gmodule)}, not an nngraph gModule: it is not a model "
            "file (an optimiser state or options table?); give the model, e.g. hgreg-3d.t7."
        )
    graph = _Graph(gmodule, where)
    state = _State()
    start = next(n for n in graph.nodes if not graph.inputs[id(n)] and graph.module(n) is None)
    graph.visited.add(id(start))
    first = graph.consumers(start)[0]
    graph.take(first, ["nn.Identity"], "the input")
    stem = _conv_bn_relu(graph, state, first, "conv1_", "bn1", "the stem")
    node = _chain(graph, state, stem, 1, lambda k: "r1", "the stem")
    pool = graph.next_of(node, ["nn.SpatialMaxPooling"], "the stem's first residual")
    graph.take(pool, ["nn.SpatialMaxPooling"], "the stem's max-pool")
    inter = _chain(graph, state, pool, 2, lambda k: ("r4", "r5")[k], "the stem")
    first_up = graph.next_of(inter, [SEQUENTIAL], "the stem")
    modules = 1 + _count_chain(graph, first_up, "nn.CAddTable")
    stacks = 0  # the hourglass depth and the stacks are read off the keys by infer_config
    while any(graph.name(c) == "nn.SpatialMaxPooling" for c in graph.consumers(inter)):
        inter = _stack(graph, state, inter, stacks, modules)
        stacks += 1
    reg_modules = _count_chain(graph, inter, "nn.SpatialMaxPooling")
    for group in range(4):
        keys = lambda k, g=group: f"reg_.{g * reg_modules + k}"  # noqa: E731
        inter = _chain(
            graph, state, inter, reg_modules, keys, f"the depth head's group {group + 1}"
        )
        inter = graph.next_of(inter, ["nn.SpatialMaxPooling"], f"depth group {group + 1}")
        graph.take(inter, ["nn.SpatialMaxPooling"], f"the depth head's max-pool {group + 1}")
    view = graph.next_of(inter, ["nn.View", "nn.Reshape"], "the depth head")
    graph.take(view, ["nn.View", "nn.Reshape"], "the depth head's flattening")
    linear = graph.next_of(view, ["nn.Linear"], "the depth head's flattening")
    state.linear(graph.take(linear, ["nn.Linear"], "the depth head's Linear"), "reg")
    for n in graph.nodes:
        if id(n) not in graph.visited and graph.module(n) is not None:
            raise ConversionError(
                f"'{where}' has a {graph.name(n)} (graph node {int(n[b'id'])}) outside "
                "the hgreg-3d network; this file is not the original's network."
            )
    return dict(state)
