from django.contrib import admin
from django.urls import include, path
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerView

handler400 = "gamemaster.errors.handler400"
handler403 = "gamemaster.errors.handler403"
handler404 = "gamemaster.errors.handler404"
handler500 = "gamemaster.errors.handler500"

urlpatterns = [
    path("admin/", admin.site.urls),
    path("api/schema/", SpectacularAPIView.as_view(), name="schema"),
    path("api/docs/", SpectacularSwaggerView.as_view(url_name="schema"), name="docs"),
    path("", include("regions.urls")),
    path("", include("rooms.urls")),
    path("", include("hosts.urls")),
    path("", include("bans.urls")),
    path("", include("parties.urls")),
]
