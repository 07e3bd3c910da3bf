"""What a billing page's edit screen hands to developers: the preview address, the embed
snippets (plain HTML, React, Billflow-compatible) and user-token minting examples.

Everything here is public: the publishable key and page ids. The token secret is only ever
named (an environment variable of the tenant's server), never written into a snippet.
"""

from __future__ import annotations

import dataclasses
import json
from urllib.parse import urlencode

# Widgets a visitor may open without a user token (the others need one to show anything).
ANONYMOUS_WIDGETS = ("plan-picker", "signup")
COMPONENT_NAMES = {
    "plan-picker": "PlanPicker",
    "checkout": "Checkout",
    "signup": "Signup",
    "customer-portal": "CustomerPortal",
    "invoices": "Invoices",
}


@dataclasses.dataclass(frozen=True)
class Snippet:
    id: str
    label: str
    code: str


def _js(value: str) -> str:
    """A JavaScript string literal that is also safe inside an HTML script element."""
    return json.dumps(value).replace("</", "<\\/")


def preview_url(widget: str, publishable_key: str, page_id: str, language: str) -> str | None:
    """The widget page itself, on the portal's own origin; None when it needs a user."""
    if widget not in ANONYMOUS_WIDGETS:
        return None
    query = {"key": publishable_key, "billing_page": page_id}
    if language:
        query["locale"] = language
    return f"/w/{widget}?{urlencode(query)}"


def embed_snippets(
    *,
    public_url: str,
    publishable_key: str,
    widget: str,
    page_id: str,
    billflow_id: str | None,
    language: str,
) -> list[Snippet]:
    return [
        Snippet(
            "snippet-html", "HTML", _html(public_url, publishable_key, widget, page_id, language)
        ),
        Snippet(
            "snippet-react", "React", _react(public_url, publishable_key, widget, page_id, language)
        ),
        Snippet(
            "snippet-billflow",
            "Billflow-compatible",
            _billflow(public_url, billflow_id or page_id),
        ),
    ]


def _html(public_url: str, key: str, widget: str, page_id: str, language: str) -> str:
    lines = [
        f'<script src="{public_url}/embed.js" async></script>',
        "",
    ]
    if widget == "plan-picker":
        lines.append("<!-- data-token: only for a signed-in user; visitors see prices without -->")
    if widget == "checkout":
        lines.append("<!-- data-price: the Stripe price to sell -->")
    attributes = [
        f'data-billport="{widget}"',
        f'data-key="{key}"',
        f'data-billing-page="{page_id}"',
    ]
    if widget == "checkout":
        attributes.append('data-price="price_…"')
    if language:
        attributes.append(f'data-locale="{language}"')
    if widget != "signup":
        attributes.append('data-token="{{ billport_token(email=user.email) }}"')
    lines.append("<div " + "\n     ".join(attributes) + "></div>")
    return "\n".join(lines) + "\n"


def _react(public_url: str, key: str, widget: str, page_id: str, language: str) -> str:
    name = COMPONENT_NAMES.get(widget, "BillingWidget")
    props = ["token", "onEvent"]
    options = [
        f"        widget: {_js(widget)},",
        f"        key: {_js(key)},",
        f"        billingPage: {_js(page_id)},",
    ]
    if widget == "checkout":
        props.insert(0, "price")
        options.append("        price, // price_…")
    if language:
        options.append(f"        locale: {_js(language)},")
    if widget in ANONYMOUS_WIDGETS:
        options.append("        token, // from your server; leave it out for visitors")
    else:
        options.append("        token, // a user token minted by your server")
    options.append("        handleResponse: (payload) => handler.current?.(payload),")
    deps = "[token, price]" if widget == "checkout" else "[token]"
    return f"""import {{ useEffect, useRef }} from "react";

const BILLPORT_URL = {_js(public_url)};

// Loads embed.js once for the whole app and resolves with window.Billport.
function loadBillport() {{
  if (window.Billport) return Promise.resolve(window.Billport);
  loadBillport.promise ??= new Promise((resolve, reject) => {{
    const script = document.createElement("script");
    script.src = `${{BILLPORT_URL}}/embed.js`;
    script.async = true;
    script.onload = () => resolve(window.Billport);
    script.onerror = () => reject(new Error("Billport's embed.js did not load"));
    document.head.appendChild(script);
  }});
  return loadBillport.promise;
}}

export function {name}({{ {", ".join(props)} }}) {{
  const element = useRef(null);
  // The latest onEvent, without mounting the widget again when it changes.
  const handler = useRef(onEvent);
  handler.current = onEvent;

  useEffect(() => {{
    let handle = null;
    let active = true;
    loadBillport().then((Billport) => {{
      if (!active) return;
      handle = Billport.mount(element.current, {{
{chr(10).join(options)}
      }});
    }});
    return () => {{
      active = false;
      if (handle) handle.unmount();
    }};
  }}, {deps});

  return <div ref={{element}} />;
}}
"""


def _billflow(public_url: str, billing_page_id: str) -> str:
    return f"""<div id="billflow-embed"></div>
<script>
  window.billflowSettings = {{
    billing_page_id: {_js(billing_page_id)},
    email: "{{{{ user.email }}}}",
    // Lowercase hex HMAC-SHA256 of the email, keyed with your token secret, made on your server.
    hash: "{{{{ billport_hash(user.email) }}}}",
    handleResponse: ({{ event, response }}) => {{
      console.log(event, response);
    }},
  }};
</script>
<script src="{public_url}/embed.js" async></script>
"""


