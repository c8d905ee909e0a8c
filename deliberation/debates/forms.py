from django import forms

from deliberation.agents.models import AgentProfile
from deliberation.protocols.round_robin import MAX_ROUNDS

from .models import DebateSession


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
        help_text="For single-choice questions: one option per line.",
    )
    rounds = forms.IntegerField(min_value=1, max_value=MAX_ROUNDS, initial=3)
    join_role = forms.ChoiceField(
        choices=DebateSession.JoinRole.choices,
        initial=DebateSession.JoinRole.DEBATER,
        label="People who join by the invite link take part as",
    )
    agents = forms.ModelMultipleChoiceField(
        queryset=AgentProfile.objects.all(),
        required=False,
        widget=forms.CheckboxSelectMultiple,
        help_text="Agents speak first, in this order, then the people who join.",
    )

    def clean(self):
        data = super().clean()
        options = [o.strip() for o in (data.get("options") or "").splitlines() if o.strip()]
        data["options"] = options
        if data.get("answer_format") == DebateSession.AnswerFormat.SINGLE_CHOICE:
            if len(options) < 2:
                self.add_error("options", "Give at least two options, one per line.")
            elif len({o.lower() for o in options}) != len(options):
                self.add_error("options", "Options must be distinct.")
        return data
