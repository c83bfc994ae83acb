"""Roles and rules, pure and explainable: no I/O, no database, no web framework.

``roles`` ranks Envoy's admin roles and settles a synced claim against a held role;
``engine`` evaluates a tenant's ordered rules (Sequr) against one employee and returns the
decision with a trace of every condition it tested; ``syntax`` reads and writes the
condition text admins type (``city eq "New York"``, ``groups any Eng Ops``).
"""
