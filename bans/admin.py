"""The operator's tool for bans: find them by account, IP or reason, issue one or many, lift them."""

from __future__ import annotations

import re
from typing import Any, cast

from django import forms
from django.contrib import admin, messages
from django.contrib.admin.widgets import AdminSplitDateTime
from django.core.exceptions import PermissionDenied
from django.db.models import QuerySet
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils import timezone
from rest_framework import serializers

from bans import services
from bans.models import Ban, BanQuerySet
from gamemaster.args import account_id

STATES = (("active", "active"), ("expired", "expired"), ("lifted", "lifted"))


def _check_account(value: str) -> str:
    try:
        return account_id(value)
    except serializers.ValidationError as exc:
        raise forms.ValidationError(exc.detail[0] if isinstance(exc.detail, list) else str(exc.detail)) from None


def _is_account(word: str) -> bool:
    try:
        account_id(word)
    except serializers.ValidationError:
        return False
    return True


class BanStateFilter(admin.SimpleListFilter):
    title = "state"
    parameter_name = "state"

    def lookups(self, request: HttpRequest, model_admin: Any) -> tuple[tuple[str, str], ...]:
        return STATES

    def queryset(self, request: HttpRequest, queryset: QuerySet[Any]) -> QuerySet[Any]:
        now = timezone.now()
        if self.value() == "active":
            return cast(BanQuerySet, queryset).active(at=now)
        if self.value() == "expired":
            return queryset.filter(lifted_at__isnull=True, expires_at__lte=now)
        if self.value() == "lifted":
            return queryset.filter(lifted_at__isnull=False)
        return queryset


class BanForm(forms.ModelForm):
    """Issuing and editing keep the API's rules: one active ban per account, an issue ends in the future."""

    class Meta:
        model = Ban
        fields = ["account", "reason", "expires_at"]

    def clean_account(self) -> str:
        return _check_account(self.cleaned_data["account"])

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        account, expires_at = data.get("account", self.instance.account), data.get("expires_at")
        if not account or expires_at is None:
            return data
        now = timezone.now()
        adding = self.instance.pk is None
        if adding and expires_at <= now:
            self.add_error("expires_at", "A new ban must expire in the future.")
        elif expires_at > now and self.instance.lifted_at is None:
            other = Ban.objects.active(at=now).filter(account=account).exclude(pk=self.instance.pk).first()
            if other is not None:
                self.add_error(
                    "account", f"This account already has an active ban (id {other.pk}) until {other.until}."
                )
        return data


class IssueManyForm(forms.Form):
    accounts = forms.CharField(
        widget=forms.Textarea(attrs={"rows": 10, "cols": 60}),
        help_text="Account ids, one per line (commas and spaces separate them too).",
    )
    reason = forms.CharField(max_length=500, required=False)
    expires_at = forms.SplitDateTimeField(widget=AdminSplitDateTime, label="Expires (UTC)")

    def clean_accounts(self) -> list[str]:
        words = [word for word in re.split(r"[\s,;]+", self.cleaned_data["accounts"]) if word]
        if not words:
            raise forms.ValidationError("Give at least one account.")
        bad = [word for word in words if not _is_account(word)]
        if bad:
            raise forms.ValidationError(f"Not valid account ids: {', '.join(bad)}.")
        return list(dict.fromkeys(words))

    def clean_expires_at(self) -> Any:
        expires_at = self.cleaned_data["expires_at"]
        if expires_at <= timezone.now():
            raise forms.ValidationError("A new ban must expire in the future.")
        return expires_at


@admin.register(Ban)
class BanAdmin(admin.ModelAdmin):
    form = BanForm
    list_display = ["id", "account", "reason", "expires_at", "state", "ip", "ip_attached_at", "created_at", "lifted_at"]
    list_display_links = ["id", "account"]
    list_filter = [BanStateFilter]
    search_fields = ["account", "ip", "reason"]
    search_help_text = "Search by account, IP address or reason."
    date_hierarchy = "created_at"
    actions = ["lift_bans"]
    change_list_template = "admin/bans/ban/change_list.html"

    def get_readonly_fields(self, request: HttpRequest, obj: Ban | None = None) -> list[str]:
        # The IP is the enforcement's to attach; the account of an issued ban never changes.
        readonly = ["ip", "ip_attached_at", "created_at", "lifted_at"]
        return readonly if obj is None else ["account", *readonly]

    def get_fields(self, request: HttpRequest, obj: Ban | None = None) -> tuple[str, ...]:
        if obj is None:
            return ("account", "reason", "expires_at")
        return ("account", "reason", "expires_at", "ip", "ip_attached_at", "created_at", "lifted_at")

    @admin.display(description="state")
    def state(self, ban: Ban) -> str:
        if ban.lifted_at is not None:
            return "lifted"
        return "active" if ban.is_active() else "expired"

    def save_model(self, request: HttpRequest, obj: Ban, form: forms.ModelForm, change: bool) -> None:
        if not change:
            issued = services.ban_issue(account=obj.account, reason=obj.reason, expires_at=obj.expires_at)
            obj.pk, obj.created_at = issued.pk, issued.created_at
            return
        # Only the edited columns: a full save would undo an IP attached while the form was open.
        changed = [name for name in ("reason", "expires_at") if name in form.changed_data]
        if changed:
            obj.save(update_fields=changed)

    @admin.action(description="Lift the selected bans", permissions=["change"])
    def lift_bans(self, request: HttpRequest, queryset: BanQuerySet) -> None:
        lifted = queryset.lift()
        self.message_user(request, f"Lifted {lifted} ban{'s' if lifted != 1 else ''}.", messages.SUCCESS)

    def get_urls(self) -> list[Any]:
        view = self.admin_site.admin_view(self.issue_many_view)
        return [path("issue-many/", view, name="bans_ban_issue_many"), *super().get_urls()]

    def issue_many_view(self, request: HttpRequest) -> HttpResponse:
        """Ban a list of accounts at once; accounts that already have an active ban are skipped and named."""
        if not self.has_add_permission(request):
            raise PermissionDenied
        form = IssueManyForm(request.POST or None)
        if request.method == "POST" and form.is_valid():
            issued, skipped = services.ban_issue_many(
                accounts=form.cleaned_data["accounts"],
                reason=form.cleaned_data["reason"],
                expires_at=form.cleaned_data["expires_at"],
            )
            self.message_user(request, f"Issued {len(issued)} ban{'s' if len(issued) != 1 else ''}.", messages.SUCCESS)
            if skipped:
                self.message_user(request, f"Skipped, already banned: {', '.join(skipped)}.", messages.WARNING)
            return HttpResponseRedirect(reverse("admin:bans_ban_changelist"))
        context = {
            **self.admin_site.each_context(request),
            "title": "Issue bans to many accounts",
            "opts": self.model._meta,
            "form": form,
            "media": self.media + form.media,
        }
        return TemplateResponse(request, "admin/bans/ban/issue_many.html", context)
