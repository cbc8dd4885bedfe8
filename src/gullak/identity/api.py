"""Identity HTTP API: sign-in (/v1/auth) and the signed-in user's own resources (/v1/me)."""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import APIRouter, Header, Query, Request, Response
from sqlalchemy.ext.asyncio import AsyncSession

from gullak.db.routing import ReadSessionDep
from gullak.db.uow import SessionDep
from gullak.identity import jobs, service
from gullak.identity.schemas import (
    AddressIn,
    AddressOut,
    AdjustmentIn,
    DeactivateIn,
    KycIn,
    KycOut,
    KycReviewIn,
    OtpRequestIn,
    OtpRequestOut,
    OtpVerifyIn,
    PasswordIn,
    PasswordLoginIn,
    ProfileIn,
    PushDeviceIn,
    PushDeviceOut,
    RefreshIn,
    SessionOut,
    SignedInOut,
    SocialAccountOut,
    SocialLinkIn,
    StatusIn,
    StepUpIn,
    StepUpOut,
    TokensOut,
    TotpCodeIn,
    TotpSetupOut,
    UserOut,
)
from gullak.identity.service import Client
from gullak.identity.social import verifiers_from
from gullak.kit import audit, express
from gullak.kit.openapi import errors
from gullak.kit.schemas import Text
from gullak.kit.security import Subject, require, require_kind
from gullak.ledger import service as ledger
from gullak.ledger.schemas import AssetOut, HistoryPage, HoldingOut, TransferOut
from gullak.settings import Settings
from gullak.worker import enqueue

auth = APIRouter(prefix="/v1/auth", tags=["auth"])
me = APIRouter(prefix="/v1/me", tags=["me"])
Me = Annotated[Subject, require_kind("user")]
AnySubject = Annotated[Subject, require_kind("user", "admin", "merchant_user")]


def settings_of(request: Request) -> Settings:
    settings: Settings = request.app.state.settings
    return settings


async def bearer(request: Request, session: AsyncSession, token: str) -> Subject | None:
    return await service.authenticate_bearer(settings_of(request), session, token)


@auth.post("/otp", status_code=202, responses=errors(429), summary="Send a one-time code by SMS")
async def request_otp(body: OtpRequestIn, request: Request, session: SessionDep) -> OtpRequestOut:
    out, message_id = await service.request_otp(session, settings_of(request), body.phone,
                                                 body.purpose, Client.of(request))
    await enqueue(session, jobs.send_sms, message_id=str(message_id))
    return out


@auth.post("/otp/verify", responses=errors(401, 429), summary="Sign in (or sign up) with the code")
async def verify_otp(body: OtpVerifyIn, request: Request, session: SessionDep) -> SignedInOut:
    return await service.sign_in_with_otp(session, settings_of(request), body.phone, body.code,
                                          body.referral_code, body.device, Client.of(request))


@auth.post("/password",
           responses=errors(401, 429), summary="Sign in with username or email and password")
async def password_login(body: PasswordLoginIn, request: Request,
                         session: SessionDep) -> SignedInOut:
    return await service.sign_in_with_password(session, settings_of(request), body.login,
                                               body.password, body.totp_code, body.device,
                                               Client.of(request))


@auth.post("/refresh",
           responses=errors(401), summary="Trade a refresh token for new tokens (it is spent)")
async def refresh(body: RefreshIn, request: Request, session: SessionDep) -> TokensOut:
    return await service.refresh(session, settings_of(request), body.refresh_token,
                                 Client.of(request))


@auth.post("/logout", status_code=204, summary="End this session")
async def logout(subject: AnySubject, session: SessionDep) -> Response:
    assert subject.session_id is not None
    await service.revoke_session(session, subject, subject.session_id)
    return Response(status_code=204)


@auth.post("/logout-all", status_code=204, summary="End every session of this account")
async def logout_all(subject: AnySubject, session: SessionDep) -> Response:
    await service.revoke_all(session, subject.kind, subject.id, reason="signed out everywhere")
    return Response(status_code=204)


@me.post("/otp/verify", summary="Confirm a code for a transaction or KYC (step-up)")
async def step_up(body: StepUpIn, subject: Me, request: Request, session: SessionDep) -> StepUpOut:
    return await service.step_up(session, settings_of(request), subject.id, body.purpose,
                                 body.code)


@me.get("")
@express.lane
async def get_me(subject: Me, session: SessionDep) -> UserOut:
    return UserOut.model_validate(await service.get_user(session, subject.id))


