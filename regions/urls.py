from __future__ import annotations

from django.urls import re_path

from regions.views import RegionListView

urlpatterns = [
    re_path(r"^regions/?$", RegionListView.as_view(), name="regions"),
]