def token_examples(publishable_key: str) -> list[Snippet]:
    """How the tenant's server mints a user token (HS256, CONTRACT "User identity")."""
    key = _js(publishable_key)
    return [
        Snippet("token-python", "Python", _PYTHON.replace("@KEY@", key)),
        Snippet("token-node", "Node.js", _NODE.replace("@KEY@", key)),
        Snippet("token-ruby", "Ruby", _RUBY.replace("@KEY@", key)),
        Snippet("token-php", "PHP", _PHP.replace("@KEY@", "'" + publishable_key + "'")),
        Snippet("token-go", "Go", _GO.replace("@KEY@", key)),
    ]


_PYTHON = '''import base64
import hashlib
import hmac
import json
import os
import time

PUBLISHABLE_KEY = @KEY@
TOKEN_SECRET = os.environ["BILLPORT_TOKEN_SECRET"]  # bpts_…, shown once at tenant creation


def _b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def billport_token(
    *,
    email: str | None = None,
    customer_id: str | None = None,
    user_id: str | None = None,
    ttl_seconds: int = 3600,
) -> str:
    """A user token for Billport's widgets (HS256 JWT, at most 24 hours)."""
    if (email is None) == (customer_id is None):
        raise ValueError("pass exactly one of email and customer_id")
    now = int(time.time())
    claims: dict[str, object] = {
        "aud": PUBLISHABLE_KEY,
        "iat": now,
        "exp": now + min(ttl_seconds, 86_400),
    }
    if email is not None:
        claims["email"] = email
    else:
        claims["customer_id"] = customer_id
    if user_id is not None:
        claims["user_id"] = user_id
    header = {"alg": "HS256", "typ": "JWT"}
    signing_input = ".".join(
        _b64url(json.dumps(part, separators=(",", ":")).encode()) for part in (header, claims)
    )
    signature = hmac.new(TOKEN_SECRET.encode(), signing_input.encode(), hashlib.sha256).digest()
    return f"{signing_input}.{_b64url(signature)}"


# With PyJWT instead: jwt.encode(claims, TOKEN_SECRET, algorithm="HS256")
token = billport_token(email="ada@example.com", user_id="u_42")
'''

_NODE = """const crypto = require("node:crypto");

const PUBLISHABLE_KEY = @KEY@;
const TOKEN_SECRET = process.env.BILLPORT_TOKEN_SECRET; // bpts_…, shown once at tenant creation

const b64url = (value) => Buffer.from(value).toString("base64url");

// A user token for Billport's widgets (HS256 JWT, at most 24 hours).
function billportToken({ email, customerId, userId, ttlSeconds = 3600 }) {
  if (!email === !customerId) throw new Error("pass exactly one of email and customerId");
  const now = Math.floor(Date.now() / 1000);
  const claims = { aud: PUBLISHABLE_KEY, iat: now, exp: now + Math.min(ttlSeconds, 86400) };
  if (email) claims.email = email;
  else claims.customer_id = customerId;
  if (userId) claims.user_id = userId;
  const signingInput =
    b64url(JSON.stringify({ alg: "HS256", typ: "JWT" })) + "." + b64url(JSON.stringify(claims));
  const signature = crypto
    .createHmac("sha256", TOKEN_SECRET)
    .update(signingInput)
    .digest("base64url");
  return `${signingInput}.${signature}`;
}

module.exports = { billportToken };
// With the jsonwebtoken package instead:
// jwt.sign(claims, TOKEN_SECRET, { algorithm: "HS256" })
"""

_RUBY = """require "jwt" # gem "jwt"

PUBLISHABLE_KEY = @KEY@

def billport_token(email: nil, customer_id: nil, user_id: nil, ttl: 3600)
  raise ArgumentError, "pass exactly one of email and customer_id" if email.nil? == customer_id.nil?
  now = Time.now.to_i
  claims = { aud: PUBLISHABLE_KEY, iat: now, exp: now + [ttl, 86_400].min }
  email ? claims[:email] = email : claims[:customer_id] = customer_id
  claims[:user_id] = user_id if user_id
  JWT.encode(claims, ENV.fetch("BILLPORT_TOKEN_SECRET"), "HS256")
end
"""

_PHP = """<?php
// composer require firebase/php-jwt
use Firebase\\JWT\\JWT;

const BILLPORT_PUBLISHABLE_KEY = @KEY@;

function billport_token(?string $email, ?string $customerId = null, ?string $userId = null): string
{
    if (($email === null) === ($customerId === null)) {
        throw new InvalidArgumentException('pass exactly one of email and customerId');
    }
    $now = time();
    $claims = ['aud' => BILLPORT_PUBLISHABLE_KEY, 'iat' => $now, 'exp' => $now + 3600];
    if ($email !== null) {
        $claims['email'] = $email;
    } else {
        $claims['customer_id'] = $customerId;
    }
    if ($userId !== null) {
        $claims['user_id'] = $userId;
    }
    return JWT::encode($claims, getenv('BILLPORT_TOKEN_SECRET'), 'HS256');
}
"""

_GO = """package billing

import (
	"os"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

const publishableKey = @KEY@

// BillportToken mints a user token for Billport's widgets (HS256 JWT, one hour).
func BillportToken(email, userID string) (string, error) {
	now := time.Now()
	claims := jwt.MapClaims{
		"aud":   publishableKey,
		"iat":   now.Unix(),
		"exp":   now.Add(time.Hour).Unix(),
		"email": email, // or "customer_id": "cus_…", never both
	}
	if userID != "" {
		claims["user_id"] = userID
	}
	token := jwt.NewWithClaims(jwt.SigningMethodHS256, claims)
	return token.SignedString([]byte(os.Getenv("BILLPORT_TOKEN_SECRET")))
}
"""
