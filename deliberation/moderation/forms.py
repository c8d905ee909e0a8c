from django import forms


class DecisionForm(forms.Form):
    answer = forms.CharField(
        max_length=4000,
        help_text="For several options or a ranking: separate them with commas (or >).",
    )
    rationale = forms.CharField(widget=forms.Textarea(attrs={"rows": 5}), max_length=10_000)
    posts = forms.CharField(
        max_length=2000, label="Posts relied on", help_text="Post numbers, e.g. #3, #7."
    )
    reason = forms.CharField(
        required=False,
        max_length=10_000,
        widget=forms.Textarea(attrs={"rows": 2}),
        label="Reason for the revision",
        help_text="Required when changing an earlier decision.",
    )

    def __init__(self, *args, session=None, **kwargs):
        super().__init__(*args, **kwargs)
        self.session = session
