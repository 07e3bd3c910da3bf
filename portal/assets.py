"""Static files (scripts and styles) loaded once at start, with content-hash ETags."""

from __future__ import annotations

import gzip
import hashlib
from dataclasses import dataclass
from pathlib import Path

# Litestar adds "; charset=utf-8" to every text/ type.
TYPES = {".js": "text/javascript", ".css": "text/css"}


@dataclass(frozen=True)
class Asset:
    body: bytes
    content_type: str
    etag: str

    @property
    def version(self) -> str:
        return self.etag.strip('"')[:12]

    @property
    def gzipped_size(self) -> int:
        return len(gzip.compress(self.body, 9))


def load_assets(directory: Path) -> dict[str, Asset]:
    assets = {}
    for path in sorted(directory.iterdir()):
        if path.suffix in TYPES:
            body = path.read_bytes()
            etag = '"' + hashlib.sha256(body).hexdigest()[:32] + '"'
            assets[path.name] = Asset(body, TYPES[path.suffix], etag)
    return assets
