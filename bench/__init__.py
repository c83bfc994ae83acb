"""Load benchmark for the Roster SCIM 2.0 server.

Run it with ``python -m bench --base-url URL --token TOKEN``; see bench/README.md.
"""
