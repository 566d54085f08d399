"""Images and class labels as people expect them, the way tfds and Hugging Face give them.

Prepared splits store an ``Image`` feature as encoded bytes (PNG, JPEG...) and a
``ClassLabel`` as int64 codes. On the way out:

* numpy and torch get images as ``uint8`` arrays, ``H x W`` or ``H x W x C``
  (``uint16`` for 16-bit PNGs), stacked into one ``N x H x W [x C]`` array when the
  feature declares a fixed shape;
* pandas gets ``PIL.Image.Image`` objects when Pillow is installed
  (``pip install 'labdatasets[images]'``) and numpy arrays otherwise;
* ``decode=False`` keeps the encoded bytes everywhere (tfds ``decoders``, HF
  ``Image(decode=False)``);
* ``class_labels="int"`` (codes, the default), ``"str"`` (names) or
  ``"categorical"`` (a pandas ``Categorical`` / polars ``Enum`` over the names in
  class order).

PNG is decoded without Pillow (8- and 16-bit, grey, grey+alpha, RGB, RGBA and
palette, not interlaced): only numpy and zlib are needed. Other encodings need
Pillow and say so.

Example::

    >>> arrays = decode_images(column, feature)      # numpy, N x 8 x 8 x 1 for digits
    >>> decode_image(png_bytes).shape
    (8, 8)
"""

from __future__ import annotations

import base64
import struct
import zlib
from typing import TYPE_CHECKING, Any

from labdatasets.errors import MissingDependencyError, PreparedDataError

if TYPE_CHECKING:  # pragma: no cover
    import numpy as np
    import pyarrow as pa

    from labdatasets.features import Feature

__all__ = [
    "decode_image",
    "decode_images",
    "pil_image",
    "have_pillow",
    "image_size",
    "thumbnail_html",
    "class_label_values",
]

_PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
_CHANNELS = {0: 1, 2: 3, 3: 1, 4: 2, 6: 4}  # colour type -> samples per pixel


def have_pillow() -> bool:
    try:
        import PIL.Image  # noqa: F401
    except ImportError:
        return False
    return True




# ---------------------------------------------------------------------------------------------- PNG without Pillow
def _png_chunks(data: bytes) -> list[tuple[bytes, bytes]]:
    if not data.startswith(_PNG_SIGNATURE):
        raise PreparedDataError("not a PNG file")
    chunks, pos = [], len(_PNG_SIGNATURE)
    while pos + 8 <= len(data):
        length, kind = struct.unpack(">I4s", data[pos : pos + 8])
        chunks.append((kind, data[pos + 8 : pos + 8 + length]))
        pos += 12 + length
        if kind == b"IEND":
            break
    return chunks


def _unfilter(raw: np.ndarray, height: int, stride: int, bpp: int) -> np.ndarray:
    """Undo PNG's per-row filters (None, Sub, Up, Average, Paeth) on ``raw`` (height x (1 + stride))."""
    import numpy as np

    rows = raw.reshape(height, stride + 1)
    out = np.zeros((height, stride), dtype=np.uint8)
    prior = np.zeros(stride, dtype=np.uint8)
    for y in range(height):
        kind, line = rows[y, 0], rows[y, 1:]
        if kind == 0:
            cur = line.copy()
        elif kind == 1:  # Sub: a running sum per byte position within a pixel
            cur = (np.cumsum(line.reshape(-1, bpp).astype(np.uint32), axis=0) % 256).astype(np.uint8).reshape(-1)
        elif kind == 2:  # Up
            cur = (line.astype(np.uint16) + prior) .astype(np.uint8)
        elif kind in (3, 4):  # Average, Paeth: each byte depends on the one just decoded
            cur = np.zeros(stride, dtype=np.uint8)
            left_row = line.astype(np.int32)
            up = prior.astype(np.int32)
            for x in range(stride):
                a = int(cur[x - bpp]) if x >= bpp else 0
                b = int(up[x])
                if kind == 3:
                    predictor = (a + b) // 2
                else:
                    c = int(up[x - bpp]) if x >= bpp else 0
                    p = a + b - c
                    pa_, pb, pc = abs(p - a), abs(p - b), abs(p - c)
                    predictor = a if pa_ <= pb and pa_ <= pc else (b if pb <= pc else c)
                cur[x] = (int(left_row[x]) + predictor) & 0xFF
        else:
            raise PreparedDataError(f"unknown PNG filter type {kind}")
        out[y] = cur
        prior = cur
    return out


