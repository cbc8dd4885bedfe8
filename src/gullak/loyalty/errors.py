"""Loyalty errors, each with a stable code."""

from __future__ import annotations

from gullak.kit.errors import Conflict, InvalidInput, NotFound, Unprocessable


class TierNotFound(NotFound):
    code = "tier_not_found"
    title = "No such tier"


class TierExists(Conflict):
    code = "tier_exists"
    title = "A tier with this code or rank exists"


class InvalidTier(InvalidInput):
    code = "invalid_tier"
    title = "The tier cannot be used"


class PlanNotFound(NotFound):
    code = "prive_plan_not_found"
    title = "No such privé plan"


class PlanExists(Conflict):
    code = "prive_plan_exists"
    title = "A privé plan with this code exists"


class PlanUnavailable(Unprocessable):
    code = "prive_plan_unavailable"
    title = "This privé plan is not on sale"


class InvalidPartner(InvalidInput):
    code = "invalid_prive_partner"
    title = "This merchant cannot be a privé partner"


class SubscriptionNotFound(NotFound):
    code = "prive_subscription_not_found"
    title = "No such privé subscription"


class AlreadySubscribed(Conflict):
    code = "prive_already_subscribed"
    title = "You have a privé subscription already"


class SubscriptionClosed(Conflict):
    code = "prive_subscription_closed"
    title = "The subscription has ended"


class AchievementExists(Conflict):
    code = "achievement_exists"
    title = "An achievement with this code exists"


class InvalidAchievement(InvalidInput):
    code = "invalid_achievement"
    title = "The achievement cannot be used"
