"""The token-minting examples of docs/identity.md produce tokens the portal accepts."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from portal.identity.tokens import verify_user_token

DOC = Path(__file__).resolve().parents[2] / "docs" / "identity.md"
KEY = "bp_pub_" + "d" * 24
SECRET = "bpts_" + "e" * 40


def python_examples() -> list[str]:
    blocks = re.findall(r"```python\n(.*?)```", DOC.read_text(), flags=re.S)
    # The ones defining billport_token(token_secret, publishable_key, email, ...).
    return [b for b in blocks if "def billport_token(\n    token_secret" in b]


def test_the_python_examples_mint_accepted_tokens() -> None:
    examples = python_examples()
    assert len(examples) >= 2
    for source in examples:
        namespace: dict[str, Any] = {}
        exec(compile(source, str(DOC), "exec"), namespace)
        token = namespace["billport_token"](SECRET, KEY, "ada@example.com")
        user = verify_user_token(token, publishable_key=KEY, token_secret=SECRET)
        assert user.email == "ada@example.com"
