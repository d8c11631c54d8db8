"""Payloads as .NET serializes and measures them.

The extension (de)serializes orchestration payloads with Json.NET: a ``JToken`` is written with
``ToString(Formatting.None)`` (compact, non-ASCII characters written as they are;
Azure/azure-functions-durable-extension ``src/WebJobs.Extensions.DurableTask/MessagePayloadDataConverter.cs``,
``Serialize(object, int)``), and sizes are measured as UTF-16 (``Encoding.Unicode.GetByteCount``: "String payloads in
Azure Storage are encoded in UTF-16").
"""

from __future__ import annotations

import json
from typing import Any


def dotnet_json(value: Any) -> str:
    """``JToken.ToString(Formatting.None)`` of a JSON value (compact; non-ASCII not escaped)."""
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False)


def utf16_bytes(text: str) -> int:
    """``Encoding.Unicode.GetByteCount``: two bytes per UTF-16 code unit (four outside the BMP)."""
    return sum(4 if ord(ch) > 0xFFFF else 2 for ch in text)


def utf8_bytes(text: str) -> int:
    return len(text.encode("utf-8"))
