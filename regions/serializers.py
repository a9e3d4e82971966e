from __future__ import annotations

from drf_spectacular.utils import inline_serializer
from rest_framework import serializers

RegionSchema = inline_serializer(
    name="Region",
    fields={
        "settings": serializers.DictField(help_text="Custom JSON set in the admin"),
        "location": inline_serializer(
            name="RegionLocation",
            fields={
                "x": serializers.FloatField(help_text="longitude"),
                "y": serializers.FloatField(help_text="latitude"),
            },
        ),
    },
)

RegionListSchema = inline_serializer(
    name="RegionList",
    fields={
        "regions": serializers.DictField(child=RegionSchema, help_text="Regions keyed by name"),
        "my_region": serializers.CharField(allow_null=True, help_text="The caller's region (GeoIP), or the default"),
    },
)
