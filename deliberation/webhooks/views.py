"""Your webhooks: add, delete, ping, and see recent deliveries. Thin over the services."""

from __future__ import annotations

from django import forms
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.validators import URLValidator
from django.db.models import Prefetch
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.http import require_http_methods, require_POST

from deliberation import netguard

from . import services
from .models import Delivery, Webhook


class WebhookForm(forms.Form):
    url = forms.CharField(
        max_length=500, validators=[URLValidator(schemes=["http", "https"])], label="URL"
    )
    events = forms.MultipleChoiceField(
        choices=Webhook.Event.choices, widget=forms.CheckboxSelectMultiple
    )

    def clean_url(self) -> str:
        """Refuse receivers on internal addresses now (each delivery checks again)."""
        url = self.cleaned_data["url"]
        try:
            netguard.check_url(url)
        except netguard.OutboundRefused as exc:
            raise forms.ValidationError(str(exc)) from None
        return url


@login_required
@require_http_methods(["GET", "POST"])
def webhook_list(request: HttpRequest) -> HttpResponse:
    form = WebhookForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        Webhook.objects.create(
            owner=request.user, url=form.cleaned_data["url"], events=form.cleaned_data["events"]
        )
        messages.success(request, "Webhook added. Its secret signs every delivery.")
        return redirect("webhooks:list")
    recent = Delivery.objects.order_by("-created_at", "-id")
    hooks = Webhook.objects.filter(owner=request.user).prefetch_related(
        Prefetch("deliveries", queryset=recent, to_attr="all_deliveries")
    )
    return render(request, "webhooks/list.html", {"form": form, "hooks": hooks})


def _own(request, pk: int) -> Webhook:
    return get_object_or_404(Webhook, pk=pk, owner=request.user)


@login_required
@require_POST
def webhook_delete(request: HttpRequest, pk: int) -> HttpResponse:
    _own(request, pk).delete()
    messages.success(request, "Webhook deleted.")
    return redirect("webhooks:list")


@login_required
@require_POST
def webhook_ping(request: HttpRequest, pk: int) -> HttpResponse:
    services.ping(_own(request, pk))
    messages.success(request, "Test delivery queued.")
    return redirect("webhooks:list")


@login_required
@require_POST
def delivery_redeliver(request: HttpRequest, pk: int) -> HttpResponse:
    delivery = get_object_or_404(Delivery, pk=pk, webhook__owner=request.user)
    services.redeliver(delivery)
    messages.success(request, "Delivery queued again.")
    return redirect("webhooks:list")
