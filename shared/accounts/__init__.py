"""Users and their API tokens: made, found by token, listed and revoked. Used by the API and the CLI."""
from shared.accounts.tokens import (
    TOKEN_PREFIX,
    AccountError,
    authenticate,
    create_user,
    find_user,
    issue_token,
    list_tokens,
    new_secret,
    register_admin_token,
    revoke_token,
    secret_hash,
    spend_login,
)

__all__ = ["TOKEN_PREFIX", "AccountError", "authenticate", "create_user", "find_user", "issue_token",
           "list_tokens", "new_secret", "register_admin_token", "revoke_token", "secret_hash", "spend_login"]
