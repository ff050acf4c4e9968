"""Data-structure seeds for codemill's examples."""

from collections import OrderedDict, deque


class LRUCache:
    """A least-recently-used cache holding at most `capacity` items."""

    def __init__(self, capacity: int) -> None:
        self.capacity = capacity
        self.items: OrderedDict = OrderedDict()

    def get(self, key, default=None):
        if key not in self.items:
            return default
        self.items.move_to_end(key)
        return self.items[key]

    def put(self, key, value) -> None:
        self.items[key] = value
        self.items.move_to_end(key)
        if len(self.items) > self.capacity:
            self.items.popitem(last=False)


def bfs_order(graph: dict[str, list[str]], start: str) -> list[str]:
    """Nodes of `graph` in breadth-first order from `start`."""
    seen, order, queue = {start}, [], deque([start])
    while queue:
        node = queue.popleft()
        order.append(node)
        for neighbour in graph.get(node, []):
            if neighbour not in seen:
                seen.add(neighbour)
                queue.append(neighbour)
    return order


def flatten(nested: list) -> list:
    """Flatten arbitrarily nested lists into one flat list."""
    flat = []
    for item in nested:
        if isinstance(item, list):
            flat.extend(flatten(item))
        else:
            flat.append(item)
    return flat


def merge_intervals(intervals: list[tuple[int, int]]) -> list[tuple[int, int]]:
    """Merge overlapping closed intervals; the result is sorted by start."""
    merged: list[tuple[int, int]] = []
    for start, end in sorted(intervals):
        if merged and start <= merged[-1][1]:
            merged[-1] = (merged[-1][0], max(merged[-1][1], end))
        else:
            merged.append((start, end))
    return merged


def chunked(items: list, size: int) -> list[list]:
    """Split `items` into consecutive chunks of `size` (the last may be shorter)."""
    return [items[i:i + size] for i in range(0, len(items), size)]
