#!/usr/bin/env python3
"""Draws addon/icon.png (128x128) and addon/logo.png (250x100) without any image library:
a yellow lightning bolt on a dark blue tile, and for the logo the tile beside three bars that
stand for a meter's readings. Run from the repository root: python3 addon/make_icons.py"""
import struct, zlib

BLUE, YELLOW, WHITE, CLEAR = (18, 52, 86, 255), (255, 196, 0, 255), (235, 240, 245, 255), (0, 0, 0, 0)
BOLT = [(0.58, 0.08), (0.26, 0.55), (0.47, 0.55), (0.38, 0.92), (0.74, 0.40), (0.53, 0.40), (0.64, 0.08)]


def inside(poly, x, y):
    hit = False
    for (x1, y1), (x2, y2) in zip(poly, poly[1:] + poly[:1]):
        if (y1 > y) != (y2 > y) and x < x1 + (y - y1) * (x2 - x1) / (y2 - y1):
            hit = not hit
    return hit


def tile(px, size, ox=0):
    r = size * 0.18
    for y in range(size):
        for x in range(size):
            cx, cy = min(max(x, r), size - 1 - r), min(max(y, r), size - 1 - r)
            if (x - cx) ** 2 + (y - cy) ** 2 > r * r:
                continue
            bolt = inside([(a * size, b * size) for a, b in BOLT], x + 0.5, y + 0.5)
            px[y][x + ox] = YELLOW if bolt else BLUE


def png(path, px):
    h, w = len(px), len(px[0])
    raw = b"".join(b"\0" + b"".join(bytes(p) for p in row) for row in px)
    def chunk(kind, data):
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))
    ihdr = struct.pack(">IIBBBBB", w, h, 8, 6, 0, 0, 0)
    open(path, "wb").write(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", zlib.compress(raw, 9)) + chunk(b"IEND", b""))


icon = [[CLEAR] * 128 for _ in range(128)]
tile(icon, 128)
png("addon/icon.png", icon)

logo = [[CLEAR] * 250 for _ in range(100)]
tile(logo, 100)
for i, (length, colour) in enumerate([(120, YELLOW), (90, WHITE), (60, WHITE)]):
    for y in range(22 + i * 22, 36 + i * 22):
        for x in range(115, 115 + length):
            logo[y][x] = colour
png("addon/logo.png", logo)
