"""Who may use the cockpit, and how much: users (argon2-hashed passwords), signed expiring
tokens (PyJWT, HS256), roles and views, the Origin allow-list and the page's security
headers, command-rate and sign-in limits, connection caps. README "Security" says what this
protects and what it does not."""

from .limits import ConnectionCap, LoginThrottle, TokenBucket
from .login import AuthRefused, Authenticator, Session
from .origins import allowed_origins, origin_allowed, page_headers
from .roles import AGENCIES, AGENCY_OF_STREAM, ROLES, Principal, View
from .tokens import TokenError, issue_token, load_secret, verify_token
from .users import User, UserError, UserStore, make_user, read_users, write_users

__all__ = ["AGENCIES", "AGENCY_OF_STREAM", "ROLES", "AuthRefused", "Authenticator",
           "ConnectionCap", "LoginThrottle", "Principal", "Session", "TokenBucket",
           "TokenError", "User", "UserError", "UserStore", "View", "allowed_origins",
           "issue_token", "load_secret", "make_user", "origin_allowed", "page_headers",
           "read_users", "verify_token", "write_users"]
