"""Support errors, each with a stable code."""

from __future__ import annotations

from gullak.kit.errors import Conflict, GullakError, InvalidInput, NotFound, Unprocessable


class TicketNotFound(NotFound):
    code = "ticket_not_found"
    title = "No such ticket"


class AttachmentNotFound(NotFound):
    code = "attachment_not_found"
    title = "No such attachment"


class CannedReplyNotFound(NotFound):
    code = "canned_reply_not_found"
    title = "No such canned reply"


class SubjectNotFound(Unprocessable):
    code = "ticket_subject_not_found"
    title = "The ticket's subject is not one of yours"


class InvalidSubject(InvalidInput):
    code = "invalid_ticket_subject"
    title = "Name a subject id with an order, payment, withdrawal or redemption, none for general"


class InvalidTransition(Conflict):
    code = "invalid_ticket_transition"
    title = "The ticket cannot make this move from its current status"


class TicketClosed(Conflict):
    code = "ticket_not_open"
    title = "The ticket is resolved or closed: reopen it first"


class ReopenWindowPassed(Conflict):
    code = "ticket_reopen_window_passed"
    title = "The ticket was resolved too long ago to reopen: open a new one"


class AlreadyRated(Conflict):
    code = "ticket_already_rated"
    title = "The ticket has been rated already"


class NotRatable(Conflict):
    code = "ticket_not_ratable"
    title = "A ticket is rated once it is resolved or closed"


class InvalidAssignee(Unprocessable):
    code = "invalid_assignee"
    title = "Assign an active admin who may reply to tickets, or a known department"


class CannedReplyExists(Conflict):
    code = "canned_reply_exists"
    title = "A canned reply with this code exists"


class AttachmentTooLarge(GullakError):
    status = 413
    code = "attachment_too_large"
    title = "The attachment is larger than allowed"


class AttachmentTypeRefused(GullakError):
    status = 415
    code = "attachment_type_refused"
    title = "Attachments of this content type are not accepted"


class TooManyAttachments(Conflict):
    code = "attachment_limit"
    title = "The ticket has as many attachments as allowed"


class InvalidAttachment(InvalidInput):
    code = "invalid_attachment"
    title = "The attachment's content is not valid base64, or is empty"


class AttachmentCorrupt(GullakError):
    status = 500
    code = "attachment_corrupt"
    title = "The stored attachment does not match its checksum"
