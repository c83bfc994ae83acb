"""SCIM provisioning: the request handling between the protocol core (scim/) and the
directory; no web framework (http/ adapts it to Starlette)."""
