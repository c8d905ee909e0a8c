from django import forms

from deliberation.agents.models import AgentProfile
from deliberation.debates.models import DebateSession
from deliberation.protocols.registry import protocol_choices


class BatchRunForm(forms.Form):
    name = forms.CharField(max_length=200)
    questions = forms.FileField(
        help_text="CSV with columns question, options (separated by |), gold; or JSONL with "
        "objects {question, options: [...], gold}."
    )
    answer_format = forms.ChoiceField(
        choices=DebateSession.AnswerFormat.choices, initial="single_choice"
    )
    protocol = forms.ChoiceField(choices=protocol_choices(), initial="simultaneous")
    rounds = forms.IntegerField(
        required=False, min_value=1, max_value=50, help_text="For protocols with rounds."
    )
    agents = forms.ModelMultipleChoiceField(
        queryset=AgentProfile.objects.all(), widget=forms.CheckboxSelectMultiple
    )
    judge = forms.ModelChoiceField(queryset=AgentProfile.objects.all(), required=False)
    concurrency = forms.IntegerField(min_value=1, max_value=64, initial=4)
