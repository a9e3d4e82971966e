from django.contrib import admin

from regions.models import Region


@admin.register(Region)
class RegionAdmin(admin.ModelAdmin):
    list_display = ["name", "x", "y", "is_default"]
    list_filter = ["is_default"]
    search_fields = ["name"]
