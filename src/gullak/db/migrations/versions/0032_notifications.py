"""Notifications: templates (with the ones the wired events use, in English and Hindi), each
user's notifications (the inbox), one delivery row per outside channel and destination, the
users' preferences, the sandbox push and email outboxes, and the permission to manage
templates.

Revision ID: 0032
Revises: 0031
Create Date: 2026-12-06
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy import Text
from sqlalchemy.dialects import postgresql

revision = "0032"
down_revision = "0031"
branch_labels = None
depends_on = None

PERMISSIONS = [
    ("notifications.manage", "Manage notification templates"),
]


def _content(en: tuple[str, str], hi: tuple[str, str], channels: list[str]) -> dict[str, object]:
    """The same title and body for every channel of a locale (SMS gets the body, email the
    title as subject and the body as text)."""
    out: dict[str, object] = {}
    for locale, (title, body) in (("en", en), ("hi", hi)):
        parts: dict[str, object] = {}
        for channel in channels:
            if channel in ("inbox", "push"):
                parts[channel] = {"title": title, "body": body}
            elif channel == "sms":
                parts[channel] = {"text": body}
            elif channel == "email":
                parts[channel] = {"subject": title, "text": body}
        out[locale] = parts
    return out


# code, category, channels, variables, English (title, body), Hindi (title, body)
TEMPLATES = [
    ("security.new_sign_in", "transactional", ["inbox", "push", "email"], ["place"],
     ("New sign-in to your account",
      "Your account was just signed in on a new device from {place}. If this was not you, "
      "sign out of all devices now."),
     ("आपके खाते में नया साइन-इन",
      "आपके खाते में अभी {place} से एक नए डिवाइस पर साइन-इन हुआ। अगर यह आप नहीं थे, तो "
      "तुरंत सभी डिवाइस से साइन आउट करें।")),
    ("rewards.coins_earned", "rewards", ["inbox", "push"], ["amount"],
     ("You earned {amount}", "{amount} was added to your wallet."),
     ("आपने {amount} कमाए", "{amount} आपके वॉलेट में जोड़े गए।")),
    ("rewards.coins_expiring", "rewards", ["inbox", "push", "email"], ["amount", "date"],
     ("{amount} expire soon", "{amount} in your wallet expire on {date}. Use them before then."),
     ("{amount} जल्द समाप्त होंगे",
      "आपके वॉलेट के {amount} {date} को समाप्त हो जाएंगे। उससे पहले इस्तेमाल करें।")),
    ("cashback.confirmed", "rewards", ["inbox", "push"], ["amount"],
     ("Cashback confirmed", "Your cashback of {amount} is confirmed and in your wallet."),
     ("कैशबैक की पुष्टि हुई", "आपका {amount} का कैशबैक पक्का हो गया है और आपके वॉलेट में है।")),
    ("orders.status_changed", "orders", ["inbox", "push"], ["number", "status"],
     ("Order {number}: {status}", "Your order {number} is now {status}."),
     ("ऑर्डर {number}: {status}", "आपका ऑर्डर {number} अब {status} है।")),
    ("orders.refunded", "orders", ["inbox", "push", "email"], ["amount"],
     ("Refund issued", "A refund of {amount} for your order is on its way."),
     ("रिफ़ंड जारी किया गया", "आपके ऑर्डर के लिए {amount} का रिफ़ंड भेजा जा रहा है।")),
    ("payouts.withdrawal_paid", "transactional", ["inbox", "push", "sms"], ["code", "amount"],
     ("Withdrawal paid", "Your withdrawal {code} of {amount} has been paid."),
     ("निकासी का भुगतान हुआ", "आपकी निकासी {code} ({amount}) का भुगतान हो गया है।")),
    ("payouts.withdrawal_failed", "transactional", ["inbox", "push", "sms"], ["code", "amount"],
     ("Withdrawal failed",
      "Your withdrawal {code} of {amount} could not be paid; the money is back in your wallet."),
     ("निकासी विफल रही",
      "आपकी निकासी {code} ({amount}) का भुगतान नहीं हो सका; पैसा आपके वॉलेट में वापस है।")),
    ("payouts.withdrawal_reversed", "transactional", ["inbox", "push", "sms"],
     ["code", "amount"],
     ("Withdrawal returned",
      "Your withdrawal {code} of {amount} was returned by the bank and is back in your wallet."),
     ("निकासी लौटाई गई",
      "आपकी निकासी {code} ({amount}) बैंक ने लौटा दी है और आपके वॉलेट में वापस है।")),
    ("loyalty.tier_changed", "rewards", ["inbox", "push"], ["tier"],
     ("You are now {tier}", "Your membership tier is now {tier}."),
     ("अब आप {tier} हैं", "आपका सदस्यता स्तर अब {tier} है।")),
    ("loyalty.achievement_unlocked", "rewards", ["inbox", "push"], ["achievement"],
     ("Achievement unlocked", "You unlocked {achievement}."),
     ("उपलब्धि हासिल हुई", "आपने {achievement} हासिल किया।")),
    ("marketing.offer", "marketing", ["inbox", "push", "email"], ["title", "body"],
     ("{title}", "{body}"), ("{title}", "{body}")),
]


def upgrade() -> None:
    op.create_table('notification_preferences',
    sa.Column('user_id', sa.UUID(), nullable=False),
    sa.Column('time_zone', sa.Text(), nullable=False),
    sa.Column('quiet_start', sa.Time(), nullable=True),
    sa.Column('quiet_end', sa.Time(), nullable=True),
    sa.Column('channels', postgresql.JSONB(astext_type=Text()), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('user_id', name=op.f('pk_notification_preferences'))
    )
    templates = op.create_table('notification_templates',
    sa.Column('code', sa.Text(), nullable=False),
    sa.Column('category', sa.Text(), nullable=False),
    sa.Column('description', sa.Text(), nullable=True),
    sa.Column('channels', postgresql.ARRAY(Text()), nullable=False),
    sa.Column('variables', postgresql.ARRAY(Text()), nullable=False),
    sa.Column('content', postgresql.JSONB(astext_type=Text()), nullable=False),
    sa.Column('enabled', sa.Boolean(), server_default=sa.text('true'), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
    sa.CheckConstraint("category IN ('transactional', 'account', 'rewards', 'orders', 'marketing')", name=op.f('ck_notification_templates_category')),
    sa.PrimaryKeyConstraint('code', name=op.f('pk_notification_templates'))
    )
    op.create_table('notifications',
    sa.Column('id', sa.UUID(), nullable=False),
    sa.Column('user_id', sa.UUID(), nullable=False),
    sa.Column('template', sa.Text(), nullable=False),
    sa.Column('category', sa.Text(), nullable=False),
    sa.Column('locale', sa.Text(), nullable=False),
    sa.Column('title', sa.Text(), nullable=False),
    sa.Column('body', sa.Text(), nullable=False),
    sa.Column('data', postgresql.JSONB(astext_type=Text()), nullable=False),
    sa.Column('channels', postgresql.ARRAY(Text()), nullable=False),
    sa.Column('inbox', sa.Boolean(), nullable=False),
    sa.Column('campaign_id', sa.UUID(), nullable=True),
    sa.Column('variant', sa.Text(), nullable=True),
    sa.Column('key', sa.Text(), nullable=True),
    sa.Column('read_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('deleted_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_notifications')),
    sa.UniqueConstraint('id', 'user_id', name=op.f('uq_notifications_id_user_id'))
    )
    op.create_index('ix_notifications_category', 'notifications', ['user_id', 'category', 'created_at'], unique=False)
    op.create_index('ix_notifications_inbox', 'notifications', ['user_id', 'id'], unique=False, postgresql_where=sa.text('inbox AND deleted_at IS NULL'))
    op.create_index('uq_notifications_key', 'notifications', ['user_id', 'key'], unique=True, postgresql_where=sa.text('key IS NOT NULL'))
    op.create_table('sandbox_email_outbox',
    sa.Column('key', sa.Text(), nullable=False),
    sa.Column('to_address', sa.Text(), nullable=False),
    sa.Column('subject', sa.Text(), nullable=False),
    sa.Column('text_body', sa.Text(), nullable=False),
    sa.Column('html_body', sa.Text(), nullable=True),
    sa.Column('sends', sa.Integer(), server_default=sa.text('1'), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('key', name=op.f('pk_sandbox_email_outbox'))
    )
    op.create_table('sandbox_push_outbox',
    sa.Column('key', sa.Text(), nullable=False),
    sa.Column('token', sa.Text(), nullable=False),
    sa.Column('title', sa.Text(), nullable=False),
    sa.Column('body', sa.Text(), nullable=False),
    sa.Column('data', postgresql.JSONB(astext_type=Text()), nullable=False),
    sa.Column('sends', sa.Integer(), server_default=sa.text('1'), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('key', name=op.f('pk_sandbox_push_outbox'))
    )
    op.create_table('notification_deliveries',
    sa.Column('id', sa.UUID(), nullable=False),
    sa.Column('notification_id', sa.UUID(), nullable=False),
    sa.Column('user_id', sa.UUID(), nullable=False),
    sa.Column('channel', sa.Text(), nullable=False),
    sa.Column('platform', sa.Text(), nullable=True),
    sa.Column('target', sa.Text(), nullable=False),
    sa.Column('content', postgresql.JSONB(astext_type=Text()), nullable=False),
    sa.Column('status', sa.Text(), server_default=sa.text("'queued'"), nullable=False),
    sa.Column('not_before', sa.DateTime(timezone=True), nullable=False),
    sa.Column('lease_until', sa.DateTime(timezone=True), nullable=True),
    sa.Column('attempts', sa.Integer(), server_default=sa.text('0'), nullable=False),
    sa.Column('provider', sa.Text(), nullable=True),
    sa.Column('provider_id', sa.Text(), nullable=True),
    sa.Column('error', sa.Text(), nullable=True),
    sa.Column('sent_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
    sa.CheckConstraint("channel IN ('push', 'sms', 'email')", name=op.f('ck_notification_deliveries_channel')),
    sa.CheckConstraint("status IN ('queued', 'sending', 'sent', 'failed')", name=op.f('ck_notification_deliveries_status')),
    sa.CheckConstraint('attempts >= 0', name=op.f('ck_notification_deliveries_attempts')),
    sa.ForeignKeyConstraint(['notification_id', 'user_id'], ['notifications.id', 'notifications.user_id'], name=op.f('fk_notification_deliveries_notification_id_notifications')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_notification_deliveries'))
    )
    op.create_index('ix_notification_deliveries_due', 'notification_deliveries', ['not_before'], unique=False, postgresql_where=sa.text("status IN ('queued', 'sending')"))
    op.create_index('ix_notification_deliveries_user', 'notification_deliveries', ['user_id', 'id'], unique=False)
    op.create_index('uq_notification_deliveries_target', 'notification_deliveries', ['notification_id', 'channel', 'target'], unique=True)

    op.bulk_insert(templates, [
        {"code": code, "category": category, "channels": channels, "variables": variables,
         "content": _content(en, hi, channels)}
        for code, category, channels, variables, en, hi in TEMPLATES])
    permissions = sa.table("permissions", sa.column("code"), sa.column("description"))
    op.bulk_insert(permissions, [{"code": c, "description": d} for c, d in PERMISSIONS])


def downgrade() -> None:
    codes = ", ".join(f"'{c}'" for c, _ in PERMISSIONS)
    op.execute(f"DELETE FROM role_permissions WHERE permission IN ({codes})")
    op.execute(f"DELETE FROM permissions WHERE code IN ({codes})")
    op.drop_index('uq_notification_deliveries_target', table_name='notification_deliveries')
    op.drop_index('ix_notification_deliveries_user', table_name='notification_deliveries')
    op.drop_index('ix_notification_deliveries_due', table_name='notification_deliveries', postgresql_where=sa.text("status IN ('queued', 'sending')"))
    op.drop_table('notification_deliveries')
    op.drop_table('sandbox_push_outbox')
    op.drop_table('sandbox_email_outbox')
    op.drop_index('uq_notifications_key', table_name='notifications', postgresql_where=sa.text('key IS NOT NULL'))
    op.drop_index('ix_notifications_inbox', table_name='notifications', postgresql_where=sa.text('inbox AND deleted_at IS NULL'))
    op.drop_index('ix_notifications_category', table_name='notifications')
    op.drop_table('notifications')
    op.drop_table('notification_templates')
    op.drop_table('notification_preferences')