@me.patch("")
async def update_me(body: ProfileIn, subject: Me, session: SessionDep) -> UserOut:
    return await service.update_profile(session, subject.id, body)


@me.post("/deactivate", summary="Deactivate this account (sessions end)")
async def deactivate_me(body: DeactivateIn, subject: Me, session: SessionDep) -> UserOut:
    return await service.set_status(session, subject.id, "deactivated", body.reason)


@me.delete("", status_code=204, summary="Delete this account (money records are kept)")
async def delete_me(subject: Me, session: SessionDep) -> Response:
    await service.delete_user(session, subject.id)
    return Response(status_code=204)


@me.put("/password", status_code=204)
async def set_password(body: PasswordIn, subject: Me, session: SessionDep) -> Response:
    await service.change_password(session, subject, body.new_password, body.current_password)
    return Response(status_code=204)


@me.post("/totp", summary="Start enrolling an authenticator app")
async def start_totp(subject: Me, request: Request, session: SessionDep) -> TotpSetupOut:
    return await service.start_totp(session, settings_of(request), subject.id)


@me.post("/totp/confirm", status_code=204)
async def confirm_totp(body: TotpCodeIn, subject: Me, request: Request,
                       session: SessionDep) -> Response:
    await service.confirm_totp(session, settings_of(request), subject.id, body.code)
    return Response(status_code=204)


@me.post("/totp/disable", status_code=204)
async def disable_totp(body: TotpCodeIn, subject: Me, request: Request,
                       session: SessionDep) -> Response:
    await service.disable_totp(session, settings_of(request), subject.id, body.code)
    return Response(status_code=204)


@me.get("/sessions")
async def list_sessions(subject: AnySubject, session: SessionDep) -> list[SessionOut]:
    return await service.list_sessions(session, subject)


@me.delete("/sessions/{session_id}", status_code=204)
async def revoke_session(session_id: uuid.UUID, subject: AnySubject,
                         session: SessionDep) -> Response:
    await service.revoke_session(session, subject, session_id)
    return Response(status_code=204)


@me.get("/devices")
async def list_devices(subject: Me, session: SessionDep) -> list[PushDeviceOut]:
    return await service.list_devices(session, subject.id)


@me.put("/devices/{device_id}", summary="Register or update a device and its push token")
async def put_device(device_id: Text, body: PushDeviceIn, subject: Me,
                     session: SessionDep) -> PushDeviceOut:
    return await service.put_device(session, subject.id, device_id[:200], body)


@me.delete("/devices/{device_id}", status_code=204)
async def delete_device(device_id: Text, subject: Me, session: SessionDep) -> Response:
    await service.delete_device(session, subject.id, device_id)
    return Response(status_code=204)


@me.get("/addresses")
async def list_addresses(subject: Me, session: SessionDep) -> list[AddressOut]:
    return await service.list_addresses(session, subject.id)


@me.post("/addresses", status_code=201)
async def add_address(body: AddressIn, subject: Me, session: SessionDep) -> AddressOut:
    return await service.add_address(session, subject.id, body)


@me.put("/addresses/{address_id}")
async def update_address(address_id: uuid.UUID, body: AddressIn, subject: Me,
                         session: SessionDep) -> AddressOut:
    return await service.update_address(session, subject.id, address_id, body)


@me.delete("/addresses/{address_id}", status_code=204)
async def delete_address(address_id: uuid.UUID, subject: Me, session: SessionDep) -> Response:
    await service.delete_address(session, subject.id, address_id)
    return Response(status_code=204)


@me.get("/social-accounts")
async def list_social(subject: Me, session: SessionDep) -> list[SocialAccountOut]:
    return await service.list_social(session, subject.id)


@me.post("/social-accounts", status_code=201, summary="Link a Google, Apple or Facebook identity")
async def link_social(body: SocialLinkIn, subject: Me, request: Request,
                      session: SessionDep) -> SocialAccountOut:
    verifiers = getattr(request.app.state, "social_verifiers", None) or verifiers_from(
        settings_of(request))
    return await service.link_social(session, subject.id, body.provider, body.token, verifiers)


@me.delete("/social-accounts/{account_id}", status_code=204)
async def unlink_social(account_id: uuid.UUID, subject: Me, session: SessionDep) -> Response:
    await service.unlink_social(session, subject.id, account_id)
    return Response(status_code=204)


