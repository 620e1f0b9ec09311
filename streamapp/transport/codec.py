"""The orjson codec Faust uses for every value streamapp sends."""

from __future__ import annotations

from typing import Any

import orjson
from faust.serializers import codecs


class OrjsonCodec(codecs.Codec):
    def _dumps(self, obj: Any) -> bytes:
        return orjson.dumps(obj, option=orjson.OPT_SERIALIZE_NUMPY)

    def _loads(self, s: bytes) -> Any:
        return orjson.loads(s)


def register() -> None:
    codecs.register("orjson", OrjsonCodec())
