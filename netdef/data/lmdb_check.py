"""Checking an LMDB's B-tree pages before py-lmdb maps and reads them.

py-lmdb touches every page of a value as it hands it out; a damaged node that
claims a value running past the end of data.mdb then kills the process with
SIGBUS, which Python cannot catch. So the pages are read here with plain
file reads (never mapped), in the order a cursor visits them, and every node
is checked to lie inside the file before the cursor reaches its leaf.

Layout (LMDB's mdb.c, 64-bit): a page starts with pgno u64, pad u16, flags u16,
lower u16, upper u16; node offsets (u16) follow. A node is lo u16, hi u16,
flags u16, ksize u16, then the key, then the data (or an 8-byte overflow page
number when flags has F_BIGDATA). A branch node's child page is lo | hi<<16 |
flags<<32. Meta pages 0 and 1 hold the main database's root at byte 128 and
the last page number at byte 136; the newer one (txnid at 144) is current.
"""
from __future__ import annotations

import os
import struct

from netdef.errors import DataError

P_BRANCH, P_LEAF = 0x01, 0x02
F_BIGDATA = 0x01
MAGIC = 0xBEEFC0DE
PAGE_HEADER = 16
NODE_HEADER = 8
INVALID_PAGE = 2**64 - 1


class LeafWalker:
    """Yields, leaf by leaf in key order, how many records each checked leaf holds."""

    def __init__(self, data: str, page_size: int):
        self.data, self.page_size = data, page_size
        self.size = os.path.getsize(data)
        self.pages = self.size // page_size
        self.fd = os.open(data, os.O_RDONLY)

    def close(self) -> None:
        os.close(self.fd)

    def _page(self, pgno: int) -> bytes:
        if not 2 <= pgno < self.pages:
            self._fail(f"page number {pgno} is outside the file's {self.pages} pages")
        return os.pread(self.fd, self.page_size, pgno * self.page_size)

    def _fail(self, what: str):
        raise DataError(f'LMDB "{self.data}" is damaged: {what}', field="source")

    def root(self) -> int:
        metas = []
        for i in (0, 1):
            page = os.pread(self.fd, 152, i * self.page_size)
            if len(page) == 152 and struct.unpack_from("<I", page, 16)[0] == MAGIC:
                metas.append(struct.unpack_from("<Q", page, 144)[0:1] + struct.unpack_from("<Q", page, 128))
        if not metas:
            self._fail("no valid meta page")
        return max(metas)[1]

    def leaves(self):
        root = self.root()
        if root != INVALID_PAGE:
            yield from self._walk(root, 0, set())

    def _walk(self, pgno: int, depth: int, seen: set):
        if depth > 32 or pgno in seen:
            self._fail(f"page {pgno} is reached twice or the tree is deeper than 32 levels")
        seen.add(pgno)
        page = self._page(pgno)
        flags, lower = struct.unpack_from("<HH", page, 10)
        count = (lower - PAGE_HEADER) // 2
        if lower < PAGE_HEADER or PAGE_HEADER + 2 * count > self.page_size:
            self._fail(f"page {pgno} claims {count} nodes")
        offsets = struct.unpack_from(f"<{count}H", page, PAGE_HEADER)
        if flags & P_BRANCH:
            for offset in offsets:
                lo, hi, high = self._node(page, pgno, offset)[:3]
                yield from self._walk(lo | hi << 16 | high << 32, depth + 1, seen)
        elif flags & P_LEAF:
            for offset in offsets:
                self._leaf_node(page, pgno, offset)
            yield count
        else:
            self._fail(f"page {pgno} is neither a branch nor a leaf (flags {flags:#x})")

    def _node(self, page: bytes, pgno: int, offset: int):
        if not PAGE_HEADER <= offset <= self.page_size - NODE_HEADER:
            self._fail(f"a node of page {pgno} starts at byte {offset}, outside the page")
        lo, hi, flags, ksize = struct.unpack_from("<HHHH", page, offset)
        if offset + NODE_HEADER + ksize > self.page_size:
            self._fail(f"a {ksize}-byte key on page {pgno} runs past the page")
        return lo, hi, flags, ksize

    def _leaf_node(self, page: bytes, pgno: int, offset: int) -> None:
        lo, hi, flags, ksize = self._node(page, pgno, offset)
        size, start = lo | hi << 16, offset + NODE_HEADER + ksize
        if not flags & F_BIGDATA:
            if start + size > self.page_size:
                self._fail(f"a {size:,}-byte value on page {pgno} runs past the page")
            return
        if start + 8 > self.page_size:
            self._fail(f"an overflow page number on page {pgno} runs past the page")
        first = struct.unpack_from("<Q", page, start)[0]
        if not 2 <= first < self.pages or first * self.page_size + PAGE_HEADER + size > self.size:
            self._fail(f"a {size:,}-byte value on overflow page {first} (from page {pgno}) runs past "
                       f"the end of the {self.size:,}-byte file")
