from __future__ import annotations

import math
from collections.abc import Iterable

from django.core.validators import MaxValueValidator, MinValueValidator, RegexValidator
from django.db import models
from django.db.models import Q

NAME_VALIDATOR = RegexValidator(r"^[A-Za-z0-9_.-]+$", "Letters, digits, '_', '.' and '-' only.")
EARTH_RADIUS_KM = 6371.0


def nearest_region(regions: Iterable[Region], *, longitude: float, latitude: float) -> Region | None:
    """The region closest by great-circle distance, the first of equals (regions are few: computed in Python)."""
    best: Region | None = None
    best_km = math.inf
    for region in regions:
        km = region.distance_km(longitude=longitude, latitude=latitude)
        if km < best_km:
            best, best_km = region, km
    return best


class Region(models.Model):
    """A place game servers run; its name is its id in the API."""

    name = models.CharField(max_length=64, unique=True, validators=[NAME_VALIDATOR])
    x = models.FloatField("longitude", default=0.0, validators=[MinValueValidator(-180.0), MaxValueValidator(180.0)])
    y = models.FloatField("latitude", default=0.0, validators=[MinValueValidator(-90.0), MaxValueValidator(90.0)])
    settings = models.JSONField(default=dict, blank=True, help_text="Custom JSON shown to players (title, icon, ...).")
    is_default = models.BooleanField(
        "default", default=False, help_text="Players whose location is unknown get the default region."
    )

    class Meta:
        ordering = ["name"]
        constraints = [
            models.UniqueConstraint(fields=["is_default"], condition=Q(is_default=True), name="one_default_region"),
        ]

    def __str__(self) -> str:
        return self.name

    def distance_km(self, *, longitude: float, latitude: float) -> float:
        """Haversine distance from this region to a point."""
        lon1, lat1, lon2, lat2 = map(math.radians, (self.x, self.y, longitude, latitude))
        a = math.sin((lat2 - lat1) / 2) ** 2 + math.cos(lat1) * math.cos(lat2) * math.sin((lon2 - lon1) / 2) ** 2
        return 2 * EARTH_RADIUS_KM * math.asin(math.sqrt(min(1.0, a)))

    def as_api(self) -> dict:
        return {"settings": self.settings, "location": {"x": self.x, "y": self.y}}
