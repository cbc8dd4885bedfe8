"""Rewards errors, each with a stable code."""

from __future__ import annotations

from gullak.kit.errors import InvalidInput, NotFound


class RuleNotFound(NotFound):
    code = "reward_rule_not_found"
    title = "No such reward rule"


class CampaignNotFound(NotFound):
    code = "reward_campaign_not_found"
    title = "No such campaign"


class InvalidRule(InvalidInput):
    code = "invalid_reward_rule"
    title = "The reward rule cannot be used"


class InvalidCampaign(InvalidInput):
    code = "invalid_campaign"
    title = "The campaign cannot be used"
