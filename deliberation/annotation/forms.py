from __future__ import annotations

from django import forms

from deliberation.protocols.registry import protocol_choices

from .models import Project

MAX_OPTIONS = 50


class ProjectForm(forms.ModelForm):
    """Create or change a project; options and shown fields are typed one per line."""

    options_text = forms.CharField(
        label="Options",
        required=False,
        widget=forms.Textarea(attrs={"rows": 4}),
        help_text="Choice formats: one option per line, in display order.",
    )
    shown_fields_text = forms.CharField(
        label="Fields shown to annotators",
        required=False,
        widget=forms.Textarea(attrs={"rows": 3}),
        help_text="Column names, one per line, in order. Empty: every imported column.",
    )
    escalation_protocol = forms.ChoiceField(choices=protocol_choices(), initial="round_robin")

    class Meta:
        model = Project
        fields = [
            "name",
            "instructions",
            "label_format",
            "tolerance",
            "labels_per_item",
            "show_others_labels",
            "ask_confidence",
            "disputed_first",
            "gold_threshold",
            "gold_min_answered",
            "crowd_enabled",
            "items_per_worker",
            "assignment_minutes",
            "dispute_threshold",
            "auto_escalate",
            "escalation_protocol",
            "escalation_agents",
        ]
        widgets = {
            "instructions": forms.Textarea(attrs={"rows": 5}),
            "escalation_agents": forms.CheckboxSelectMultiple,
        }

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        if self.instance.pk:
            self.fields["options_text"].initial = "\n".join(self.instance.options)
            self.fields["shown_fields_text"].initial = "\n".join(self.instance.shown_fields)

    def clean(self):
        data = super().clean()
        options = [
            line.strip() for line in data.get("options_text", "").splitlines() if line.strip()
        ]
        fmt = data.get("label_format")
        if fmt not in ("single_choice", "multiple_choice"):
            options = []  # numbers and free text have no options: nothing to check
        if len(set(o.casefold() for o in options)) != len(options):
            self.add_error("options_text", "Options must differ from each other.")
        if len(options) > MAX_OPTIONS:
            self.add_error("options_text", f"At most {MAX_OPTIONS} options.")
        if fmt in ("single_choice", "multiple_choice") and len(options) < 2:
            self.add_error("options_text", "A choice schema needs at least two options.")
        data["options"] = options
        data["shown_fields"] = [
            line.strip() for line in data.get("shown_fields_text", "").splitlines() if line.strip()
        ]
        return data

    def save(self, commit: bool = True):
        self.instance.options = self.cleaned_data["options"]
        self.instance.shown_fields = self.cleaned_data["shown_fields"]
        return super().save(commit)
