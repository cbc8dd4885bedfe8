"""Identity request and response shapes."""

from __future__ import annotations

import datetime as dt
import uuid
from enum import StrEnum
from typing import Annotated, Any

from pydantic import Field, StringConstraints

from gullak.kit import schemas as kit
from gullak.kit.schemas import BigInt, In, JsonObject, Latitude, Longitude, Out

Text100 = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1,
                                           max_length=100), kit.ONE_LINE]
Text200 = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1,
                                           max_length=200), kit.ONE_LINE]
PersonName = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1,
                                              max_length=100), kit.NAME_CHARS]
Secret = Annotated[str, StringConstraints(min_length=1, max_length=200), kit.ONE_LINE]


class OtpPurpose(StrEnum):
    login = "login"
    registration = "registration"
    transaction = "transaction"
    kyc = "kyc"


class Gender(StrEnum):
    female = "female"
    male = "male"
    other = "other"
    undisclosed = "undisclosed"


class UserStatus(StrEnum):
    active = "active"
    suspended = "suspended"
    blocked = "blocked"
    deactivated = "deactivated"


class DeviceIn(In):
    device_id: Text200 | None = None
    device_type: Annotated[str, StringConstraints(max_length=40), kit.ONE_LINE] | None = None
    device_name: Text100 | None = None
    app_version: Annotated[str, StringConstraints(max_length=40), kit.ONE_LINE] | None = None


class OtpRequestIn(In):
    phone: Annotated[str, StringConstraints(max_length=32), kit.ONE_LINE]
    purpose: OtpPurpose = OtpPurpose.login


class OtpRequestOut(Out):
    expires_in: int
    resend_after: int


class OtpVerifyIn(In):
    phone: Annotated[str, StringConstraints(max_length=32), kit.ONE_LINE]
    code: Annotated[str, StringConstraints(pattern=r"^\d{6}$")]
    referral_code: Annotated[str, StringConstraints(max_length=32), kit.ONE_LINE] | None = None
    device: DeviceIn = Field(default_factory=DeviceIn)


class PasswordLoginIn(In):
    login: Secret
    password: Secret
    totp_code: Annotated[str, StringConstraints(pattern=r"^\d{6}$")] | None = None
    device: DeviceIn = Field(default_factory=DeviceIn)


class RefreshIn(In):
    refresh_token: Annotated[str, StringConstraints(min_length=10, max_length=200), kit.ONE_LINE]


class TokensOut(Out):
    access_token: str
    refresh_token: str
    token_type: str = "bearer"
    expires_in: int
    session_id: uuid.UUID


class UserOut(Out):
    id: uuid.UUID
    phone: str | None
    email: str | None
    username: str | None
    name: str | None
    gender: Gender | None
    date_of_birth: dt.date | None
    avatar_url: str | None
    language: str
    preferences: dict[str, Any]
    referral_code: str
    referred_by_id: uuid.UUID | None
    status: UserStatus
    status_reason: str | None
    totp_enabled: bool
    last_login_at: dt.datetime | None
    created_at: dt.datetime


class SignedInOut(TokensOut):
    user: UserOut
    created: bool


class ProfileIn(In):
    email: Annotated[str, StringConstraints(max_length=254), kit.ONE_LINE] | None = None
    username: Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9_.]{3,30}$")] | None = None
    name: PersonName | None = None
    gender: Gender | None = None
    date_of_birth: dt.date | None = None
    avatar_url: Annotated[str, StringConstraints(pattern=r"^https://",
                                                 max_length=500), kit.ONE_LINE] | None = None
    language: Annotated[str, StringConstraints(pattern=r"^[a-z]{2}(-[A-Z]{2})?$")] | None = None
    # Merged into the stored preferences; null would erase them, so it is refused.
    preferences: JsonObject = Field(default_factory=dict)


class DeactivateIn(In):
    reason: Text200


class PasswordIn(In):
    new_password: Annotated[str, StringConstraints(max_length=200), kit.ONE_LINE]
    current_password: Annotated[str, StringConstraints(max_length=200), kit.ONE_LINE] | None = None


class TotpSetupOut(Out):
    secret: str
    provisioning_uri: str


class TotpCodeIn(In):
    code: Annotated[str, StringConstraints(pattern=r"^\d{6}$")]


