from __future__ import annotations

from django.urls import re_path

from bans.views import BanIssueView, BanView

urlpatterns = [
    # Before the id pattern: "issue" is not a ban id.
    re_path(r"^ban/issue/?$", BanIssueView.as_view(), name="ban-issue"),
    re_path(r"^ban/(?P<ban_id>[^/]+)/?$", BanView.as_view(), name="ban"),
]