@me.get("/kyc")
async def my_kyc(subject: Me, session: SessionDep) -> list[KycOut]:
    return await service.my_kyc(session, subject.id)


@me.post("/kyc", status_code=201)
async def submit_kyc(body: KycIn, subject: Me, request: Request, session: SessionDep) -> KycOut:
    return await service.submit_kyc(session, settings_of(request), subject.id, body)


@me.get("/wallet", summary="Balances in every asset, zero where never held")
@express.lane
async def my_wallet(subject: Me, session: ReadSessionDep) -> list[HoldingOut]:
    return await service.wallet(session, subject.id)


@me.get("/wallet/assets", summary="The assets a wallet holds: names, kinds, scales, expiry")
@express.lane
async def wallet_assets(subject: Me, session: ReadSessionDep) -> list[AssetOut]:
    return await service.assets(session)


@me.get("/wallet/history", responses=errors(404),
        summary="Entries of one asset's wallet, newest first")
@express.lane
async def my_wallet_history(
    subject: Me,
    session: SessionDep,
    asset: Annotated[Text, Query(pattern=r"^[A-Z][A-Z0-9_]{1,31}$")],
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
    cursor: Annotated[Text | None, Query(pattern=r"^\d{1,19}$")] = None,
    kind: Text | None = None,
) -> HistoryPage:
    account_id = await service.wallet_account(session, subject.id, asset)
    if account_id is None:
        return HistoryPage(entries=[], next_cursor=None)
    return await ledger.history(session, account_id, limit=limit, cursor=cursor, kind=kind)


admin = APIRouter(prefix="/v1/admin", tags=["admin"])


@admin.get("/users")
async def find_users(
    session: SessionDep, _: Annotated[Subject, require("users.read")],
    query: Annotated[Text | None, Query(max_length=200)] = None,
) -> list[UserOut]:
    return await service.find_users(session, query)


@admin.get("/users/{user_id}")
async def get_user(user_id: uuid.UUID, session: SessionDep,
                   _: Annotated[Subject, require("users.read")]) -> UserOut:
    return UserOut.model_validate(await service.get_user(session, user_id))


@admin.post("/users/{user_id}/status", summary="Suspend, block, deactivate or re-activate")
async def set_status(user_id: uuid.UUID, body: StatusIn, session: SessionDep,
                     actor: Annotated[Subject, require("users.manage")]) -> UserOut:
    before = UserOut.model_validate(await service.get_user(session, user_id))
    after = await service.set_status(session, user_id, body.status.value, body.reason)
    await audit.record(session, actor, "user.status", "user", str(user_id),
                       before=before.model_dump(mode="json"), after=after.model_dump(mode="json"))
    return after


@admin.get("/kyc")
async def list_kyc(session: SessionDep, _: Annotated[Subject, require("kyc.review")],
                   status: Annotated[Text | None, Query(pattern="^(pending|verified|rejected)$")]
                   = "pending") -> list[KycOut]:
    return await service.list_kyc(session, status)


@admin.post("/kyc/{record_id}/review")
async def review_kyc(record_id: uuid.UUID, body: KycReviewIn, session: SessionDep,
                     actor: Annotated[Subject, require("kyc.review")]) -> KycOut:
    before, after = await service.review_kyc(session, record_id, actor.id,
                                             body.decision == "verify", body.reason)
    await audit.record(session, actor, f"kyc.{body.decision}", "kyc_record", str(record_id),
                       before=before.model_dump(mode="json"), after=after.model_dump(mode="json"))
    return after


@admin.post("/users/{user_id}/wallet/adjustments", status_code=201,
            summary="Credit or debit a user's wallet, with a reason")
async def adjust_wallet(user_id: uuid.UUID, body: AdjustmentIn, session: SessionDep,
                        key: Annotated[Text, Header(alias="Idempotency-Key", min_length=1,
                                                   max_length=200)],
                        actor: Annotated[Subject, require("wallet.adjust")]) -> TransferOut:
    before = await service.wallet(session, user_id)
    out = await service.adjust_wallet(session, user_id, body.asset_code, body.amount,
                                      body.reason, f"admin:{actor.id}:{key}")
    after = await service.wallet(session, user_id)
    await audit.record(session, actor, "wallet.adjust", "user", str(user_id),
                       before=[b.model_dump(mode="json") for b in before],
                       after={"transfer": out.model_dump(mode="json"),
                              "wallet": [b.model_dump(mode="json") for b in after]})
    return out