def _decode_png(data: bytes) -> np.ndarray:
    import numpy as np

    chunks = _png_chunks(data)
    header = next((body for kind, body in chunks if kind == b"IHDR"), None)
    if header is None:
        raise PreparedDataError("PNG without IHDR")
    width, height, depth, colour, _, _, interlace = struct.unpack(">IIBBBBB", header)
    if interlace:
        raise PreparedDataError("interlaced PNG")
    if colour not in _CHANNELS or depth not in (1, 2, 4, 8, 16):
        raise PreparedDataError(f"PNG colour type {colour} / bit depth {depth}")
    channels = _CHANNELS[colour]
    bits = depth * channels
    stride = (width * bits + 7) // 8
    raw = np.frombuffer(zlib.decompress(b"".join(body for kind, body in chunks if kind == b"IDAT")), dtype=np.uint8)
    lines = _unfilter(raw[: height * (stride + 1)], height, stride, max(1, bits // 8))
    pixels: Any
    if depth == 16:
        pixels = lines.view(">u2").astype(np.uint16).reshape(height, width, channels)
    elif depth == 8:
        pixels = lines.reshape(height, width, channels)
    else:  # 1, 2 or 4 bits per sample (grey or palette)
        unpacked = np.unpackbits(lines, axis=1).reshape(height, -1, depth)
        weights = (1 << np.arange(depth - 1, -1, -1)).astype(np.uint8)
        samples = (unpacked * weights).sum(axis=2).astype(np.uint8)[:, :width]
        if colour == 0:  # scale grey levels to 0-255, as Pillow does for "L"
            samples = (samples.astype(np.uint16) * 255 // ((1 << depth) - 1)).astype(np.uint8)
        pixels = samples.reshape(height, width, 1)
    if colour == 3:
        palette = next((body for kind, body in chunks if kind == b"PLTE"), None)
        if palette is None:
            raise PreparedDataError("palette PNG without PLTE")
        table = np.frombuffer(palette, dtype=np.uint8).reshape(-1, 3)
        alpha = next((body for kind, body in chunks if kind == b"tRNS"), None)
        if alpha:
            full = np.full((len(table), 1), 255, dtype=np.uint8)
            full[: len(alpha), 0] = np.frombuffer(alpha, dtype=np.uint8)
            table = np.concatenate([table, full], axis=1)
        pixels = table[pixels[:, :, 0]]
    return pixels[:, :, 0] if pixels.shape[2] == 1 else pixels


# ---------------------------------------------------------------------------------------------- one image
def decode_image(data: bytes) -> np.ndarray:
    """Encoded image bytes -> a numpy array (``H x W`` grey, ``H x W x C`` colour), read-only safe copy."""
    import numpy as np

    if have_pillow():
        import io

        import PIL.Image

        with PIL.Image.open(io.BytesIO(data)) as opened:
            img: Any = opened
            if img.mode == "P":
                img = img.convert("RGBA" if "transparency" in img.info else "RGB")
            elif img.mode == "1":
                img = img.convert("L")
            return np.asarray(img)
    if data.startswith(_PNG_SIGNATURE):
        try:
            return _decode_png(data)
        except (PreparedDataError, ValueError, zlib.error) as exc:  # ValueError: numpy, on truncated pixel data
            raise PreparedDataError(f"cannot decode a PNG image ({exc}); install Pillow: pip install 'labdatasets[images]'") from exc
    raise MissingDependencyError.for_extra("Pillow", "images", "Decoding images that are not PNG")


def pil_image(data: bytes) -> Any:
    """Encoded bytes -> a ``PIL.Image.Image`` (loaded, so the bytes can go)."""
    import io

    import PIL.Image

    img = PIL.Image.open(io.BytesIO(data))
    img.load()
    return img


def image_size(data: bytes) -> tuple[int, int] | None:
    """``(width, height)`` from a PNG header, without decoding; None for other formats."""
    if data.startswith(_PNG_SIGNATURE) and len(data) >= 24:
        width, height = struct.unpack(">II", data[16:24])
        return width, height
    return None


# ---------------------------------------------------------------------------------------------- columns
def _declared_shape(feature: Feature | None) -> tuple[int, ...] | None:
    shape = getattr(feature, "shape", None)
    if shape and all(isinstance(s, int) and s > 0 for s in shape):
        return tuple(shape)
    return None


def decode_images(column: pa.ChunkedArray | pa.Array, feature: Feature | None = None) -> np.ndarray:
    """Every image of ``column`` as numpy: one ``N x H x W [x C]`` array if all share a shape, else an object array.

    A declared ``Image(shape=(8, 8, 1))`` keeps its trailing channel axis; nulls
    become None in an object array.
    """
    import numpy as np

    values = column.to_pylist()
    images = [None if v is None else decode_image(v) for v in values]
    declared = _declared_shape(feature)
    if images and all(i is not None for i in images):
        shapes = {i.shape for i in images}  # type: ignore[union-attr]
        dtypes = {i.dtype for i in images}  # type: ignore[union-attr]
        if len(shapes) == 1 and len(dtypes) == 1:
            stacked = np.stack(images)  # type: ignore[arg-type]
            if declared is not None and stacked.shape[1:] != declared and int(np.prod(declared)) == int(np.prod(stacked.shape[1:])):
                stacked = stacked.reshape((len(images), *declared))
            return stacked
    out = np.empty(len(images), dtype=object)
    out[:] = images
    return out


def pandas_images(column: pa.ChunkedArray | pa.Array) -> list[Any]:
    """PIL images where Pillow is installed, else numpy arrays (None stays None)."""
    values = column.to_pylist()
    if have_pillow():
        return [None if v is None else pil_image(v) for v in values]
    return [None if v is None else decode_image(v) for v in values]


def class_label_values(column: pa.ChunkedArray | pa.Array, names: list[str], mode: str) -> Any:
    """A ClassLabel column for pandas: codes (``int``), names (``str``) or a ``Categorical`` (``categorical``)."""
    import pandas as pd

    codes = column.to_numpy(zero_copy_only=False) if hasattr(column, "to_numpy") else column
    if mode == "categorical":
        import numpy as np

        safe = np.where(pd.isna(codes), -1, codes).astype("int64")
        return pd.Categorical.from_codes(safe, categories=names)
    if mode == "str":
        return [None if c is None else names[int(c)] for c in column.to_pylist()]
    return codes


# ---------------------------------------------------------------------------------------------- notebook thumbnails
THUMBNAIL_PX = 64
_INLINE_LIMIT = 48 * 1024


def thumbnail_html(data: bytes | None, *, encoding: str = "png", px: int = THUMBNAIL_PX) -> str:
    """An inline ``<img>`` (base64) at most ``px`` pixels high; tiny images are scaled up, pixelated."""
    if data is None:
        return "<i>null</i>"
    mime = "image/jpeg" if encoding.lower() in ("jpg", "jpeg") else f"image/{encoding.lower()}"
    size = image_size(data)
    payload = data
    if have_pillow() and (size is None or max(size) > 2 * px or len(data) > _INLINE_LIMIT):
        import io

        try:
            img = pil_image(data)
            size = img.size
            img.thumbnail((4 * px, px))
            buffer = io.BytesIO()
            img.save(buffer, format="PNG")
            payload, mime = buffer.getvalue(), "image/png"
        except Exception:  # noqa: BLE001 - a preview must never break the display
            payload = data
    if len(payload) > _INLINE_LIMIT:
        described = f"{size[0]}x{size[1]} " if size else ""
        return f"<i>image {described}({len(data):,} bytes)</i>"
    encoded = base64.b64encode(payload).decode("ascii")
    title = f"{size[0]}x{size[1]}" if size else ""
    return (
        f"<img src='data:{mime};base64,{encoded}' title='{title}' "
        f"style='height:{min(px, max(32, size[1] if size else px))}px;image-rendering:pixelated'/>"
    )