class SessionOut(Out):
    id: uuid.UUID = Field(validation_alias="family_id")
    device_id: str | None
    device_type: str | None
    device_name: str | None
    app_version: str | None
    ip: str | None
    user_agent: str | None
    created_at: dt.datetime
    last_used_at: dt.datetime
    current: bool = False


class PushDeviceIn(In):
    platform: Annotated[str, StringConstraints(pattern=r"^(android|ios|web)$")]
    name: Text100 | None = None
    app_version: Annotated[str, StringConstraints(max_length=40), kit.ONE_LINE] | None = None
    push_token: Annotated[str, StringConstraints(min_length=1, max_length=4096),
                          kit.ONE_LINE] | None = None
    push_enabled: bool = True


class PushDeviceOut(Out):
    device_id: str
    platform: str
    name: str | None
    app_version: str | None
    push_enabled: bool
    has_push_token: bool
    updated_at: dt.datetime


class AddressIn(In):
    label: Annotated[str, StringConstraints(max_length=40), kit.ONE_LINE] | None = None
    line1: Text200
    line2: Text200 | None = None
    city: Text100
    state: Text100 | None = None
    postal_code: Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9 -]{3,10}$")] | None = None
    country: Annotated[str, StringConstraints(pattern=r"^[A-Z]{2}$")] = "IN"
    latitude: Latitude | None = None
    longitude: Longitude | None = None
    is_default: bool = False
    details: JsonObject = Field(default_factory=dict)


class AddressOut(Out):
    id: uuid.UUID
    label: str | None
    line1: str
    line2: str | None
    city: str
    state: str | None
    postal_code: str | None
    country: str
    latitude: float | None
    longitude: float | None
    is_default: bool
    details: dict[str, Any]


class SocialLinkIn(In):
    provider: Annotated[str, StringConstraints(pattern=r"^(google|apple|facebook)$")]
    token: Annotated[str, StringConstraints(min_length=10, max_length=8192), kit.ONE_LINE]


class SocialAccountOut(Out):
    id: uuid.UUID
    provider: str
    email: str | None
    created_at: dt.datetime


class KycDocument(StrEnum):
    aadhaar = "aadhaar"
    pan = "pan"
    passport = "passport"
    driving_licence = "driving_licence"
    voter_id = "voter_id"


class KycIn(In):
    document_type: KycDocument
    # The name as the document has it: payout methods' bank names are matched against it.
    name: Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=100),
                    kit.NAME_CHARS] | None = None
    document_number: Annotated[str, StringConstraints(strip_whitespace=True, max_length=40),
                               kit.ONE_LINE]
    pan: Annotated[str, StringConstraints(strip_whitespace=True, max_length=10),
                   kit.ONE_LINE] | None = None
    bank_account: Annotated[str, StringConstraints(pattern=r"^\d{9,18}$")] | None = None
    ifsc: Annotated[str, StringConstraints(pattern=r"^[A-Z]{4}0[A-Z0-9]{6}$")] | None = None
    upi_id: Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9._-]+@[A-Za-z]+$",
                                             max_length=100)] | None = None


class KycOut(Out):
    id: uuid.UUID
    user_id: uuid.UUID
    document_type: str
    name: str | None = None
    document_number: str  # masked
    pan: str | None  # masked
    bank_account: str | None  # masked
    ifsc: str | None
    upi_id: str | None
    status: str
    reason: str | None
    reviewed_at: dt.datetime | None
    created_at: dt.datetime


class WalletBalanceOut(Out):
    asset_code: str
    account_id: uuid.UUID
    posted: int
    held: int
    available: int
    expiring_soon: int


class StatusIn(In):
    status: UserStatus
    reason: Text200 | None = None


class KycReviewIn(In):
    decision: Annotated[str, StringConstraints(pattern=r"^(verify|reject)$")]
    reason: Text200 | None = None


class AdjustmentIn(In):
    asset_code: Annotated[str, StringConstraints(pattern=r"^[A-Z][A-Z0-9_]{1,31}$")]
    # Positive credits the user, negative debits; never zero.
    amount: Annotated[BigInt, Field(strict=True)]
    reason: Text200


class StepUpIn(In):
    purpose: OtpPurpose
    code: Annotated[str, StringConstraints(pattern=r"^\d{6}$")]


class StepUpOut(Out):
    """Proof, for a few minutes, that the user just confirmed a code for `purpose`."""

    verification_token: str
    purpose: OtpPurpose
    expires_in: int
