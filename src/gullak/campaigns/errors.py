"""Campaigns errors, each with a stable code."""

from __future__ import annotations

from gullak.kit.errors import Conflict, Forbidden, NotFound, Unprocessable


class SegmentNotFound(NotFound):
    code = "segment_not_found"
    title = "No such segment"


class CampaignNotFound(NotFound):
    code = "campaign_not_found"
    title = "No such campaign"


class InvalidStatus(Conflict):
    code = "campaign_invalid_status"
    title = "The campaign cannot do this in its present status"


class NotApproved(Conflict):
    code = "campaign_not_approved"
    title = "Another admin must approve the campaign before it is scheduled"


class SelfApproval(Forbidden):
    code = "campaign_self_approval"
    title = "The admin who made or last changed a campaign cannot approve it"


class SegmentInUse(Conflict):
    code = "segment_in_use"
    title = "A campaign that is not finished sends to this segment"


class TemplateRefused(Unprocessable):
    code = "campaign_template_refused"
    title = "The notification template cannot send this campaign"
