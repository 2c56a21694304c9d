"""The acknowledgement form and the public verify form."""

from __future__ import annotations

from django import forms
from django.utils.translation import gettext_lazy as _

from notifications.models import Campaign, CampaignContent


class AckForm(forms.Form):
    """What must come with a POST for it to count.

    The ticked box (or the chosen answer) is what a scanner that submits
    forms empty never sends; ``content`` is the version the person read.
    """

    confirm = forms.BooleanField(
        label=_("I have read this information."),
        required=True,
        error_messages={
            "required": _("Tick the box to confirm you have read this information.")
        },
    )
    content = forms.IntegerField(
        widget=forms.HiddenInput,
        error_messages={
            "required": _("This page was out of date. Please read it again."),
            "invalid": _("This page was out of date. Please read it again."),
        },
    )

    def __init__(
        self,
        *args: object,
        campaign: Campaign,
        choices: list[tuple[str, str]],
        known: dict[int, CampaignContent] | None = None,
        **kwargs: object,
    ) -> None:
        """``known``: versions of this campaign already in hand (the current
        ones), so the usual POST needs no query to check the version."""
        super().__init__(*args, **kwargs)
        self._campaign = campaign
        self._known = known or {}
        if choices:
            # Optional unless the campaign requires it: the page may say the
            # choice is the person's own, and acknowledging that they have
            # read the information must not force them to state one.
            required = campaign.answer_required
            self.fields["answer"] = forms.ChoiceField(
                label=_("Your answer") if required else _("Your answer (optional)"),
                choices=choices,
                required=required,
                widget=forms.RadioSelect,
                error_messages={
                    "required": _("Choose an answer."),
                    "invalid_choice": _("Choose one of the answers shown."),
                },
            )
            self.order_fields(["answer", "confirm", "content"])

    def clean_content(self) -> CampaignContent:
        # Any version of this campaign (an older page still open counts, and
        # records the version it showed); never another campaign's.
        pk = self.cleaned_data["content"]
        content = self._known.get(pk)
        if content is None or content.campaign_id != self._campaign.pk:
            content = CampaignContent.objects.filter(
                campaign=self._campaign, pk=pk
            ).first()
        if content is None:
            raise forms.ValidationError(
                self.fields["content"].error_messages["invalid"], code="invalid"
            )
        return content


class VerifyForm(forms.Form):
    reference = forms.CharField(
        label=_("Campaign reference"),
        max_length=40,
        help_text=_("The 8-character code printed at the end of the message."),
    )

    def clean_reference(self) -> str:
        # People type what they read: spaces, dashes, lower case.
        raw = self.cleaned_data["reference"]
        return "".join(ch for ch in raw.upper() if ch.isalnum())
