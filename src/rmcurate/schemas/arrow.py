"""Arrow schemas derived from the pydantic models."""
import types
import typing
from datetime import datetime
from enum import Enum

import pyarrow as pa
from pydantic import BaseModel

_SCALARS = {
    str: pa.string(),
    int: pa.int64(),
    float: pa.float64(),
    bool: pa.bool_(),
    datetime: pa.timestamp("us", tz="UTC"),
}


def _arrow_type(annotation) -> tuple[pa.DataType, bool]:
    """(arrow type, nullable) of one annotation."""
    origin = typing.get_origin(annotation)
    if origin in (typing.Union, types.UnionType):
        args = [a for a in typing.get_args(annotation) if a is not type(None)]
        (inner,) = args
        return _arrow_type(inner)[0], True
    if origin is dict:
        key, value = typing.get_args(annotation)
        return pa.map_(_arrow_type(key)[0], _arrow_type(value)[0]), False
    if origin is list:
        (item,) = typing.get_args(annotation)
        return pa.list_(_arrow_type(item)[0]), False
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return pa.struct(arrow_schema(annotation)), False
    if isinstance(annotation, type) and issubclass(annotation, Enum):
        return pa.string(), False
    return _SCALARS[annotation], False


def arrow_schema(model: type[BaseModel]) -> pa.Schema:
    fields = []
    for name, info in model.model_fields.items():
        typ, nullable = _arrow_type(info.annotation)
        fields.append(pa.field(info.alias or name, typ, nullable=nullable))
    return pa.schema(fields)
