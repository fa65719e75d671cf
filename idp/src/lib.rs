//! The central IdP: arrives with the OpenID Provider issue.
