from __future__ import annotations

import pytest
from django.urls import URLPattern, URLResolver, get_resolver

pytestmark = pytest.mark.django_db


def test_an_unknown_url_answers_the_error_body(api):
    response = api.get("/no/such/thing")

    assert response.status_code == 404
    assert response.json() == {"code": "not_found", "detail": "No such endpoint."}


def test_a_wrong_method_answers_the_error_body(api, region):
    response = api.as_("alice", ["game"]).delete("/regions")

    assert response.status_code == 405
    assert response.json() == {"code": "method_not_allowed", "detail": 'Method "DELETE" not allowed.'}


def test_a_trailing_slash_is_optional(api, region):
    assert api.as_("alice", ["game"]).get("/regions/").status_code == 200


def iter_api_views(patterns=None):
    from rest_framework.views import APIView

    for pattern in patterns if patterns is not None else get_resolver().url_patterns:
        if isinstance(pattern, URLResolver):
            yield from iter_api_views(pattern.url_patterns)
        elif isinstance(pattern, URLPattern):
            view = getattr(pattern.callback, "view_class", None) or getattr(pattern.callback, "cls", None)
            if view is not None and issubclass(view, APIView) and view.__module__.split(".")[0] != "drf_spectacular":
                yield pattern, view


def test_every_api_view_declares_its_scopes():
    views = list(iter_api_views())

    assert views, "no API views found"
    for pattern, view in views:
        assert getattr(view, "required_scopes", None) is not None, f"{view.__name__} ({pattern.pattern})"


def test_a_view_that_forgets_its_scopes_fails_loudly(rf):
    from django.core.exceptions import ImproperlyConfigured
    from rest_framework.views import APIView

    from gamemaster.auth import HasRequiredScopes

    class Forgetful(APIView):
        pass

    with pytest.raises(ImproperlyConfigured, match="Forgetful must declare required_scopes"):
        HasRequiredScopes().has_permission(rf.get("/"), Forgetful())
