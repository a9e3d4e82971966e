from __future__ import annotations

from drf_spectacular.utils import extend_schema
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from gamemaster.net import request_ip
from gamemaster.schema import error_responses
from regions.models import Region
from regions.serializers import RegionListSchema
from regions.services import region_for_ip


class RegionListView(APIView):
    """GET /regions: every region keyed by name, and the caller's own."""

    required_scopes = ["game"]

    @extend_schema(
        operation_id="regions_list",
        summary="Get region list (scope: game)",
        responses={200: RegionListSchema, **error_responses(401, 403)},
    )
    def get(self, request: Request) -> Response:
        regions = list(Region.objects.all())
        mine = region_for_ip(request_ip(request))
        return Response(
            {
                "regions": {region.name: region.as_api() for region in regions},
                "my_region": mine.name if mine else None,
            }
        )
