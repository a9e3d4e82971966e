from __future__ import annotations

from django import forms
from django.contrib import admin

from gamemaster.admin_forms import json_object
from regions.models import Region


class RegionForm(forms.ModelForm):
    class Meta:
        model = Region
        fields = "__all__"

    def clean_settings(self) -> dict:
        return json_object(self.cleaned_data["settings"], name="Settings")

    def clean_is_default(self) -> bool:
        is_default = self.cleaned_data["is_default"]
        if is_default and Region.objects.filter(is_default=True).exclude(pk=self.instance.pk).exists():
            raise forms.ValidationError("Another region is the default already: untick it there first.")
        return is_default


@admin.register(Region)
class RegionAdmin(admin.ModelAdmin):
    form = RegionForm
    list_display = ["name", "x", "y", "is_default"]
    list_filter = ["is_default"]
    search_fields = ["name"]
