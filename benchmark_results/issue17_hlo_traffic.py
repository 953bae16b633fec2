r"""Issue 17 probe: the memory traffic of the compiled step, read from its HLO.

Sums, over the instructions of an XLA:CPU module's entry computation after
optimisation, the bytes each reads and writes (its operands and its result),
by kind of instruction, and the element-wise loop fusions by their name
(XLA names a fusion after its root ops, so Adam's updates of the moments are
`multiply_add_fusion` and of the variables `divide_subtract_fusion`). A lower
bound of what each costs on a machine whose memory streams at B bytes a
second is traffic / B.

Usage:
    XLA_FLAGS="--xla_dump_to=/tmp/hlo --xla_dump_hlo_as_text" python -m \
      pipelines.benchmark --training_child='{"kind": "ours", "replicas": 1,
      "preset": "reference", "features": [4096, 300], "batch_size": 64,
      "steps": 2, "jit_compile": true, "repeats": 1}'
    python benchmark_results/issue17_hlo_traffic.py \
      /tmp/hlo/*one_step_on_data*.cpu_after_optimizations.txt
"""

import collections
import re
import sys

_BYTES = {"f32": 4, "s32": 4, "u32": 4, "s64": 8, "pred": 1, "f16": 2, "bf16": 2}
_ARRAY = re.compile(r"(f32|s32|u32|s64|pred|f16|bf16)\[([0-9,]*)\]")
_INSTRUCTION = re.compile(r"\s*(?:ROOT )?%(\S+) = (\(.*?\)|\S+) ([\w-]+)\((.*?)\)")


def _size(shape):
    """Bytes of an HLO shape (a tuple's are summed)."""
    total = 0
    for dtype, dims in _ARRAY.findall(shape):
        elements = 1
        for dim in filter(None, dims.split(",")):
            elements *= int(dim)
        total += elements * _BYTES[dtype]
    return total


def traffic(text):
    """Returns `(by_kind, loop_fusions)`: `{name: [count, bytes]}` dicts."""
    entry = text[text.index("\nENTRY") + 1 :].split("\n")
    sizes = {
        name: _size(shape)
        for name, shape in re.findall(r"(arg[0-9]+\.1): (\w+\[[0-9,]*\])", entry[0])
    }
    by_kind = collections.defaultdict(lambda: [0, 0])
    loop_fusions = collections.defaultdict(lambda: [0, 0])
    for line in entry[1:]:
        match = _INSTRUCTION.match(line)
        if not match:
            continue
        name, shape, opcode, operands = match.groups()
        sizes[name] = _size(shape)
        if opcode in ("tuple", "parameter"):
            continue
        moved = sizes[name] + sum(
            sizes.get(operand.strip().lstrip("%"), 0) for operand in operands.split(",")
        )
        kind = opcode
        if opcode == "fusion":
            kind = "fusion " + re.search(r"kind=(\w+)", line).group(1)
        by_kind[kind][0] += 1
        by_kind[kind][1] += moved
        if kind == "fusion kLoop":
            family = re.sub(r"\.\d+$", "", name)
            big = "4M+ bytes" if sizes[name] >= 4e6 else "smaller"
            loop_fusions[f"{family} ({big})"][0] += 1
            loop_fusions[f"{family} ({big})"][1] += moved
    return by_kind, loop_fusions


def main(path):
    """Prints the traffic by kind and of the largest loop-fusion families."""
    with open(path) as f:
        by_kind, loop_fusions = traffic(f.read())
    for title, table, rows in (
        ("instructions", by_kind, None),
        ("loop fusions", loop_fusions, 8),
    ):
        print(f"{title}: count, MB read and written")
        ranked = sorted(table.items(), key=lambda item: -item[1][1])
        for name, (count, moved) in ranked[:rows]:
            print(f"  {name:45s} {count:5d} {moved / 1e6:9.1f}")


if __name__ == "__main__":
    main(sys.argv[1])
