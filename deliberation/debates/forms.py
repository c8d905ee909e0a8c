"""The create-session form; protocol settings fields come from each protocol's declaration."""

from __future__ import annotations

from typing import Any

from django import forms

from deliberation.agents.models import AgentProfile
from deliberation.protocols.base import Setting
from deliberation.protocols.registry import PROTOCOLS, protocol_choices

from .models import DebateSession

CHOICE_FORMATS = ("single_choice", "multiple_choice", "ranking")


def setting_field(setting: Setting) -> forms.Field:
    common: dict[str, Any] = {
        "label": setting.label or setting.name.replace("_", " ").capitalize(),
        "help_text": setting.help,
        "required": False,
        "initial": setting.default,
    }
    if setting.kind == "bool":
        return forms.BooleanField(**common)
    if setting.kind == "int":
        return forms.IntegerField(min_value=setting.min, max_value=setting.max, **common)
    if setting.kind == "float":
        return forms.FloatField(min_value=setting.min, max_value=setting.max, **common)
    if setting.kind == "choice":
        return forms.ChoiceField(choices=[(c, c) for c in setting.choices], **common)
    if setting.kind == "samples":
        common["initial"] = ""
        return forms.CharField(widget=forms.Textarea(attrs={"rows": 3}), **common)
    common["initial"] = " ".join(str(i) for i in setting.default or [])
    return forms.CharField(**common)


class SessionCreateForm(forms.Form):
    title = forms.CharField(max_length=200)
    question = forms.CharField(widget=forms.Textarea(attrs={"rows": 3}))
    answer_format = forms.ChoiceField(
        choices=DebateSession.AnswerFormat.choices,
        initial=DebateSession.AnswerFormat.SINGLE_CHOICE,
    )
    options = forms.CharField(
        required=False,
        widget=forms.Textarea(attrs={"rows": 4, "placeholder": "One option per line"}),
        help_text="For choice and ranking questions: one option per line.",
    )
    tolerance = forms.FloatField(
        required=False,
        min_value=0,
        initial=0,
        help_text="Numeric questions: answers this close count as the same answer.",
    )
    passage = forms.CharField(
        required=False,
        max_length=200_000,
        widget=forms.Textarea(attrs={"rows": 6}),
        help_text="Judged debate: the source text the question is about. Debaters see it and "
        "quote it in <quote>...</quote> tags; judges do not see it, only the quotes, marked "
        "verified or unverified (Khan et al. 2024).",
    )
    protocol = forms.ChoiceField(choices=protocol_choices(), initial="round_robin")
    join_role = forms.ChoiceField(
        choices=DebateSession.JoinRole.choices,
        initial=DebateSession.JoinRole.DEBATER,
        label="People who join by the invite link take part as",
    )
    agents = forms.ModelMultipleChoiceField(
        queryset=AgentProfile.objects.all(),
        required=False,
        widget=forms.CheckboxSelectMultiple,
        help_text="Agent debaters speak first, in this order, then the people who join.",
    )
    judge = forms.ModelChoiceField(
        queryset=AgentProfile.objects.all(),
        required=False,
        help_text="Judged debate: an agent judge (or invite a person to join as judge).",
    )

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.setting_groups: list[tuple[Any, list[str]]] = []
        for name, protocol in PROTOCOLS.items():
            names = []
            for setting in protocol.all_settings:
                field_name = f"{name}__{setting.name}"
                self.fields[field_name] = setting_field(setting)
                names.append(field_name)
            self.setting_groups.append((protocol, names))

    def protocol_groups(self):
        """(protocol, bound fields) pairs for the template, one fieldset per protocol."""
        return [(proto, [self[n] for n in names]) for proto, names in self.setting_groups]

    def protocol_settings(self) -> dict[str, Any]:
        """The chosen protocol's settings as typed in (validated by the protocol)."""
        name = self.cleaned_data["protocol"]
        settings: dict[str, Any] = {}
        for setting in PROTOCOLS[name].all_settings:
            value = self.cleaned_data.get(f"{name}__{setting.name}")
            if setting.kind == "bool":
                settings[setting.name] = bool(value)
            elif value not in (None, ""):
                settings[setting.name] = value
        return settings

    def clean(self):
        data = super().clean()
        options = [o.strip() for o in (data.get("options") or "").splitlines() if o.strip()]
        data["options"] = options
        if data.get("answer_format") in CHOICE_FORMATS:
            if len(options) < 2:
                self.add_error("options", "Give at least two options, one per line.")
            elif len({o.lower() for o in options}) != len(options):
                self.add_error("options", "Options must be distinct.")
        return data
