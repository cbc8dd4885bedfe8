"""Referrals errors, each with a stable code."""

from __future__ import annotations

from gullak.kit.errors import Conflict, InvalidInput, NotFound, Unprocessable


class ReferralNotFound(NotFound):
    code = "referral_not_found"
    title = "No such referral"


class ProgramNotFound(NotFound):
    code = "referral_program_not_found"
    title = "No such referral program"


class ProgramExists(Conflict):
    code = "referral_program_exists"
    title = "A referral program with this name exists"


class InvalidProgram(InvalidInput):
    code = "invalid_referral_program"
    title = "The referral program is not valid"


class TierNotFound(NotFound):
    code = "referral_tier_not_found"
    title = "No such referral tier"


class TierExists(Conflict):
    code = "referral_tier_exists"
    title = "A referral tier starts at this number of referrals already"


class CollegeNotFound(NotFound):
    code = "college_not_found"
    title = "No such college"


class CollegeExists(Conflict):
    code = "college_exists"
    title = "A college with this name exists in this city"


class CollegeUnavailable(Unprocessable):
    code = "college_unavailable"
    title = "This college is not taking students now"


class ClaimNotFound(NotFound):
    code = "student_verification_not_found"
    title = "No such student verification"


class ClaimExists(Conflict):
    code = "student_verification_exists"
    title = "You have a college claim pending or verified already"


class AlreadyReviewed(Conflict):
    code = "already_reviewed"
    title = "This was reviewed already"


class NotAStudent(Unprocessable):
    code = "not_a_verified_student"
    title = "Only a verified student can apply to be an ambassador"


class AmbassadorNotFound(NotFound):
    code = "ambassador_not_found"
    title = "No such ambassador"


class AmbassadorExists(Conflict):
    code = "ambassador_exists"
    title = "You have applied or are an ambassador already"
