"""URL of the delivery-report view; include it from the project's ``urls.py``."""

from __future__ import annotations

from django.urls import path

from . import views

urlpatterns = [
    path("delivery-reports/<str:provider>", views.delivery_report, name="delivery-report"),
]
