from __future__ import annotations

import pytest
from drf_spectacular.validation import validate_schema

pytestmark = pytest.mark.django_db


@pytest.fixture
def schema(api):
    response = api.get("/api/schema/", {"format": "json"})
    assert response.status_code == 200
    return response.json()


def test_the_schema_is_valid_openapi(schema):
    validate_schema(schema)


def test_every_operation_documents_scopes_and_errors(schema):
    for path, operations in schema["paths"].items():
        for method, operation in operations.items():
            where = f"{method.upper()} {path}"
            assert "scope" in operation.get("summary", ""), f"{where} does not name its scope"
            assert "401" in operation["responses"], f"{where} does not document 401"
            assert "403" in operation["responses"], f"{where} does not document 403"


def test_the_docs_page_loads_its_assets_from_this_server(api):
    response = api.get("/api/docs/")

    assert response.status_code == 200
    page = response.content.decode()
    assert "/static/drf_spectacular_sidecar/swagger-ui-dist/" in page
    assert "cdn" not in page.lower()


def test_the_schema_generates_without_warnings(tmp_path):
    from django.core.management import call_command

    # A warning means an endpoint, a field or an authenticator is documented wrong or not at all.
    call_command("spectacular", "--fail-on-warn", "--file", str(tmp_path / "schema.yaml"))


def test_json_and_boolean_arguments_are_documented_as_what_they_accept(schema):
    args = schema["components"]["schemas"]["QuickJoinArgsRequest"]["properties"]

    assert args["settings"]["oneOf"][0] == {"type": "object"}
    assert args["auto_create"]["oneOf"][0] == {"type": "boolean"}
    assert schema["components"]["securitySchemes"]["bearer"]["scheme"] == "bearer"
