"""A data action's Flow type compiled for requests: its translator, its columns and its id.

Built once per deployed package version (`gateway.services.compile_service`), from the same
shapes `describe` installs as the type, so what Flow sees and what the process gets agree.
"""

from __future__ import annotations

from dataclasses import dataclass

from gateway.flow.profiles import type_shape
from gateway.flow.values import ObjectTranslator, compile_object
from gateway.spec import DataSpec, ServiceSpec


@dataclass(frozen=True, slots=True)
class DeployedData:
    spec: DataSpec
    translator: ObjectTranslator
    columns: dict[str, str]  # the profile's scalar properties -> kind (string, number, ...)

    @property
    def type_name(self) -> str:
        return self.spec.type

    @property
    def id_property(self) -> str:
        return self.spec.id


def compile_data(spec: ServiceSpec) -> dict[str, DeployedData]:
    """Every data action of a service by its type name."""
    compiled = {}
    for data in spec.data:
        profile = spec.profiles.get(data.profile)
        shape = type_shape(data.type, profile)
        compiled[data.type] = DeployedData(
            spec=data,
            translator=compile_object(profile, data.type),
            columns={f.name: f.kind for f in shape.fields if f.obj is None},
        )
    return compiled
