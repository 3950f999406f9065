"""Agent threat profiles (issue 25): CSA MAESTRO layers and OWASP Agentic Top 10 threats per AI identity.

- `catalogue.py`: the layers and threats as data, one catalogue per version; the governance policy
  names the version in force (`threat_catalogue`).
- `rules.py`: the table a reviewer reads, one small rule per threat: when it applies, which controls
  count, and the gaps.
- `profiles.py`: the facts for any number of identities in a fixed number of queries, the Cedar
  answers (the real evaluator, nothing recorded), and the profiles every page, the sweep, the
  dashboard and the evidence pack show.
"""
