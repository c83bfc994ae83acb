"""Roster: a SCIM 2.0 provisioning server and employee directory."""

__version__ = "0.1.0"
