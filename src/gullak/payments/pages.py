"""The checkout pages our API serves: the sandbox's (a person clicks an outcome) and
Razorpay's (its checkout script, given the order). Plain HTML, every value escaped."""

from __future__ import annotations

from html import escape

SANDBOX = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>SANDBOX checkout - no real money</title>
<style>body{{font-family:sans-serif;max-width:32rem;margin:2rem auto}}
.banner{{background:#b45309;color:#fff;padding:.75rem;font-weight:bold}}
button{{font-size:1rem;margin:.25rem;padding:.5rem 1rem}}</style></head>
<body><div class="banner">SANDBOX PAYMENT GATEWAY: nothing is charged, no money moves.</div>
<h1>Pay {amount} {currency}</h1><p>Sandbox order <code>{ref}</code>: {status}</p>
{body}</body></html>"""

# Forms without fields post an empty body: the outcome travels in the query.
SANDBOX_FORM = """<form method="post" action="?outcome=paid"><button>Succeed</button></form>
<form method="post" action="?outcome=failed"><button>Fail</button></form>
<form method="post" action="?outcome=pending"><button>Leave pending</button></form>"""

RAZORPAY = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Checkout</title></head><body>
<script src="https://checkout.razorpay.com/v1/checkout.js"></script>
<script>new Razorpay({{key: "{key}", order_id: "{ref}"}}).open();</script></body></html>"""


def money(amount: int) -> str:
    return f"{amount // 100}.{amount % 100:02d}"


def sandbox(ref: str, amount: int, currency: str, status: str, note: str = "") -> str:
    body = SANDBOX_FORM if status == "pending" else ""
    if note:
        body = f"<p><strong>{escape(note)}</strong></p>{body}"
    return SANDBOX.format(amount=money(amount), currency=escape(currency), ref=escape(ref),
                          status=escape(status), body=body)


def razorpay(key_id: str, ref: str) -> str:
    # Razorpay's key id is public by design (its checkout runs in the browser); never the secret.
    return RAZORPAY.format(key=escape(key_id), ref=escape(ref))
